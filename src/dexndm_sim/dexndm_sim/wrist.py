"""Wrist orientations: the quaternion (w, x, y, z) of the palm in the world, gravity along -z.

The six canonical orientations of the paper (Table 5) are named in one place,
``dexndm_control.rotations.WRIST_ORIENTATIONS`` (the controller reads the same names); "random"
draws a uniform rotation.
"""

from __future__ import annotations

import math

import numpy as np

from dexndm_control.rotations import WRIST_ORIENTATIONS as CANONICAL

LABELS = (*CANONICAL, "random")


def random_quaternion(rng: np.random.Generator) -> np.ndarray:
    """Uniform on SO(3) (Shoemake)."""
    u1, u2, u3 = rng.random(3)
    return np.array([math.sqrt(u1) * math.cos(2 * math.pi * u3),
                     math.sqrt(1 - u1) * math.sin(2 * math.pi * u2),
                     math.sqrt(1 - u1) * math.cos(2 * math.pi * u2),
                     math.sqrt(u1) * math.sin(2 * math.pi * u3)])


def wrist_quaternion(label: str, rng: np.random.Generator | None = None) -> np.ndarray:
    if label == "random":
        return random_quaternion(rng or np.random.default_rng())
    if label not in CANONICAL:
        raise ValueError(f"unknown wrist orientation '{label}'; choose one of {', '.join(LABELS)}")
    return np.array(CANONICAL[label])
