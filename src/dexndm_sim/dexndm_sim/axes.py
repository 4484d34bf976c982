"""Rotation-axis sets: +-x, +-y, +-z, and 26 general axes (32 evenly spread minus the six
principal ones, paper Fig. 34)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

PRINCIPAL = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                     dtype=float)


@lru_cache(maxsize=1)
def thirty_two_axes() -> np.ndarray:
    """32 unit vectors spread evenly (Thomson repulsion), the six principal ones held fixed."""
    rng = np.random.default_rng(0)
    free = rng.normal(size=(26, 3))
    free /= np.linalg.norm(free, axis=1, keepdims=True)
    for _ in range(600):
        points = np.vstack([PRINCIPAL, free])
        delta = free[:, None, :] - points[None, :, :]
        distance = np.linalg.norm(delta, axis=-1) + np.eye(26, 32, 6) * 1e9
        force = (delta / distance[..., None] ** 3).sum(1)
        free = free + 0.01 * force
        free /= np.linalg.norm(free, axis=1, keepdims=True)
    return np.vstack([PRINCIPAL, free])


AXIS_SETS = {"x": PRINCIPAL[:2], "y": PRINCIPAL[2:4], "z": PRINCIPAL[4:],
             "principal": PRINCIPAL}


def axis_set(name: str) -> np.ndarray:
    if name == "general":
        return thirty_two_axes()[6:]
    if name == "all":
        return thirty_two_axes()
    if name in ("+z", "-z", "+x", "-x", "+y", "-y"):
        index = {"+x": 0, "-x": 1, "+y": 2, "-y": 3, "+z": 4, "-z": 5}[name]
        return PRINCIPAL[index:index + 1]
    if name not in AXIS_SETS:
        raise ValueError(f"unknown axis set '{name}': x, y, z, principal, general, all, +z, ...")
    return AXIS_SETS[name]
