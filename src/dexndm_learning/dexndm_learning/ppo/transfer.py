"""Direct sim-to-"real" transfer of a PPO specialist: how much rotation survives the `real` profile.

The specialist runs deterministically in the environment it was trained in (env.yaml), once under
its training profile and once per goal current under the `real` profile, every run starting from
the training sim's grasps with the same seed. One episode per environment: ``episodes``
environments step until each has finished its first episode. The kept share is mean rotation
under `real` over mean rotation under the training profile; its standard error comes from the
per-episode spreads (delta method). This is how the `real` profile's default goal current was
calibrated (docs/reality_gap.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.settings import setting
from dexndm_learning.outcomes import outcome_summary, per_axis, per_object, per_start
from dexndm_learning.ppo.specialist import Specialist


@dataclass
class TransferConfig:
    checkpoint: str = setting(help="RUN/model_N.pt of `dexndm train ppo`")
    goal_currents_ma: tuple[float, ...] = setting((550.0, 650.0, 750.0), flag="--goal-currents",
                                                  help="real-profile goal currents to measure (mA)")
    episodes: int = setting(64, help="episodes per profile")
    latency_steps: int | None = setting(None, help="real-profile command latency (default: the "
                                                   "profile's)")
    seed: int = 0
    grasp_seeds: tuple[int, ...] = setting((), help="grasp searches to start from, e.g. held-out "
                                                    "ones (default: the training environment's; "
                                                    "without grasp seeds there, --seed's)")
    min_grasp_hold: float | None = setting(None, help="start only from grasps that keep the "
                                                      "object this long held still, s (default: "
                                                      "the training environment's; 0: every "
                                                      "searched grasp)")
    per_grasp: bool = setting(False, help="also print the outcome from each start grasp (--out's "
                                          "JSON always has it, under per_start)")

    def __post_init__(self) -> None:
        if self.episodes < 2:
            raise DexndmError("--episodes must be >= 2 (the kept share needs a spread)")
        if not self.goal_currents_ma or min(self.goal_currents_ma) <= 0:
            raise DexndmError("--goal-currents needs one or more positive values in mA")


def first_episodes(vec_env, advance) -> dict[str, np.ndarray]:
    """Step every environment until each has finished one episode, ``advance(vec_env)`` taking
    one control step; per-episode outcomes (the first episode of each environment), with the
    name of the object each episode held under ``"object"``, the grasp it started from (its
    index in that object's grasp cache) under ``"grasp"``, its wrist (the --wrists entry it
    drew) under ``"wrist"`` and its rotation axis (``axes.axis_name``) under ``"axis"``."""
    env = vec_env.env
    n = env.config.num_envs
    outcomes = {name: np.zeros(n) for name in ("radians", "time_to_fall", "rot_reward",
                                               "rot_penalty")}
    fell, done = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    objects, grasps = np.empty(n, dtype=object), np.zeros(n, dtype=int)
    wrists, axes = np.empty(n, dtype=object), np.empty(n, dtype=object)
    for _ in range(env.config.episode_length):
        advance(vec_env)
        for record in vec_env.last_infos["episodes"]:
            i = record["env"]
            if not done[i]:
                done[i] = True
                for name in outcomes:
                    outcomes[name][i] = getattr(record["metrics"], name)
                fell[i] = record["fell"]
                objects[i] = record["object"]
                grasps[i] = record["grasp"]
                wrists[i] = record["wrist"]
                axes[i] = record["axis"]
        if done.all():
            break
    if not done.all():
        raise RuntimeError("some episodes did not end within the episode length")
    return {**outcomes, "fell": fell, "object": objects, "grasp": grasps, "wrist": wrists,
            "axis": axes}


def episode_outcomes(specialist: Specialist) -> dict[str, np.ndarray]:
    """A specialist's first episode in every environment."""
    return first_episodes(specialist.env, lambda vec_env: vec_env.step(specialist.act(
        vec_env.get_observations())))


def kept_share(real: np.ndarray, nominal: np.ndarray) -> tuple[float, float]:
    """Mean ratio real/nominal and its standard error (delta method, independent samples)."""
    mean_real, mean_nominal = float(real.mean()), float(nominal.mean())
    if mean_nominal <= 0:
        raise DexndmError("the policy does not rotate under its training profile (mean rotation "
                          f"{mean_nominal:.3f} rad): train it further before measuring transfer")
    ratio = mean_real / mean_nominal
    se_real = real.std(ddof=1) / math.sqrt(len(real))
    se_nominal = nominal.std(ddof=1) / math.sqrt(len(nominal))
    error = abs(ratio) * math.sqrt((se_real / mean_real) ** 2 + (se_nominal / mean_nominal) ** 2) \
        if mean_real else se_real / mean_nominal
    return ratio, error


def measure_transfer(config: TransferConfig, out: str | Path | None = None,
                     progress=print) -> dict:
    common: dict = {"num_envs": config.episodes, "seed": config.seed}
    if config.grasp_seeds:
        common["grasp_seeds"] = tuple(config.grasp_seeds)
    if config.min_grasp_hold is not None:
        common["min_grasp_hold"] = config.min_grasp_hold
    runs: dict[str, dict] = {}
    specialist = Specialist(config.checkpoint, **common)
    training_profile = specialist.env.env.config.profile
    try:
        nominal = episode_outcomes(specialist)
    finally:
        specialist.close()
    runs[training_profile] = {**outcome_summary(nominal), **_breakdowns(nominal)}
    progress(f"{training_profile}: {runs[training_profile]['radians'][0]:.2f} rad")
    for current in config.goal_currents_ma:
        params: dict = {"goal_current_ma": float(current)}
        if config.latency_steps is not None:
            params["latency_steps"] = config.latency_steps
        specialist = Specialist(config.checkpoint, profile="real", profile_params=params,
                                grasp_profile=training_profile, **common)
        try:
            outcomes = episode_outcomes(specialist)
        finally:
            specialist.close()
        # a policy that does not rotate under its training profile has no share to keep (null);
        # its rotations are still measured and written
        kept = (list(kept_share(outcomes["radians"], nominal["radians"]))
                if nominal["radians"].mean() > 0 else None)
        name = f"real@{current:g}mA"
        runs[name] = {**outcome_summary(outcomes), "goal_current_ma": float(current),
                      "kept": kept, **_breakdowns(outcomes)}
        progress(f"{name}: {runs[name]['radians'][0]:.2f} rad, kept {_kept_text(kept)}")
    result = {"config": asdict(config), "training_profile": training_profile, "runs": runs}
    if out is not None:
        Path(out).write_text(json.dumps(result, indent=2))
    return result


def _breakdowns(outcomes: dict[str, np.ndarray]) -> dict[str, dict]:
    return {"per_object": per_object(outcomes), "per_axis": per_axis(outcomes),
            "per_start": per_start(outcomes)}


def _kept_text(kept: list[float] | None) -> str:
    return "n/a (no rotation)" if kept is None else f"{kept[0]:.0%} +- {kept[1]:.0%}"


def _format_row(label: str, row: dict, kept: str) -> str:
    return (f"{label:<30} {row['radians'][0]:>6.2f} +- {row['radians'][1]:<5.2f} "
            f"{row['time_to_fall'][0]:>5.2f} +- {row['time_to_fall'][1]:<4.2f} "
            f"{row['drops']:>6.0%} {kept:>13}")


def format_transfer(result: dict, per_grasp: bool = False) -> str:
    """One line per profile; with several objects, one indented line per object under it; with
    ``per_grasp``, one per start grasp too (episodes in brackets)."""
    lines = [f"{'profile':<30} {'Rot [rad]':>15} {'TTF':>13} {'drops':>6} {'kept':>13}"]
    for name, row in result["runs"].items():
        kept = _kept_text(row["kept"]) if "kept" in row else "100%"
        lines.append(_format_row(name, row, kept))
        objects = row.get("per_object", {})
        if len(objects) > 1:
            lines.extend(_format_row(f"  {obj} ({entry['episodes']})", entry, "")
                         for obj, entry in objects.items())
        if per_grasp:
            lines.extend(_format_row(f"  {start} ({entry['episodes']})", entry, "")
                         for start, entry in row.get("per_start", {}).items())
    return "\n".join(lines)
