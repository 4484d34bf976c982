"""Wrist orientations: the quaternion (w, x, y, z) of the palm in the world, gravity along -z.

In the palm frame of the model the fingers point along +x, the palm faces -z (fingers curl
toward -z) and the thumb sits on the +y side. The six canonical orientations of the paper (Table 5)
put one of these directions up or down; "random" draws a uniform rotation.
"""

from __future__ import annotations

import math

import numpy as np

_H = math.sqrt(0.5)
CANONICAL: dict[str, tuple[float, float, float, float]] = {
    "palm_down": (1.0, 0.0, 0.0, 0.0),   # palm faces -z
    "palm_up": (0.0, 1.0, 0.0, 0.0),     # 180 deg about x: palm faces +z
    "base_up": (_H, 0.0, _H, 0.0),       # +90 deg about y: fingers point down, wrist up
    "base_down": (_H, 0.0, -_H, 0.0),    # fingers point up
    "thumb_up": (_H, _H, 0.0, 0.0),      # +90 deg about x: thumb side up
    "thumb_down": (_H, -_H, 0.0, 0.0),
}
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
