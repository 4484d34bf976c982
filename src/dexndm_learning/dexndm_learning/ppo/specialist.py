"""Load a trained PPO specialist and roll it out in the batched environment (paper section 3.2).

The specialist sees oracle observations, so it runs in ``BatchedRotationEnv`` (not through the
controller's runtime). Rollouts keep only episodes that survive the full horizon and record
per-step joint positions, targets and object pose, with wrist and axis (hand frame): the
behaviour-cloning dataset and trajectory libraries for the chaos-box collector.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from dexndm_control.errors import DexndmError
from dexndm_control.hand import CONTROL_DT
from dexndm_control.policy.observation import ObservationLayout
from dexndm_control.rotations import world_to_hand
from dexndm_control.settings import from_mapping
from dexndm_control.transitions import INITIAL_TARGET, Episode
from dexndm_learning.ppo.config import env_config, ppo_config
from dexndm_sim.env import MACHINE_SETTINGS, RotationEnvConfig


def specialist_env_config(checkpoint: str | Path, **overrides) -> RotationEnvConfig:
    """The environment a checkpoint was trained in (env.yaml beside it, else run.yaml's copy of
    it, else rebuilt from an early run.yaml's flat settings), with ``overrides`` applied. Its
    episodes start from searched grasps only, with every object alike: gait states (`train ppo
    --gait-states`) and category or object shares are training aids, not what a policy is
    scored or rolled out from."""
    run_dir = Path(checkpoint).parent
    env_file, run_file = run_dir / "env.yaml", run_dir / "run.yaml"
    if env_file.is_file():
        return _saved_environment(yaml.safe_load(env_file.read_text()), overrides)
    if not run_file.is_file():
        raise DexndmError(f"{run_dir} has neither env.yaml nor run.yaml: pass a model_N.pt from "
                          "a `dexndm train ppo` run directory")
    run = yaml.safe_load(run_file.read_text())["config"]
    if isinstance(run.get("env"), dict):
        return _saved_environment(run["env"], overrides)
    try:
        values = {"wrists": tuple(run["wrists"]), "axes": run["axes"],
                  "profile": run["profile"], "seed": run["seed"]}
        category = run["category"]
    except KeyError as missing:
        raise DexndmError(f"{run_file} names no environment (no env: and no {missing}): copy "
                          "the run's env.yaml beside the checkpoint") from None
    for key in ("mass_range", "friction_range"):
        if run.get(key) is not None:
            values[key] = tuple(run[key])
    values.update(overrides)
    return env_config(category, **values)


def _saved_environment(saved: dict, overrides: dict) -> RotationEnvConfig:
    values = {key: value for key, value in saved.items()
              if key not in MACHINE_SETTINGS}  # older runs wrote threads: 2
    return from_mapping(RotationEnvConfig, values).unweighted(**{"gait_states": None,
                                                                 **overrides})


@dataclass(frozen=True)
class TeacherEntry:
    """One ``--teachers`` entry of `train dagger` and `sim compare`: ``RUN/model_N.pt`` (the
    teacher in its whole training environment) or ``RUN/model_N.pt@OBJECT,OBJECT`` (only those
    objects of its categories), so each of several teachers labels and is scored on the objects
    it turns best."""

    checkpoint: str
    objects: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entry: str) -> TeacherEntry:
        if "@" not in entry or Path(entry).is_file():
            return cls(entry)
        checkpoint, _, names = entry.rpartition("@")
        objects = tuple(name for name in names.split(",") if name)
        if not objects:
            raise DexndmError(f"teacher entry {entry!r} names no object after '@': give "
                              "RUN/model_N.pt or RUN/model_N.pt@OBJECT[,OBJECT...]")
        return cls(checkpoint, objects)

    def __str__(self) -> str:
        return self.checkpoint + (f"@{','.join(self.objects)}" if self.objects else "")

    @property
    def env_overrides(self) -> dict:
        return {"objects": self.objects} if self.objects else {}

    def env_config(self, **overrides) -> RotationEnvConfig:
        """The teacher's training environment restricted to this entry's objects (objects not
        in its categories are refused by the config, before anything is simulated)."""
        return specialist_env_config(self.checkpoint, **self.env_overrides, **overrides)

    def specialist(self, **overrides) -> Specialist:
        return Specialist(self.checkpoint, **self.env_overrides, **overrides)


def teacher_entries(entries) -> list[TeacherEntry]:
    """Parsed and checked ``--teachers`` entries (each entry's environment is read, not built)."""
    teachers = [TeacherEntry.parse(entry) for entry in entries]
    for teacher in teachers:
        if not Path(teacher.checkpoint).is_file():
            raise DexndmError(f"no checkpoint at {teacher.checkpoint} (teacher {teacher}): give "
                              "RUN/model_N.pt of a `dexndm train ppo` run")
        teacher.env_config()
    return teachers


def fine_tuned_bundle(checkpoint: Path) -> str | None:
    """The bundle a `train ppo --generalist` run fine-tuned (its run.yaml's ``generalist``), for
    one of its checkpoints; None for an oracle specialist's."""
    run_file = checkpoint.parent / "run.yaml"
    if not run_file.is_file():
        return None
    bundle = (yaml.safe_load(run_file.read_text()).get("config") or {}).get("generalist")
    if not bundle:
        return None
    if not Path(bundle).is_dir():
        raise DexndmError(f"{checkpoint} fine-tunes the generalist {bundle} (its run.yaml), which "
                          "is not there: run from the directory the run was started in, or "
                          "restore that bundle (its size and observation layout come from it)")
    return bundle


def fine_tuned_generalist(checkpoint: Path) -> tuple[dict, ObservationLayout] | None:
    """For a checkpoint of a `train ppo --generalist` run: its actor's rsl-rl config and the
    proprioceptive observation it acts on, both from the bundle the run fine-tuned (run.yaml's
    ``generalist``); None for an oracle specialist."""
    bundle = fine_tuned_bundle(checkpoint)
    if bundle is None:
        return None
    from dexndm_learning.ppo.generalist_actor import actor_config, load_generalist

    network, loaded = load_generalist(bundle)
    # the action noise is the checkpoint's own (loaded with the actor); inference uses the mean
    return (actor_config(network, init_std=1.0),
            ObservationLayout.from_dict(loaded.info["layout"]))


class Specialist:
    """A checkpoint's actor on a RotationVecEnv, deterministic (the Gaussian's mean); with
    ``critic=True`` also its critic (``runner.alg.critic``), for checks of its values. A
    checkpoint of a `train ppo --generalist` fine-tune acts on the proprioceptive observation the
    controller builds, as it was trained."""

    def __init__(self, checkpoint: str | Path, critic: bool = False, **env_overrides) -> None:
        from rsl_rl.runners import OnPolicyRunner

        from dexndm_learning.ppo.vec_env import RotationVecEnv

        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise DexndmError(f"no checkpoint at {checkpoint}")
        generalist = fine_tuned_generalist(checkpoint)
        self.env = RotationVecEnv(specialist_env_config(checkpoint, **env_overrides),
                                  generalist_layout=generalist[1] if generalist else None)
        try:
            models = {"actor": generalist[0]} if generalist else {}
            with contextlib.redirect_stdout(io.StringIO()):  # rsl-rl prints both networks
                self.runner = OnPolicyRunner(self.env, ppo_config(**models), log_dir=None,
                                             device="cpu")
            # the actor is all inference needs: shipped checkpoints may carry nothing else
            self.runner.load(str(checkpoint), load_cfg={"actor": True, "critic": critic},
                             map_location="cpu")
        except BaseException as error:
            self.env.close()
            missing = error.args[0] if isinstance(error, KeyError) else ""
            if str(missing).endswith("_state_dict"):
                raise DexndmError(f"{checkpoint} holds no {missing.removesuffix('_state_dict')} "
                                  "(shipped checkpoints keep only the actor): give a model_N.pt "
                                  "of a `dexndm train ppo` run") from None
            if generalist is None and "mlp.network." in str(error):
                raise DexndmError(f"{checkpoint} is a `train ppo --generalist` checkpoint whose "
                                  "run.yaml is not beside it: keep it in its run directory "
                                  "(run.yaml names the bundle its actor comes from)") from None
            raise
        self.policy = self.runner.get_inference_policy(device="cpu")
        self.checkpoint = checkpoint

    @torch.no_grad()
    def act(self, observations) -> torch.Tensor:
        return self.policy(observations)

    def close(self) -> None:
        self.env.close()


@dataclass
class SpecialistRollouts:
    episodes: list[Episode] = field(default_factory=list)
    object_pose: list[np.ndarray] = field(default_factory=list)  # [T + 1, 7] per kept episode
    finished: int = 0  # episodes that ended (kept or not)
    survived: int = 0
    radians: list[float] = field(default_factory=list)  # rotation of every finished episode


def roll_out_specialist(specialist: Specialist, episodes: int, max_steps: int | None = None,
                        keep_steps: int | None = None) -> SpecialistRollouts:
    """Run until ``episodes`` episodes are kept (or ``max_steps`` env steps pass). Kept: episodes
    that survive the full horizon (the paper's rule), or with ``keep_steps`` < horizon, the first
    ``keep_steps`` steps of every episode that lasted at least that long (a weaker teacher's
    data; all kept episodes then have that length)."""
    env = specialist.env.env
    n, horizon = env.config.num_envs, env.config.episode_length
    keep = min(keep_steps or horizon, horizon)
    max_steps = max_steps or 20 * horizon
    result = SpecialistRollouts()
    observations = specialist.env.get_observations()
    q = [[env.snapshot["q"][i].copy()] for i in range(n)]
    pose = [[_pose(env, i)] for i in range(n)]
    targets: list[list[np.ndarray]] = [[] for _ in range(n)]
    context = [_context(env, i) for i in range(n)]
    for _ in range(max_steps):
        observations, _, dones, _ = specialist.env.step(specialist.act(observations))
        infos = specialist.env.last_infos
        for i in range(n):
            q[i].append(infos["q"][i].copy())
            pose[i].append(np.concatenate([infos["object_pos"][i], infos["object_quat"][i]]))
            targets[i].append(infos["target"][i].copy())
        for record in infos["episodes"]:
            i = record["env"]
            result.finished += 1
            result.radians.append(record["metrics"].radians)
            survived = not record["fell"] and len(targets[i]) == horizon
            result.survived += survived
            if len(targets[i]) >= keep and (survived or keep < horizon) \
                    and len(result.episodes) < episodes:
                result.episodes.append(Episode(
                    np.array(q[i][:keep + 1]), np.array(targets[i][:keep]),
                    np.arange(keep + 1) * CONTROL_DT,
                    {**context[i], "object": record["object"], "survived": bool(survived),
                     "trajectory_id": f"{specialist.checkpoint.parent.name}:"
                                      f"{specialist.checkpoint.stem}:{result.finished}"}))
                result.object_pose.append(np.array(pose[i][:keep + 1], dtype=np.float32))
            # the env has reset env i: start its next episode's record
            q[i], pose[i], targets[i] = [env.snapshot["q"][i].copy()], [_pose(env, i)], []
            context[i] = _context(env, i)
        if len(result.episodes) >= episodes:
            break
    return result


def _pose(env, i: int) -> np.ndarray:
    return np.concatenate([env.snapshot["object_pos"][i], env.snapshot["object_quat"][i]])


def _context(env, i: int) -> dict:
    wrist = env.wrist[i]
    return {"wrist_quat": wrist.tolist(),
            "axis": world_to_hand(env.axis_world[i], wrist).tolist(),
            "axis_world": env.axis_world[i].tolist(), "profile": env.config.profile,
            "object": env.objects[i].name, "policy": "specialist",
            INITIAL_TARGET: env.target[i].tolist()}
