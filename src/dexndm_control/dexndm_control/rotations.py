"""Rotations, in one place: quaternions are (w, x, y, z), functions batch over leading axes.

The hand frame is the palm's frame; the wrist quaternion is the palm's orientation in the world
(gravity along -z). A rotation axis given in the world is commanded to the controller in the
hand frame: ``world_to_hand``.
"""

from __future__ import annotations

import math

import numpy as np

_H = math.sqrt(0.5)
#: the six canonical wrist orientations of the paper (Table 5), by name: the palm's quaternion in
#: the world. In the palm frame the fingers point along +x, the palm faces -z (fingers curl
#: toward -z) and the thumb sits on the +y side; each name puts one of these directions up.
WRIST_ORIENTATIONS: dict[str, tuple[float, float, float, float]] = {
    "palm_down": (1.0, 0.0, 0.0, 0.0),   # palm faces -z
    "palm_up": (0.0, 1.0, 0.0, 0.0),     # 180 deg about x: palm faces +z
    "base_up": (_H, 0.0, _H, 0.0),       # +90 deg about y: fingers point down, wrist up
    "base_down": (_H, 0.0, -_H, 0.0),    # fingers point up
    "thumb_up": (_H, _H, 0.0, 0.0),      # +90 deg about x: thumb side up
    "thumb_down": (_H, -_H, 0.0, 0.0),
}
# the wrist orientation a hand on a table has, palm facing up (the world's +z is the palm's -z):
# the view assumes it until /dexndm/wrist_orientation or the controller's step says otherwise
PALM_UP_QUAT = WRIST_ORIENTATIONS["palm_up"]


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of a quaternion (normalised first): [..., 4] -> [..., 3, 3]."""
    q = np.asarray(q, dtype=float)
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    rows = [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def matrix_to_quat(rotation: np.ndarray) -> np.ndarray:
    """Quaternion of one 3x3 rotation matrix, w >= 0 (Shepperd's method, stable at any angle)."""
    m = np.asarray(rotation, dtype=float)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b (apply b, then a)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=float), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=float), -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw],
                    axis=-1)


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """The inverse rotation of a unit quaternion."""
    return np.asarray(q, dtype=float) * np.array([1.0, -1.0, -1.0, -1.0])


def axis_angle_quat(axis: np.ndarray, angle: float | np.ndarray) -> np.ndarray:
    """Quaternion of a rotation by ``angle`` (rad) about the unit ``axis``."""
    half = np.asarray(angle)[..., None] / 2
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def world_to_hand(vector_world: np.ndarray, wrist_quat: np.ndarray) -> np.ndarray:
    """A world-frame vector (e.g. a rotation axis) in the hand frame: R(wrist)^T v, batched."""
    return np.einsum("...ji,...j->...i", quat_to_matrix(wrist_quat),
                     np.asarray(vector_world, dtype=float))
