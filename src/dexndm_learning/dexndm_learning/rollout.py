"""`dexndm rollout`: run a policy in simulation and save what the rest of the pipeline consumes:
a trajectory library for the chaos-box collector (design.md section 4) and transition shards (sim
data for dynamics pretraining and residual training).

Policies: ``open-loop`` (smooth random relative actions around a cached grasp, the generator the
collector replays until a trained base policy exists), the path of a base_policy bundle, run
through the controller's own PolicyRuntime (so rollouts see exactly what deployment computes), or
a PPO specialist checkpoint (``RUN/model_N.pt``), run on oracle observations in the batched
environment it was trained in; only its episodes that survive the full horizon are kept (paper
section 3.2), with the object pose per step (npz content) in ``rollout_<seed>.object_poses``
beside the shard.
Axes in libraries and shards are in the hand frame, as the controller receives them.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import ACTION_SCALE, CONTROL_DT, LOWER, NUM_JOINTS, UPPER
from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_control.rotations import world_to_hand
from dexndm_control.settings import setting
from dexndm_control.trajectory_library import TrajectoryLibrary
from dexndm_control.transitions import INITIAL_TARGET, Episode, write_shard
from dexndm_learning.ppo.specialist import TeacherEntry
from dexndm_sim.axes import axis_set
from dexndm_sim.grasps import load_or_generate
from dexndm_sim.objects import generate_category
from dexndm_sim.profiles import get_profile
from dexndm_sim.scene import SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import LABELS, wrist_quaternion


@dataclass
class RolloutConfig:
    episodes: int = 8
    steps: int = 400
    category: str = setting("cylinders", help="object category (paper Table 14)")
    wrists: tuple[str, ...] = setting((), flag="--wrist",
                                      help="wrist orientations, cycled over episodes (default: "
                                           "palm_down; a specialist's own training wrists)")
    axes: str | None = setting(None, help="axis set: x, y, z, principal, general (default: z; "
                                          "a specialist's own)")
    profile: str | None = setting(None, help="hardware profile: nominal or real (default: "
                                             "nominal; a specialist's own)")
    policy: str = setting("open-loop", help="open-loop (smooth random relative actions around a "
                                            "cached grasp), a base_policy bundle directory, or a "
                                            "PPO specialist checkpoint (RUN/model_N.pt, or "
                                            "RUN/model_N.pt@OBJECT,... on those objects: only "
                                            "episodes that survive --steps are kept)")
    seed: int = 0
    library: str | None = setting(None, help="trajectory library to write (.npz)")
    shards: str | None = setting(None, help="directory for transition shards")
    keep_steps: int | None = setting(None, help="specialists: keep the first N steps of every "
                                                "episode lasting N (default: only episodes that "
                                                "survive --steps, the paper's rule)")

    @property
    def specialist(self) -> bool:
        return self.specialist_entry.checkpoint.endswith(".pt")

    @property
    def specialist_entry(self) -> TeacherEntry:
        return TeacherEntry.parse(self.policy)

    def __post_init__(self) -> None:
        if self.specialist:
            if not Path(self.specialist_entry.checkpoint).is_file():
                raise DexndmError(f"--policy {self.policy}: no such specialist checkpoint")
        elif self.policy != "open-loop" and not (Path(self.policy) / "bundle.yaml").is_file():
            raise DexndmError(f"--policy '{self.policy}' is neither 'open-loop', a base_policy "
                              "bundle directory nor a specialist checkpoint (model_N.pt)")
        bad = [w for w in self.wrists if w not in LABELS]
        if bad:
            raise DexndmError(f"unknown wrist(s) {bad}; choose from {', '.join(LABELS)}")
        if not self.library and not self.shards:
            raise DexndmError("say where the rollouts go: --library FILE.npz and/or --shards DIR")


def open_loop_deltas(rng: np.random.Generator, steps: int) -> np.ndarray:
    """Smooth relative actions in [-1, 1]: a few sinusoids per joint plus a little noise."""
    t = np.arange(steps)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (3, NUM_JOINTS))
    freq = rng.uniform(0.01, 0.08, (3, NUM_JOINTS))
    waves = sum(np.sin(2 * np.pi * freq[k] * t + phase[k]) for k in range(3)) / 3
    return np.clip(waves + rng.normal(0, 0.1, waves.shape), -1, 1)


def rollout(config: RolloutConfig) -> dict:
    if config.specialist:
        return _specialist_rollout(config)
    wrist_labels = config.wrists or ("palm_down",)
    rng = np.random.default_rng(config.seed)
    profile = get_profile(config.profile or "nominal")
    objects = generate_category(config.category, config.seed)
    axes = axis_set(config.axes or "z")
    wrists, axis_rows, labels, episodes = [], [], [], []
    hands: dict[tuple, tuple] = {}
    runtime = None if config.policy == "open-loop" else PolicyRuntime(config.policy, max_step=1.0)
    for number in range(config.episodes):
        label = wrist_labels[number % len(wrist_labels)]
        wrist = wrist_quaternion(label, rng)
        obj = objects[number % len(objects)]
        key = (obj.name, tuple(np.round(wrist, 6)))
        if key not in hands:
            cache = load_or_generate(obj, wrist, profile, wanted=4, seed=config.seed)
            if len(cache) == 0:
                raise DexndmError(f"no grasp holds {obj.name} at {label}")
            hands[key] = (SimHand(SceneConfig(tuple(wrist), profile, "fast", obj)), cache)
        hand, cache = hands[key]
        pick = rng.integers(len(cache))
        hand.reset(cache.q[pick], cache.object_pos[pick], cache.object_quat[pick])
        target = cache.target[pick].astype(float)
        axis = axes[rng.integers(len(axes))]
        axis_in_palm = world_to_hand(axis, wrist)  # what the controller is commanded
        q = [hand.q]
        targets = []
        if runtime is not None:
            runtime.reset(hand.q, target)
            for _ in range(config.steps):
                target = runtime.step(hand.q, wrist, axis_in_palm).target
                hand.control_step(target)
                targets.append(target.copy())
                q.append(hand.q)
        else:
            for delta in open_loop_deltas(rng, config.steps):
                target = np.clip(target + delta * ACTION_SCALE, LOWER, UPPER)
                hand.control_step(target)
                targets.append(target.copy())
                q.append(hand.q)
        wrists.append(wrist)
        axis_rows.append(axis_in_palm)  # libraries and shards carry the hand-frame axis
        labels.append(label)
        episodes.append(Episode(np.array(q), np.array(targets),
                                np.arange(config.steps + 1) * CONTROL_DT,
                                {"trajectory_id": f"{Path(config.policy).name}:{config.seed}:"
                                                  f"{number}",
                                 "object": obj.name, "wrist_label": label,
                                 "wrist_quat": wrist.tolist(), "axis": axis_in_palm.tolist(),
                                 "axis_world": axis.tolist(),
                                 "profile": config.profile or "nominal",
                                 INITIAL_TARGET: cache.target[pick].tolist()}))
    meta = {"source": "simulation", "policy": config.policy,
            "profile": config.profile or "nominal", "category": config.category,
            "seed": config.seed, "command": _command(),
            "wrist_labels": labels}
    return _save(config, episodes, np.array(wrists), np.array(axis_rows), meta,
                 {"episodes": config.episodes})


def _command() -> str:
    return "dexndm " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if Path(sys.argv[0]).name == "dexndm" else "(library API)"


def _save(config: RolloutConfig, episodes: list[Episode], wrists: np.ndarray,
          axes: np.ndarray, meta: dict, out: dict) -> dict:
    if config.library:
        out["library"] = str(TrajectoryLibrary(np.array([e.a for e in episodes]),
                                               np.array([e.q[0] for e in episodes]),
                                               wrists, axes, meta).save(config.library))
    if config.shards:
        out["shard"] = str(write_shard(Path(config.shards) / f"rollout_{config.seed}.npz",
                                       episodes, "sim", CONTROL_DT))
    return out


def _specialist_rollout(config: RolloutConfig) -> dict:
    from dexndm_learning.ppo.specialist import roll_out_specialist

    overrides = {"num_envs": min(64, max(4, config.episodes)), "seed": config.seed,
                 "episode_length": config.steps}
    if config.wrists:
        overrides["wrists"] = tuple(config.wrists)
    if config.axes:
        overrides["axes"] = config.axes
    if config.profile:
        overrides["profile"] = config.profile
    specialist = config.specialist_entry.specialist(**overrides)
    try:
        result = roll_out_specialist(specialist, config.episodes, keep_steps=config.keep_steps)
        env_config = specialist.env.env.config
    finally:
        specialist.close()
    if not result.episodes:
        raise DexndmError(f"no episode of {config.policy} lasted "
                          f"{config.keep_steps or config.steps} steps in {result.finished} "
                          "tries: train the specialist longer, check its wrists/axes, or keep "
                          "shorter prefixes (--keep-steps)")
    kept = result.episodes
    meta = {"source": "simulation", "policy": config.policy, "profile": env_config.profile,
            "categories": list(env_config.categories), "objects": list(env_config.objects),
            "seed": config.seed,
            "command": _command(), "wrist_labels": list(env_config.wrists),
            "finished": result.finished, "survived": result.survived,
            "kept_steps": len(kept[0].a)}
    out = _save(config, kept, np.array([e.meta["wrist_quat"] for e in kept]),
                np.array([e.meta["axis"] for e in kept]), meta,
                {"episodes": len(kept), "finished": result.finished,
                 "survival_rate": round(result.survived / max(1, result.finished), 3),
                 "mean_radians": round(float(np.mean(result.radians)), 3)})
    if config.shards:
        # npz content under another suffix: a directory of shards is read as **/*.npz
        path = Path(config.shards) / f"rollout_{config.seed}.object_poses"
        with open(path, "wb") as stream:
            np.savez_compressed(stream, object_pose=np.array(result.object_pose),
                                trajectory_id=np.array([e.meta["trajectory_id"] for e in kept]))
        out["object_poses"] = str(path)
    return out
