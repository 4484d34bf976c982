"""The open-loop tracking gap between two hardware profiles: the same targets replayed under
each, per-joint RMS difference (`dexndm sim gap`)."""

from __future__ import annotations

import numpy as np

from dexndm_control.hand import JOINT_NAMES, LOWER, UPPER
from dexndm_sim.grasps import load_or_generate
from dexndm_sim.objects import generate_category
from dexndm_sim.profiles import get_profile
from dexndm_sim.scene import SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import wrist_quaternion


def tracking_gap(actions: np.ndarray, initial_q: np.ndarray, first: str = "nominal",
                 second: str = "real", wrist: str = "palm_up", category: str | None = None,
                 seed: int = 0) -> dict:
    """Replay the same targets open loop under two profiles; per-joint RMS difference (rad)."""
    traces = {}
    for name in (first, second):
        profile = get_profile(name)
        wrist_quat = wrist_quaternion(wrist, np.random.default_rng(seed))
        obj = generate_category(category, seed)[0] if category else None
        hand = SimHand(SceneConfig(tuple(wrist_quat), profile, "fast", obj))
        if obj is not None:
            cache = load_or_generate(obj, wrist_quat, get_profile("nominal"), wanted=1,
                                     seed=seed)
            hand.reset(cache.q[0], cache.object_pos[0], cache.object_quat[0])
        else:
            hand.reset(np.clip(initial_q, LOWER, UPPER))
        trace = []
        for target in actions:
            hand.control_step(target)
            trace.append(hand.q)
        traces[name] = np.array(trace)
    rms = np.sqrt(np.mean((traces[first] - traces[second]) ** 2, axis=0))
    per_joint = dict(zip(JOINT_NAMES, rms.round(4).tolist(), strict=True))
    return {"profiles": [first, second], "rms_rad": per_joint, "mean_rms_rad": float(rms.mean())}
