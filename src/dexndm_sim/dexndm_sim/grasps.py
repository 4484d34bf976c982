"""Grasp caches: initial hand poses that hold an object at a given wrist orientation.

Per (object, wrist, profile): place the object between the fingers with gravity off, close the
hand toward a random pose around the paper's canonical grasp pose (appendix C), then switch
gravity on and keep the grasp if the object stays put. Caches are .npz files reused across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dexndm_control.hand import CANONICAL_POSE, clip_to_limits
from dexndm_sim.objects import ObjectSpec
from dexndm_sim.profiles import HardwareProfile
from dexndm_sim.scene import OBJECT_IN_PALM, SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import random_quaternion


@dataclass
class GraspCache:
    q: np.ndarray  # [N, 16] joint positions when the grasp held
    target: np.ndarray  # [N, 16] targets holding it
    object_pos: np.ndarray  # [N, 3] world
    object_quat: np.ndarray  # [N, 4]
    trials: int = 0

    def __len__(self) -> int:
        return len(self.q)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, q=self.q, target=self.target, object_pos=self.object_pos,
                 object_quat=self.object_quat, trials=self.trials)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> GraspCache:
        with np.load(path) as data:
            return cls(data["q"], data["target"], data["object_pos"], data["object_quat"],
                       int(data["trials"]))


def default_cache_dir() -> Path:
    return Path(os.environ.get("DEXNDM_CACHE", Path.home() / ".cache" / "dexndm")) / "grasps"


def cache_key(obj: ObjectSpec, wrist_quat, profile: HardwareProfile, preset: str) -> str:
    blob = json.dumps({"object": asdict(obj), "wrist": [round(float(v), 6) for v in wrist_quat],
                       "profile": profile.name, "kp": list(profile.kp),
                       "torque_limit": list(profile.torque_limit), "preset": preset},
                      sort_keys=True, default=str)
    return f"{obj.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def generate_grasps(obj: ObjectSpec, wrist_quat, profile: HardwareProfile,
                    preset: str = "fast", wanted: int = 16, max_trials: int = 400,
                    seed: int = 0, noise: float = 0.3) -> GraspCache:
    rng = np.random.default_rng(seed)
    hand = SimHand(SceneConfig(tuple(wrist_quat), profile, preset, obj))
    palm = hand.scene.palm_to_world(OBJECT_IN_PALM)
    found: list[tuple] = []
    trials = 0
    while len(found) < wanted and trials < max_trials:
        trials += 1
        hand.set_gravity(False)
        hand.reset(clip_to_limits(CANONICAL_POSE * 0.3), palm, random_quaternion(rng))
        start = clip_to_limits(CANONICAL_POSE * 0.3)
        goal = clip_to_limits(CANONICAL_POSE + rng.uniform(-noise, noise, 16))
        for k in range(1, 21):  # close over 1 s
            hand.control_step(start + (goal - start) * k / 20)
        before, _ = hand.object_pose()
        hand.set_gravity(True)
        for _ in range(30):  # hold for 1.5 s
            hand.control_step(goal)
        after, quat = hand.object_pose()
        if np.linalg.norm(after - before) < 0.02 and np.linalg.norm(after - palm) < 0.08:
            found.append((hand.q, goal, after, quat))
    if not found:
        return GraspCache(np.zeros((0, 16)), np.zeros((0, 16)), np.zeros((0, 3)),
                          np.zeros((0, 4)), trials)
    q, target, pos, quat = map(np.array, zip(*found, strict=True))
    return GraspCache(q, target, pos, quat, trials)


def load_or_generate(obj: ObjectSpec, wrist_quat, profile: HardwareProfile,
                     preset: str = "fast", cache_dir: Path | None = None, wanted: int = 16,
                     seed: int = 0) -> GraspCache:
    path = (cache_dir or default_cache_dir()) / f"{cache_key(obj, wrist_quat, profile, preset)}.npz"
    if path.is_file():
        return GraspCache.load(path)
    cache = generate_grasps(obj, wrist_quat, profile, preset, wanted=wanted, seed=seed)
    cache.save(path)
    return cache

