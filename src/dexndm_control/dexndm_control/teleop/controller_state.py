"""One reading of both Quest controllers, whatever the source, in the headset's tracking frame.

Frames: poses are 4x4 homogeneous transforms of each controller in the VR tracking frame, which
for oculus_reader and WebXR is the OpenXR convention (y up, -z forward, metres). Button and
value names are those of the oculus_reader APK, so every source reads the same way downstream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.rotations import quat_to_matrix

# Digital buttons, in the order they appear in /teleop/joy buttons[].
BUTTONS = ("A", "B", "RThU", "RJ", "RG", "RTr", "X", "Y", "LThU", "LJ", "LG", "LTr")
# Analog values, in the order they appear in /teleop/joy axes[].
AXES = ("rightJS_x", "rightJS_y", "leftJS_x", "leftJS_y", "rightGrip", "leftGrip", "rightTrig",
        "leftTrig")


class MalformedInput(DexndmError):
    """A packet from an input source could not be understood; it is dropped and counted."""


@dataclass(frozen=True)
class ControllerState:
    stamp: float  # time.monotonic() when the packet was received
    right: np.ndarray | None = None  # 4x4 pose, None when the right controller is not tracked
    left: np.ndarray | None = None
    buttons: frozenset[str] = frozenset()
    values: dict[str, float] = field(default_factory=dict)
    source: str = ""

    def pressed(self, name: str) -> bool:
        return name in self.buttons

    def value(self, name: str) -> float:
        return float(self.values.get(name, 0.0))

    def joy_arrays(self) -> tuple[list[int], list[float]]:
        """(buttons, axes) for sensor_msgs/Joy, in BUTTONS and AXES order."""
        return ([int(name in self.buttons) for name in BUTTONS],
                [self.value(name) for name in AXES])


def checked_pose(values: list[float], what: str) -> np.ndarray:
    """4x4 row-major pose from 16 numbers, rejecting non-finite or non-rigid transforms."""
    if len(values) != 16:
        raise MalformedInput(f"{what}: a pose has 16 numbers, got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise MalformedInput(f"{what}: non-finite number in pose")
    pose = np.asarray(values, dtype=float).reshape(4, 4)
    rotation = pose[:3, :3]
    if (not np.allclose(pose[3], (0, 0, 0, 1), atol=1e-3)
            or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-2)
            or np.linalg.det(rotation) < 0.9 or np.abs(pose[:3, 3]).max() > 100.0):
        raise MalformedInput(f"{what}: not a rigid transform")
    return pose


def pose_from_position_quaternion(position: list[float], quaternion_xyzw: list[float],
                                  what: str) -> np.ndarray:
    """4x4 pose from a WebXR position and (x, y, z, w) orientation."""
    if len(position) != 3 or len(quaternion_xyzw) != 4:
        raise MalformedInput(f"{what}: need position[3] and orientation[4]")
    values = [float(v) for v in (*position, *quaternion_xyzw)]
    if not all(math.isfinite(v) for v in values) or max(abs(v) for v in values[:3]) > 100.0:
        raise MalformedInput(f"{what}: non-finite or far-away pose")
    x, y, z, w = values[3:]
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if abs(norm - 1.0) > 1e-2:
        raise MalformedInput(f"{what}: orientation is not a unit quaternion (norm {norm:.3f})")
    pose = np.eye(4)
    pose[:3, :3] = quat_to_matrix(np.array([w, x, y, z]))
    pose[:3, 3] = values[:3]
    return pose
