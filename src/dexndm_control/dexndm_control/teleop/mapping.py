"""From controller states to robot commands (pure functions and small state machines).

Arm (DROID style): while the right grip is held (clutch), the arm target follows the right
controller's motion relative to where the clutch engaged — re-anchored at every engage, scaled,
rate-limited in translation and rotation, and clipped to a workspace box. Released, the target
holds. The hand base (wrist) orientation that follows from the target goes to the policy.

Axis: ``pose`` mode — twist the left controller away from where it was when the dead-man trigger
was pressed; the twist's rotation vector is the axis, with the component about the controller's
short axis down-weighted (the paper: inferring an axis from a pose is least reliable about it);
``buttons`` mode — X, Y and the left grip (LG) select three configured axes. The policy rotates
only while the left trigger is held (dead-man). No input for ``stale_after_s`` disables rotation
and holds the arm, reported once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dexndm_control.core.rotation_command import RotationState, normalize_axis
from dexndm_control.errors import DexndmError
from dexndm_control.rotations import matrix_to_quat, quat_to_matrix
from dexndm_control.settings import setting
from dexndm_control.teleop.controller_state import (
    ControllerState,
)

# OpenXR tracking frame (x right, y up, -z forward) -> robot world (x forward, y left, z up).
VR_TO_ROBOT = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def rotation_vector(rotation: np.ndarray) -> np.ndarray:
    """Axis * angle of a rotation matrix (log map), angle in [0, pi]."""
    cosine = np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)
    angle = math.acos(cosine)
    skew = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                     rotation[1, 0] - rotation[0, 1]])
    if angle < 1e-6:
        return skew / 2.0
    if math.pi - angle < 1e-3:  # near pi the skew part vanishes: use the symmetric part
        axis = np.sqrt(np.clip((np.diag(rotation) + 1.0) / 2.0, 0.0, None))
        signs = np.sign(skew) if np.any(np.abs(skew) > 1e-9) else np.ones(3)
        axis = axis * np.where(signs == 0, 1.0, signs)
        return axis / np.linalg.norm(axis) * angle
    return skew / (2.0 * math.sin(angle)) * angle


def axis_angle_matrix(vector: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(vector))
    if angle < 1e-12:
        return np.eye(3)
    x, y, z = vector / angle
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


@dataclass(frozen=True)
class ArmMappingConfig:
    translation_scale: float = 1.0
    rotation_scale: float = 1.0
    max_linear_speed: float = 0.5  # m/s
    max_angular_speed: float = 2.0  # rad/s
    workspace_min: tuple[float, float, float] = (0.2, -0.4, 0.05)  # m, robot base frame
    workspace_max: tuple[float, float, float] = (0.8, 0.4, 0.7)
    home_position: tuple[float, float, float] = (0.45, 0.0, 0.35)
    home_orientation: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)  # w, x, y, z
    # hand base (policy wrist) = arm target orientation * hand_mount
    hand_mount: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 0.0)  # palm up at home
    max_dt: float = 0.1  # a longer gap than this is not turned into a bigger step

    def __post_init__(self) -> None:
        if self.translation_scale <= 0 or self.rotation_scale < 0:
            raise DexndmError("translation_scale must be > 0 and rotation_scale >= 0")
        if self.max_linear_speed <= 0 or self.max_angular_speed <= 0:
            raise DexndmError("max_linear_speed and max_angular_speed must be > 0")
        low, high = np.array(self.workspace_min), np.array(self.workspace_max)
        if np.any(low >= high):
            raise DexndmError("workspace_min must be below workspace_max on every axis")
        if np.any(np.array(self.home_position) < low) or np.any(np.array(self.home_position)
                                                                 > high):
            raise DexndmError("home_position must lie inside the workspace box")
        for name in ("home_orientation", "hand_mount"):
            if abs(np.linalg.norm(getattr(self, name)) - 1.0) > 1e-3:
                raise DexndmError(f"{name} must be a unit quaternion (w, x, y, z)")


class ArmMapper:
    def __init__(self, config: ArmMappingConfig, vr_to_robot: np.ndarray = VR_TO_ROBOT) -> None:
        self.config = config
        self.vr_to_robot = vr_to_robot
        self.position = np.array(config.home_position, dtype=float)
        self.rotation = quat_to_matrix(np.array(config.home_orientation, dtype=float))
        self._mount = quat_to_matrix(np.array(config.hand_mount, dtype=float))
        self._anchor: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._last_time: float | None = None

    @property
    def engaged(self) -> bool:
        return self._anchor is not None

    def release(self) -> None:
        self._anchor = None

    def controller_in_robot(self, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.vr_to_robot @ pose[:3, 3], self.vr_to_robot @ pose[:3, :3] @ self.vr_to_robot.T

    def update(self, pose: np.ndarray | None, clutch: bool, now: float) -> None:
        dt = 0.0 if self._last_time is None else min(self.config.max_dt, now - self._last_time)
        self._last_time = now
        if not clutch or pose is None:
            self._anchor = None  # released or lost tracking: hold, re-anchor at the next engage
            return
        position, rotation = self.controller_in_robot(pose)
        if self._anchor is None:
            self._anchor = (position, rotation, self.position.copy(), self.rotation.copy())
            return
        anchor_position, anchor_rotation, target_position, target_rotation = self._anchor
        config = self.config
        desired_position = target_position + config.translation_scale * (position
                                                                         - anchor_position)
        delta = rotation_vector(rotation @ anchor_rotation.T) * config.rotation_scale
        desired_rotation = axis_angle_matrix(delta) @ target_rotation
        # rate limits: move at most max speed * dt towards the desired pose
        step = desired_position - self.position
        distance = float(np.linalg.norm(step))
        if distance > config.max_linear_speed * dt:
            step *= config.max_linear_speed * dt / distance
        self.position = np.clip(self.position + step, config.workspace_min, config.workspace_max)
        turn = rotation_vector(desired_rotation @ self.rotation.T)
        angle = float(np.linalg.norm(turn))
        if angle > config.max_angular_speed * dt:
            turn *= config.max_angular_speed * dt / angle
        self.rotation = axis_angle_matrix(turn) @ self.rotation

    def target(self) -> tuple[np.ndarray, np.ndarray]:
        """(position, orientation quaternion w, x, y, z) of the arm target."""
        return self.position.copy(), matrix_to_quat(self.rotation)

    def wrist_quaternion(self) -> np.ndarray:
        """Hand base orientation in the world (gravity -z), what the policy is told."""
        return matrix_to_quat(self.rotation @ self._mount)

    def hand_rotation(self) -> np.ndarray:
        return self.rotation @ self._mount


@dataclass(frozen=True)
class AxisConfig:
    mode: str = setting("buttons", param="axis_mode",
                        help='"buttons" (X, Y, LG pick button_axes) or "pose" (left twist)')
    # buttons mode: the axes (hand frame) that X, Y and LG select, as x, y, z triples; the
    # paper's lightbulb set: z, -z, -y
    button_axes: tuple[float, ...] = setting((0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0, -1.0, 0.0),
                                             help="hand-frame axes for X, Y and LG (x y z each)")
    default_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    # pose mode
    short_axis: tuple[float, float, float] = setting(
        (1.0, 0.0, 0.0), help="controller frame (OpenXR grip) axis the short twist is about")
    short_axis_weight: float = 0.3
    deadzone_deg: float = setting(15.0, help="twist needed before an axis is taken")
    trigger_threshold: float = 0.5

    @property
    def button_axis_triples(self) -> tuple[tuple[float, float, float], ...]:
        v = self.button_axes
        return tuple((v[i], v[i + 1], v[i + 2]) for i in range(0, len(v), 3))

    def __post_init__(self) -> None:
        if self.mode not in ("pose", "buttons"):
            raise DexndmError(f"axis mode must be 'pose' or 'buttons', got {self.mode!r}")
        if len(self.button_axes) != 9:
            raise DexndmError("button_axes needs three x, y, z axes (9 numbers): for X, Y and LG")
        for axis in (*self.button_axis_triples, self.default_axis, self.short_axis):
            normalize_axis(axis)
        if not 0.0 <= self.short_axis_weight <= 1.0:
            raise DexndmError("short_axis_weight must be within [0, 1]")


def pose_mode_axis(left_now: np.ndarray, left_at_engage: np.ndarray, hand_rotation: np.ndarray,
                   short_axis: np.ndarray, weight: float, deadzone: float) -> np.ndarray | None:
    """Axis in the hand frame from the left controller's twist since engage (robot frame
    rotations), or None inside the dead zone. The twist component about the controller's
    short axis is scaled by ``weight``."""
    twist = rotation_vector(left_now @ left_at_engage.T)  # world frame
    if np.linalg.norm(twist) < deadzone:
        return None
    short = left_now @ (np.asarray(short_axis) / np.linalg.norm(short_axis))  # world frame
    along = float(twist @ short)
    weighted = twist - (1.0 - weight) * along * short
    norm = float(np.linalg.norm(weighted))
    if norm < 1e-9:
        return None
    return hand_rotation.T @ (weighted / norm)


class AxisSelector:
    def __init__(self, config: AxisConfig, vr_to_robot: np.ndarray = VR_TO_ROBOT) -> None:
        self.config = config
        self.vr_to_robot = vr_to_robot
        self.axis = np.array(normalize_axis(config.default_axis))
        self._engage_rotation: np.ndarray | None = None

    def update(self, state: ControllerState, hand_rotation: np.ndarray) -> bool:
        """Update the axis from ``state``; returns whether the dead-man is held."""
        config = self.config
        deadman = (state.pressed("LTr")
                   or state.value("leftTrig") >= config.trigger_threshold)
        if config.mode == "buttons":
            for button, axis in zip(("X", "Y", "LG"), config.button_axis_triples, strict=True):
                if state.pressed(button):
                    self.axis = np.array(normalize_axis(axis))
            return deadman
        if not deadman or state.left is None:
            self._engage_rotation = None
            return deadman and state.left is not None
        rotation = self.vr_to_robot @ state.left[:3, :3] @ self.vr_to_robot.T
        if self._engage_rotation is None:
            self._engage_rotation = rotation
        axis = pose_mode_axis(rotation, self._engage_rotation, hand_rotation,
                              np.asarray(config.short_axis), config.short_axis_weight,
                              math.radians(config.deadzone_deg))
        if axis is not None:
            self.axis = axis
        return True

    def reset(self) -> None:
        self._engage_rotation = None


@dataclass(frozen=True)
class BridgeConfig:
    """The quest_bridge node's own settings (frames and rates)."""

    world_frame: str = "world"
    hand_frame: str = "hand"
    stale_after_s: float = setting(0.2, help="no input for this long: hold and say so")
    keepalive_hz: float = setting(10.0, help="rotation command republish rate")


@dataclass
class TeleopOutput:
    arm_position: np.ndarray
    arm_orientation: np.ndarray  # w, x, y, z
    wrist: np.ndarray  # w, x, y, z, hand base in the world
    rotation: RotationState
    events: list[str] = field(default_factory=list)


class TeleopCore:
    """Everything between a controller state and the published commands."""

    def __init__(self, arm: ArmMappingConfig, axis: AxisConfig, stale_after_s: float = 0.2,
                 source: str = "quest") -> None:
        if stale_after_s <= 0:
            raise DexndmError("stale_after_s must be > 0")
        self.arm = ArmMapper(arm)
        self.axes = AxisSelector(axis)
        self.stale_after_s = stale_after_s
        self.source = source
        self.enabled = False
        self.stale = True
        self._last_input: float | None = None
        self.clutch_threshold = 0.5

    def on_input(self, state: ControllerState, now: float) -> TeleopOutput:
        events = []
        if self.stale and self._last_input is not None:
            events.append("input resumed")
        self.stale = False
        self._last_input = state.stamp
        clutch = state.pressed("RG") or state.value("rightGrip") >= self.clutch_threshold
        self.arm.update(state.right, clutch, now)
        self.enabled = self.axes.update(state, self.arm.hand_rotation())
        return self._output(events)

    def on_tick(self, now: float) -> TeleopOutput:
        """Timer: detect stale input (disable rotation, hold the arm), report it once."""
        events = []
        if not self.stale and (self._last_input is None
                               or now - self._last_input > self.stale_after_s):
            self.stale = True
            self.enabled = False
            self.arm.release()
            self.axes.reset()
            events.append(f"no input for {self.stale_after_s * 1000:.0f} ms: rotation disabled, "
                          "arm target held")
        return self._output(events)

    def _output(self, events: list[str]) -> TeleopOutput:
        position, orientation = self.arm.target()
        mode = "quest_pose" if self.axes.config.mode == "pose" else "quest_buttons"
        source = mode if self.source == "quest" else self.source
        return TeleopOutput(position, orientation, self.arm.wrist_quaternion(),
                            RotationState(tuple(float(v) for v in self.axes.axis),
                                          self.enabled, source), events)
