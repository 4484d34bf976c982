"""A generalist against its specialist teachers, in the teachers' own environments (the
evaluation table of docs/base_policy.md).

For every teacher (a `dexndm train ppo` checkpoint) and every profile, the teacher and the
generalist each run ``episodes`` episodes in the environment the teacher was trained in
(env.yaml: its category, objects, wrists, axes and Table 14 physics ranges), with the same seed,
so both start from the same grasps, wrists, axes and object physics; disturbance forces are off.
Under a profile other than the training one, the episodes still start from the training
profile's grasps (a deployed policy starts from the grasp it was trained with). The teacher sees
its oracle observation, the generalist the proprioceptive one the controller builds
(ObservationLayout from the environment's joint and target histories).

Per cell: RotR, RotP, TTF, Rot (radians per 400-step episode, i.e. per 20 s), drop rate, mean and
standard deviation over episodes, and the generalist's share of its teacher's rotation. The result
names where it was measured (``measured_with``: commit, libraries, processor).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.hand import LOWER, UPPER
from dexndm_control.policy.bundle import load_network
from dexndm_control.policy.observation import ObservationLayout
from dexndm_control.settings import setting
from dexndm_learning.outcomes import METRICS, outcome_summary
from dexndm_learning.ppo.specialist import teacher_entries
from dexndm_learning.ppo.transfer import episode_outcomes, first_episodes
from dexndm_learning.runs import measured_with


@dataclass
class CompareConfig:
    policy: str = setting(help="generalist: a base_policy bundle directory")
    teachers: tuple[str, ...] = setting(help="specialist checkpoints: RUN/model_N.pt (its whole "
                                             "environment) or RUN/model_N.pt@OBJECT,OBJECT "
                                             "(those objects only)")
    residual: str | None = setting(None, help="residual bundle on top of the generalist")
    profiles: tuple[str, ...] = setting(("nominal", "real"), help="profiles to evaluate under")
    episodes: int = setting(32, help="episodes per policy, teacher and profile")
    seed: int | None = setting(None, help="environment seed (default: each teacher's training "
                                          "seed, i.e. its training grasps)")

    def __post_init__(self) -> None:
        if not self.teachers:
            raise DexndmError("--teachers needs at least one RUN/model_N.pt")
        if self.episodes < 2:
            raise DexndmError("--episodes must be >= 2 (a cell reports a spread)")


class GeneralistOnEnv:
    """A base_policy bundle (optionally with a residual bundle) acting in a RotationVecEnv from
    the proprioceptive observation the controller builds.

    As in the controller's PolicyRuntime, the base policy's "previous targets" are its own target
    chain a_k = a_{k-1} + delta * scale; the command sent to the hand adds the residual. Without
    a residual the two are the same and ``act`` gives the actions of the environment's own chain.
    """

    def __init__(self, bundle: str | Path, residual: str | Path | None = None) -> None:
        self.network, self.bundle = load_network(bundle, "base_policy")
        self.layout = ObservationLayout.from_dict(self.info["layout"])
        self.action_scale = float(self.info["action_scale"])
        self.network.eval()
        self.residual = None
        if residual is not None:
            self.residual, bundled = load_network(residual, "residual")
            if ObservationLayout.from_dict(bundled.info["layout"]) != self.layout:
                raise DexndmError(f"residual {residual} was trained on another observation "
                                  f"layout than {bundle}: retrain it for this base policy")
        self._base_history = np.zeros(0)  # [N, T, 16]: a_{k-T} .. a_{k-1} of the base chain
        self._chain_env = None

    @property
    def info(self) -> dict:
        """The bundle's information (layout, action scale, start pose, ...)."""
        return self.bundle.info

    def _check(self, env) -> None:
        if abs(env.config.action_scale - self.action_scale) > 1e-12:
            raise DexndmError(f"the bundle's action scale {self.action_scale} differs from the "
                              f"environment's {env.config.action_scale}")

    def observation(self, env, targets: np.ndarray | None = None) -> np.ndarray:
        """What the controller builds at this step (``generalist_observation``)."""
        from dexndm_learning.ppo.vec_env import generalist_observation

        self._check(env)
        return generalist_observation(env, self.layout, targets)

    @torch.no_grad()
    def act(self, vec_env) -> torch.Tensor:
        """Base actions for the environment's own target chain (no residual)."""
        obs = torch.as_tensor(self.observation(vec_env.env), dtype=torch.float32)
        return self.network(obs)

    @torch.no_grad()
    def correction(self, obs: torch.Tensor, base: np.ndarray, q: np.ndarray) -> np.ndarray | None:
        """What is added to the base target (the residual's output; None: nothing)."""
        if self.residual is None:
            return None
        return self.residual(obs, torch.as_tensor(base, dtype=torch.float32),
                             torch.as_tensor(q, dtype=torch.float32)).numpy()

    @torch.no_grad()
    def advance(self, vec_env) -> None:
        """One control step: base target from the base chain, plus the residual if any."""
        env = vec_env.env
        if self._chain_env is not env:  # a new environment: chains start at its targets
            self._base_history = np.repeat(env.target[:, None], self.layout.history, axis=1)
            self._chain_env = env
        obs = torch.as_tensor(self.observation(env, self._base_history), dtype=torch.float32)
        delta = self.network(obs).numpy().astype(float)
        base = np.clip(self._base_history[:, -1] + delta * self.action_scale, LOWER, UPPER)
        correction = self.correction(obs, base, env.q_history[:, -1])
        vec_env.step_to(base if correction is None else np.clip(base + correction, LOWER, UPPER))
        self._base_history = np.roll(self._base_history, -1, axis=1)
        self._base_history[:, -1] = base
        for record in vec_env.last_infos["episodes"]:  # reset envs start a new chain
            self._base_history[record["env"]] = env.target[record["env"]]


def compare(config: CompareConfig, out: str | Path | None = None, progress=print) -> dict:
    from dexndm_learning.ppo.vec_env import RotationVecEnv

    generalist = GeneralistOnEnv(config.policy, config.residual)
    cells = []
    for teacher_entry in teacher_entries(config.teachers):
        trained = teacher_entry.env_config()
        for profile in config.profiles:
            overrides = {"num_envs": config.episodes, "disturbance_probability": 0.0,
                         "profile": profile, "grasp_profile": trained.profile}
            if config.seed is not None:
                overrides["seed"] = config.seed
            teacher = teacher_entry.specialist(**overrides)
            try:
                taught = episode_outcomes(teacher)
            finally:
                teacher.close()
            vec_env = RotationVecEnv(teacher_entry.env_config(**overrides))
            try:
                student = first_episodes(vec_env, generalist.advance)
            finally:
                vec_env.close()
            env = teacher.env.env.config
            cell = {"teacher": str(teacher_entry), "categories": list(env.categories),
                    "objects": list(env.objects),
                    "wrists": list(env.wrists), "axes": env.axes, "profile": profile,
                    "teacher_result": outcome_summary(taught),
                    "generalist_result": outcome_summary(student)}
            rotation = cell["teacher_result"]["radians"][0]
            cell["share_of_teacher"] = (cell["generalist_result"]["radians"][0] / rotation
                                        if rotation > 0 else None)
            cells.append(cell)
            progress(format_cell(cell))
    # the same policies on the same starts read differently on another processor
    result = {"config": asdict(config), "measured_with": measured_with(), "cells": cells}
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2))
    return result


def _cell_text(row: dict) -> str:
    mean = {name: row[name][0] for name in METRICS}
    std = {name: row[name][1] for name in METRICS}
    return (f"RotR {mean['rot_reward']:6.1f} +- {std['rot_reward']:5.1f}  "
            f"TTF {mean['time_to_fall']:.2f} +- {std['time_to_fall']:.2f}  "
            f"Rot {mean['radians']:5.2f} +- {std['radians']:4.2f}  drops {row['drops']:.0%}")


def _set_name(cell: dict) -> str:
    """The cell's categories, and its objects where the teacher's environment names some."""
    objects = cell.get("objects") or []
    return "+".join(cell["categories"]) + (f" ({', '.join(objects)})" if objects else "")


def format_cell(cell: dict) -> str:
    share = cell["share_of_teacher"]
    name = f"{_set_name(cell)} {'+'.join(cell['wrists'])} {cell['axes']}"
    return (f"{name} [{cell['profile']}]\n  teacher     {_cell_text(cell['teacher_result'])}\n"
            f"  generalist  {_cell_text(cell['generalist_result'])}"
            + (f"  ({share:.0%} of teacher)" if share is not None else ""))


def markdown_table(result: dict) -> str:
    """The docs table: one row per cell and policy."""
    lines = ["| category | wrist | axes | profile | policy | RotR | RotP | TTF | "
             "Rot [rad / 20 s] | drops |", "|---|---|---|---|---|---|---|---|---|---|"]
    for cell in result["cells"]:
        for who in ("teacher", "generalist"):
            row = cell[f"{who}_result"]
            values = [f"{row[n][0]:.2f} ± {row[n][1]:.2f}" for n in METRICS]
            lines.append(f"| {_set_name(cell)} | {'+'.join(cell['wrists'])} | "
                         f"{cell['axes']} | {cell['profile']} | {who} | "
                         + " | ".join(values) + f" | {row['drops']:.0%} |")
    return "\n".join(lines)
