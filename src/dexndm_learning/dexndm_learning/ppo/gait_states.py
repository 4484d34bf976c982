"""Gait states: where a specialist's rotating episodes pass through, as training start states.

A specialist rotates 5-10 rad from a few start grasps and under 1 from the rest
(docs/base_policy_log.md): it has a gait, and reaches it from few places. Episodes that also start
from states recorded inside the gait practise it from every phase, and from states near the
grasps it fails from. The recorder runs the specialist deterministically, keeps episodes that
survive the full horizon and turn at least ``min_radians`` about their axis, and draws
``per_episode`` states from each after the approach (``skip_steps``): joint positions, the
target holding them, the object pose. They are saved per object in grasp-cache format at the
environment's search wrist (OUT/OBJECT.npz), which `train ppo --gait-states OUT` starts a share
of its training episodes from (velocities start at zero, as from a searched grasp).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.rotations import quat_conjugate, quat_multiply
from dexndm_control.settings import setting
from dexndm_learning.ppo.specialist import Specialist, roll_out_specialist
from dexndm_sim.grasps import GraspCache, move_with_palm
from dexndm_sim.wrist import CANONICAL


@dataclass
class GaitStatesConfig:
    checkpoint: str = setting(help="RUN/model_N.pt of `dexndm train ppo`")
    out: str = setting(help="directory for the states (OBJECT.npz and gait_states.json)")
    episodes: int = setting(64, help="surviving episodes to roll out (those that also turn "
                                     "--min-radians are recorded)")
    min_radians: float = setting(2.0, help="record an episode that turned at least this far "
                                           "about its axis")
    per_episode: int = setting(8, help="states drawn from each recorded episode")
    skip_steps: int = setting(40, help="steps of each episode left out (the approach from the "
                                       "start grasp is not the gait)")
    num_envs: int = setting(64, help="environments the specialist runs in")
    seed: int = 0
    overwrite: bool = setting(False, help="replace gait states already in --out")

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.per_episode < 1 or self.num_envs < 1:
            raise DexndmError("--episodes, --per-episode and --num-envs must be >= 1")
        if self.skip_steps < 0:
            raise DexndmError("--skip-steps must be >= 0")


def turned_about(object_quat: np.ndarray, axis: np.ndarray) -> float:
    """Radians an object turned about ``axis`` (world) over a pose sequence [T + 1, 4] (w, x,
    y, z): the sum of each step's rotation projected on the axis (the rotation metric's sum of
    omega . k dt, from poses)."""
    turned = 0.0
    for before, after in zip(object_quat[:-1], object_quat[1:], strict=True):
        step = quat_multiply(after, quat_conjugate(before))
        step = step if step[0] >= 0 else -step  # the short way round
        angle = 2.0 * np.arctan2(np.linalg.norm(step[1:]), step[0])
        if angle > 1e-12:
            turned += angle * float(step[1:] @ axis) / np.linalg.norm(step[1:])
    return turned


def record_gait_states(config: GaitStatesConfig) -> dict:
    out = Path(config.out)
    if out.exists() and any(out.glob("*.npz")) and not config.overwrite:
        raise DexndmError(f"{out} already holds gait states: pass --overwrite or another --out")
    specialist = Specialist(config.checkpoint, num_envs=config.num_envs, seed=config.seed)
    try:
        env = specialist.env.env
        if len(env.config.search_wrists) != 1:
            raise DexndmError(f"{config.checkpoint} started its episodes from grasps searched "
                              f"at {' and '.join(env.config.search_wrists)}: gait states are "
                              "recorded from a specialist trained at one --grasp-wrist")
        horizon = env.config.episode_length
        if config.skip_steps + config.per_episode > horizon:
            raise DexndmError(f"--skip-steps plus --per-episode must fit in the episode length "
                              f"({horizon} steps)")
        searched = np.array(CANONICAL[env.config.search_wrists[0]])
        rollouts = roll_out_specialist(specialist, config.episodes)
    finally:
        specialist.close()
    rng = np.random.default_rng(config.seed)
    states: dict[str, list[tuple]] = {}
    turned_all = []
    for episode, pose in zip(rollouts.episodes, rollouts.object_pose, strict=True):
        axis = np.asarray(episode.meta["axis_world"])
        turned = turned_about(pose[:, 3:], axis)
        turned_all.append(turned)
        if turned < config.min_radians:
            continue
        wrist = np.asarray(episode.meta["wrist_quat"])
        # state t: joints and object after step t, held by the target of step t
        for t in np.sort(rng.choice(np.arange(config.skip_steps + 1, horizon + 1),
                                    size=config.per_episode, replace=False)):
            pos, quat = move_with_palm(pose[t, :3].astype(float), pose[t, 3:].astype(float),
                                       wrist, searched)
            states.setdefault(episode.meta["object"], []).append(
                (episode.q[t].astype(float), episode.a[t - 1].astype(float), pos, quat))
    if not states:
        raise DexndmError(f"none of {len(turned_all)} surviving episodes turned "
                          f"{config.min_radians} rad: lower --min-radians or raise --episodes")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.npz"):
        stale.unlink()
    for name, found in states.items():
        q, target, pos, quat = map(np.array, zip(*found, strict=True))
        GraspCache(q, target, pos, quat, trials=len(found)).save(out / f"{name}.npz")
    summary = {"config": asdict(config), "survived": len(rollouts.episodes),
               "finished": rollouts.finished,
               "recorded_episodes": int(sum(t >= config.min_radians for t in turned_all)),
               "turned": [float(np.mean(turned_all)) if turned_all else 0.0,
                          float(np.std(turned_all)) if turned_all else 0.0],
               "states": {name: len(found) for name, found in sorted(states.items())}}
    (out / "gait_states.json").write_text(json.dumps(summary, indent=2))
    return summary
