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
    if name in PRINCIPAL_NAMES:
        index = PRINCIPAL_NAMES.index(name)
        return PRINCIPAL[index:index + 1]
    if name not in AXIS_SETS:
        raise ValueError(f"unknown axis set '{name}': x, y, z, principal, general, all, +z, ...")
    return AXIS_SETS[name]


PRINCIPAL_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")  # PRINCIPAL's rows, in order


def axis_name(axis: np.ndarray) -> str:
    """"+z" for a principal axis (the name `axis_set` takes), else its unit vector to three
    decimals, "(0.577, 0.577, 0.577)": what results are broken down by (a network may hold one
    sign of an axis and drop the other: docs/base_policy_log.md)."""
    unit = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    for name, principal in zip(PRINCIPAL_NAMES, PRINCIPAL, strict=True):
        if np.allclose(unit, principal, atol=1e-6):
            return name
    return "(" + ", ".join(f"{value:.3f}" for value in unit) + ")"
