"""Distillation with the teacher in the loop (DAgger) after behaviour cloning.

Behaviour cloning on a specialist's surviving rollouts alone gave a student that fits the
teacher's actions on held-out rollout steps (MAE 0.05 of the action range) yet drops the object
in 3 of 4 episodes and rotates it backwards in closed loop: once its own small errors take it off
the teacher's states it has never seen what to do there. Here the student drives the
environment and the teacher labels every state it visits (the teacher reads its oracle
observation of the same simulator state); each round adds those labels to the data and trains
the student on all of it with the shared training loop.

Round k executes the teacher's action with probability ``beta ** k`` per step and environment
(round 0 only the teacher's when ``beta`` is 1), the student's otherwise; ``--teacher-betas``
gives each labeller its own beta, so that some cells stay on their labeller's states in every
round (beta 1) while the student drives the others. After every round the
student is evaluated in closed loop in each teacher's environment (its own actions only,
disturbances off, a fixed seed); ``OUT/best`` is the round with the most rotation, exported in
the base_policy bundle format the controller runs.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.networks import GeneralistPolicyNet
from dexndm_control.settings import setting
from dexndm_learning.bc import BUNDLE_KIND, bc_batch, policy_windows
from dexndm_learning.comparison import GeneralistOnEnv
from dexndm_learning.data import fingerprint, load_episodes
from dexndm_learning.outcomes import outcome_summary, per_object
from dexndm_learning.ppo.specialist import TeacherEntry, teacher_entries
from dexndm_learning.ppo.transfer import first_episodes
from dexndm_learning.runs import prepare_output
from dexndm_learning.trainer import Evaluation, RunConfig, Task, start_run
from dexndm_learning.trainer import train as train_loop


@dataclass(kw_only=True)
class DaggerConfig(RunConfig):
    teachers: tuple[str, ...] = setting(help="specialist checkpoints that label: RUN/model_N.pt "
                                             "(its whole environment) or "
                                             "RUN/model_N.pt@OBJECT,OBJECT (those objects only)")
    init: str = setting(help="the behaviour-cloned student (a base_policy bundle) to start from")
    rounds: int = setting(4, help="collect-and-train rounds")
    envs: int = setting(64, help="environments per teacher while collecting")
    steps: int = setting(400, help="control steps per teacher and round")
    beta: float = setting(0.5, help="round k executes the teacher's action with probability "
                                    "beta ** k")
    teacher_betas: tuple[float, ...] = setting((), help="one beta per --teachers entry, in its "
                                                        "order (default: --beta for every entry)")
    eval_episodes: int = setting(32, help="closed-loop episodes per teacher after each round")
    epochs: int = 4
    lr: float = 3e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.teachers:
            raise DexndmError("--teachers needs at least one RUN/model_N.pt")
        if self.rounds < 1 or self.envs < 1 or self.steps < 1 or self.eval_episodes < 1:
            raise DexndmError("--rounds, --envs, --steps and --eval-episodes must be >= 1")
        if not 0 <= self.beta <= 1:
            raise DexndmError("--beta must be within [0, 1]")
        if self.teacher_betas and len(self.teacher_betas) != len(self.teachers):
            raise DexndmError(f"--teacher-betas gives {len(self.teacher_betas)} betas for "
                              f"{len(self.teachers)} --teachers entries: give one per entry")
        if not all(0 <= beta <= 1 for beta in self.teacher_betas):
            raise DexndmError("every --teacher-betas value must be within [0, 1]")

    def round_betas(self, round_index: int) -> list[float]:
        """Each labeller's probability of executing its own action in round ``round_index``."""
        betas = self.teacher_betas or (self.beta,) * len(self.teachers)
        return [beta ** round_index for beta in betas]


@torch.no_grad()
def collect(student: GeneralistOnEnv, teacher_entry: TeacherEntry | str, envs: int, steps: int,
            beta: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(student observations, teacher actions clipped to [-1, 1]) on the states visited when
    each step executes the teacher's action with probability ``beta``, else the student's; in
    the teacher's environment, on the entry's objects if it names any."""
    teacher = _entry(teacher_entry).specialist(num_envs=envs, seed=seed)
    rng = np.random.default_rng(seed)
    observations, labels = [], []
    student.network.eval()
    try:
        vec_env = teacher.env
        for _ in range(steps):
            obs = torch.as_tensor(student.observation(vec_env.env), dtype=torch.float32)
            label = torch.clamp(teacher.act(vec_env.get_observations()), -1.0, 1.0)
            own = student.network(obs)
            use_teacher = torch.from_numpy(rng.random(envs) < beta)[:, None]
            vec_env.step(torch.where(use_teacher, label, own))
            observations.append(obs)
            labels.append(label)
    finally:
        teacher.close()
    return torch.cat(observations), torch.cat(labels)


def closed_loop(student: GeneralistOnEnv, teacher_entry: TeacherEntry | str, episodes: int,
                seed: int) -> dict:
    """The student alone in the teacher's environment (the entry's objects if it names any):
    RotR, RotP, TTF, Rot, drops, and the same per object."""
    from dexndm_learning.ppo.vec_env import RotationVecEnv

    student.network.eval()
    vec_env = RotationVecEnv(_entry(teacher_entry).env_config(
        num_envs=episodes, seed=seed, disturbance_probability=0.0))
    try:
        outcomes = first_episodes(vec_env, student.advance)
        return {**outcome_summary(outcomes), "per_object": per_object(outcomes)}
    finally:
        vec_env.close()


def _entry(teacher: TeacherEntry | str) -> TeacherEntry:
    return teacher if isinstance(teacher, TeacherEntry) else TeacherEntry.parse(teacher)


@dataclass
class Aggregate:
    """Every (observation, teacher action) so far; held-out rows are never trained on."""

    obs: torch.Tensor
    labels: torch.Tensor
    held_out: torch.Tensor

    def add(self, obs: torch.Tensor, labels: torch.Tensor, held_out: torch.Tensor) -> None:
        self.obs = torch.cat([self.obs, obs])
        self.labels = torch.cat([self.labels, labels])
        self.held_out = torch.cat([self.held_out, held_out])


def train_dagger(config: DaggerConfig, progress=print) -> dict:
    device, distributed, out = start_run(config)
    if distributed.world_size > 1:
        raise DexndmError("DAgger collects in simulation on one process: run it without torchrun")
    if config.resume:
        raise DexndmError("train dagger does not resume: start a new run with --init OUT/best")
    teachers = teacher_entries(config.teachers)
    student = GeneralistOnEnv(config.init)
    released = student.network.obs_norm.unit_scale_constant()
    if released:
        # a bundle fitted before the rule: its constant features (a wrist, the axis's x and y)
        # would put a teacher at another wrist or axis ~1000 standard deviations out
        progress(f"{released} observation features constant in {config.init}'s data (wrist, "
                 "axis) now enter at unit scale; its actions on that data are unchanged")
    prepare_output(out, config, config.overwrite)
    policy: GeneralistPolicyNet = student.network
    layout, scale = student.layout, student.action_scale
    loaded = load_episodes(config.data)
    windows = policy_windows(loaded.episodes, layout.history, loaded.control_dt)
    obs, labels = bc_batch(windows, torch.arange(len(windows)), layout, scale)
    # the rollouts are all trained on; of the collected data, the first eval_fraction of the
    # environments of every teacher and round is held out
    data = Aggregate(obs, labels, torch.zeros(len(obs), dtype=torch.bool))
    held_envs = max(1, round(config.eval_fraction * config.envs)) if config.eval_fraction else 0
    extra = {"layout": layout.to_dict(), "action_scale": scale, **student.bundle.start_pose,
             "data_fingerprint": fingerprint(loaded.files), "distilled_from": list(config.teachers)}
    rounds: list[dict] = []
    best_rotation, best_round = -np.inf, None
    for round_index in range(config.rounds):
        betas = config.round_betas(round_index)
        for number, (teacher, beta) in enumerate(zip(teachers, betas, strict=True)):
            new_obs, new_labels = collect(student, teacher, config.envs, config.steps, beta,
                                          config.seed + 1000 * round_index + number)
            data.add(new_obs, new_labels, torch.arange(len(new_obs)) % config.envs < held_envs)
        train_index = torch.nonzero(~data.held_out).flatten()
        eval_index = torch.nonzero(data.held_out).flatten()
        round_out = out / f"round_{round_index}"
        train_loop(Task("dagger", BUNDLE_KIND, policy, policy, len(train_index),
                        _loss(data, train_index, device), _assess(policy, data, eval_index, device),
                        {**extra, "dagger_round": round_index},
                        lambda: torch.optim.Adam(policy.parameters(), lr=config.lr)),
                   replace(config, out=str(round_out), overwrite=True), device, distributed,
                   round_out)
        # an entry repeated to weight its labels is scored once
        unique = {str(teacher): teacher for teacher in teachers}
        results = {name: closed_loop(student, teacher, config.eval_episodes, config.seed)
                   for name, teacher in unique.items()}
        rotation = float(np.mean([r["radians"][0] for r in results.values()]))
        default_beta = None if config.teacher_betas else config.beta ** round_index
        rounds.append({"round": round_index, "beta": default_beta, "teacher_betas": betas,
                       "samples": len(data.obs),
                       "closed_loop": results, "mean_radians": rotation})
        progress(f"round {round_index}: beta {'/'.join(f'{b:.2f}' for b in sorted(set(betas)))}, "
                 f"{len(data.obs)} samples, closed-loop "
                 f"rotation {rotation:.2f} rad ("
                 + ", ".join(f"{r['radians'][0]:.2f} rad, drops {r['drops']:.0%}"
                             for r in results.values()) + ")")
        if rotation > best_rotation:
            best_rotation, best_round = rotation, round_index
            shutil.rmtree(out / "best", ignore_errors=True)
            shutil.copytree(round_out / "last", out / "best")
        (out / "rounds.json").write_text(json.dumps({"config": asdict(config), "rounds": rounds,
                                                     "best_round": best_round}, indent=2))
    return {"out": str(out), "best_round": best_round, "best_radians": best_rotation,
            "rounds": rounds}


def _loss(data: Aggregate, train_index: torch.Tensor, device: str):
    def loss(module: torch.nn.Module, index: torch.Tensor) -> torch.Tensor:
        chosen = train_index[index]
        prediction = module(data.obs[chosen].to(device))
        return ((prediction - data.labels[chosen].to(device)) ** 2).mean()
    return loss


def _assess(policy: torch.nn.Module, data: Aggregate, eval_index: torch.Tensor, device: str):
    def assess() -> Evaluation:
        index = eval_index if len(eval_index) else torch.arange(len(data.obs))
        with torch.no_grad():
            policy.eval()
            error = (policy(data.obs[index].to(device)).cpu() - data.labels[index]).abs()
            policy.train()
        mae = float(error.mean())
        return Evaluation(mae, {"eval_action_mae": mae}, line=f"eval action MAE {mae:.4f}")
    return assess
