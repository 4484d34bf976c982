"""Teleop core without ROS: parsers (oculus_reader logcat, WebXR JSON) and the mapping."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dexndm_control.teleop.controller_state import ControllerState, MalformedInput
from dexndm_control.teleop.mapping import (
    VR_TO_ROBOT,
    ArmMapper,
    ArmMappingConfig,
    AxisConfig,
    TeleopCore,
    axis_angle_matrix,
    pose_mode_axis,
    rotation_vector,
)
from dexndm_control.teleop.oculus_reader import OculusReaderSource, parse_logcat_line
from dexndm_control.teleop.virtual_controller import VirtualController, apply_key
from dexndm_control.teleop.webxr import parse_webxr_message

IDENTITY = " ".join(str(v) for v in np.eye(4).ravel())
RIGHT = "1 0 0 0.1 0 1 0 0.2 0 0 1 -0.3 0 0 0 1"
PREFIX = "11-22 06:00:00.123  4321  4400 I wE9ryARX: "


def vr_pose(position_robot, rotation_robot=None) -> np.ndarray:
    """A controller pose in the VR frame from a robot-frame position and rotation."""
    rotation_robot = np.eye(3) if rotation_robot is None else rotation_robot
    pose = np.eye(4)
    pose[:3, :3] = VR_TO_ROBOT.T @ rotation_robot @ VR_TO_ROBOT
    pose[:3, 3] = VR_TO_ROBOT.T @ np.asarray(position_robot, dtype=float)
    return pose


# -- oculus_reader --------------------------------------------------------------------------------

def test_logcat_line_with_both_hands_gives_poses_buttons_and_values():
    line = (PREFIX + f"r:{RIGHT}|l:{IDENTITY}&A,RG,R,L,LTr,rightJS 0.25 -0.5,rightGrip 0.9,"
            "leftTrig 1.0,leftGrip 0.0\n")
    state = parse_logcat_line(line, stamp=12.5)
    assert state.stamp == 12.5 and state.source == "oculus_reader"
    np.testing.assert_allclose(state.right[:3, 3], [0.1, 0.2, -0.3])
    np.testing.assert_allclose(state.left, np.eye(4))
    assert state.buttons == {"A", "RG", "LTr"}
    assert state.value("rightJS_x") == 0.25 and state.value("rightJS_y") == -0.5
    assert state.value("rightGrip") == 0.9 and state.value("leftTrig") == 1.0
    buttons, axes = state.joy_arrays()
    assert buttons == [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    assert axes == [0.25, -0.5, 0.0, 0.0, 0.9, 0.0, 0.0, 1.0]


def test_logcat_line_with_one_hand_leaves_the_other_untracked():
    state = parse_logcat_line(PREFIX + f"r:{RIGHT}&R,B\n", 0.0)
    assert state.left is None and state.right is not None and state.buttons == {"B"}
    # a pose present without its hand marker means the hand is not tracked
    state = parse_logcat_line(PREFIX + f"r:{RIGHT}|l:{IDENTITY}&L\n", 0.0)
    assert state.right is None and state.left is not None


@pytest.mark.parametrize("payload", [
    "r:1 0 0&R",  # truncated pose
    f"r:{RIGHT}",  # no buttons part
    f"r:{RIGHT}&R&L",  # two separators
    "r:1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 nan&R",  # non-finite
    "r:2 0 0 0 0 2 0 0 0 0 2 0 0 0 0 1&R",  # not rigid
    f"x:{RIGHT}&R",  # unknown label
    f"r:{RIGHT}&R,Q",  # unknown button
    f"r:{RIGHT}&R,rightJS 0.1",  # value with a missing number
    "r:a b c d e f g h i j k l m n o p&R",  # garbage numbers
])
def test_malformed_tagged_lines_raise_and_are_counted(payload):
    with pytest.raises(MalformedInput):
        parse_logcat_line(PREFIX + payload, 0.0)
    received = []
    source = OculusReaderSource(received.append, command="true")
    source.feed(PREFIX + payload, 0.0)
    source.feed("11-22 06:00:00.1 1 1 I ActivityManager: unrelated line", 0.0)
    assert source.dropped_malformed == 1 and not received and source.received == 0


def test_untagged_lines_are_ignored_not_counted():
    assert parse_logcat_line("--------- beginning of main", 0.0) is None


# -- WebXR ----------------------------------------------------------------------------------------

def test_webxr_message_maps_to_the_same_names():
    half = math.sqrt(0.5)
    message = {"t": 5.0,
               "right": {"position": [0.1, 1.2, -0.3], "orientation": [0.0, half, 0.0, half],
                         "buttons": ["A", "RG"], "trigger": 0.2, "grip": 0.95,
                         "stick": [0.5, -1.5]},
               "left": {"position": [0, 1, 0], "orientation": [0, 0, 0, 1],
                        "buttons": ["X", "LTr"], "trigger": 1.0}}
    state = parse_webxr_message(json.dumps(message), 3.0)
    np.testing.assert_allclose(state.right[:3, 3], [0.1, 1.2, -0.3])
    # 90 degrees about y: x -> -z
    np.testing.assert_allclose(state.right[:3, :3] @ [1, 0, 0], [0, 0, -1], atol=1e-9)
    assert state.buttons == {"A", "RG", "X", "LTr"}
    assert state.value("rightGrip") == 0.95 and state.value("leftTrig") == 1.0
    assert state.value("rightJS_y") == -1.0  # clipped to [-1, 1]
    assert parse_webxr_message('{"t": 1}', 0.0).right is None


@pytest.mark.parametrize("text", [
    "not json", "[1, 2]", '{"right": 5}',
    '{"right": {"position": [0, 0], "orientation": [0,0,0,1]}}',
    '{"right": {"position": [0, 0, 0], "orientation": [0, 0, 0, 2]}}',
    '{"right": {"position": [0, 0, 1e9], "orientation": [0, 0, 0, 1]}}',
    '{"right": {"position": ["a", 0, 0], "orientation": [0, 0, 0, 1]}}',
    '{"right": {"position": [0, 0, 0], "orientation": [0, 0, 0, 1], "buttons": ["X"]}}',
    '{"left": {"position": [0, 0, 0], "orientation": [0, 0, 0, 1], "trigger": "full"}}',
    '{"t": "' + "x" * 5000 + '"}',
])
def test_malformed_webxr_messages_raise(text):
    with pytest.raises(MalformedInput):
        parse_webxr_message(text, 0.0)


# -- arm mapping ----------------------------------------------------------------------------------

def test_clutch_moves_relative_to_the_engage_point_and_re_anchors():
    arm = ArmMapper(ArmMappingConfig(translation_scale=2.0, max_linear_speed=10.0))
    home = arm.position.copy()
    arm.update(vr_pose([1.0, 1.0, 1.0]), clutch=True, now=0.0)  # engage: anchor, no motion
    np.testing.assert_allclose(arm.position, home)
    arm.update(vr_pose([1.05, 1.0, 1.0]), clutch=True, now=0.05)  # +5 cm x, scale 2
    np.testing.assert_allclose(arm.position, home + [0.10, 0, 0], atol=1e-12)
    arm.update(vr_pose([1.5, 1.0, 1.0]), clutch=False, now=0.10)  # released: holds
    np.testing.assert_allclose(arm.position, home + [0.10, 0, 0], atol=1e-12)
    arm.update(vr_pose([0.0, 0.0, 0.0]), clutch=True, now=0.15)  # re-engage far away: no jump
    np.testing.assert_allclose(arm.position, home + [0.10, 0, 0], atol=1e-12)
    arm.update(vr_pose([0.0, 0.02, 0.0]), clutch=True, now=0.20)
    np.testing.assert_allclose(arm.position, home + [0.10, 0.04, 0], atol=1e-12)


def test_translation_and_rotation_are_rate_limited_and_clipped_to_the_workspace():
    config = ArmMappingConfig(max_linear_speed=0.5, max_angular_speed=1.0)
    arm = ArmMapper(config)
    home = arm.position.copy()
    arm.update(vr_pose([0, 0, 0]), True, 0.0)
    arm.update(vr_pose([0.0, 0.0, 0.3]), True, 0.1)  # wants +30 cm in 0.1 s: gets 5 cm
    np.testing.assert_allclose(arm.position, home + [0, 0, 0.05], atol=1e-12)
    for k in range(2, 40):
        arm.update(vr_pose([0.0, 0.0, 0.3]), True, 0.1 * k)
    assert arm.position[2] == pytest.approx(home[2] + 0.3)
    arm.update(vr_pose([0.0, 0.0, 5.0]), True, 10.0)
    for k in range(1, 100):
        arm.update(vr_pose([0.0, 0.0, 5.0]), True, 10.0 + 0.1 * k)
    assert arm.position[2] == pytest.approx(config.workspace_max[2])
    # rotation: a 90 degree yaw asked at once turns 0.1 rad per 0.1 s step
    arm = ArmMapper(config)
    arm.update(vr_pose([0, 0, 0]), True, 0.0)
    yaw = axis_angle_matrix(np.array([0.0, 0.0, math.pi / 2]))
    arm.update(vr_pose([0, 0, 0], yaw), True, 0.1)
    np.testing.assert_allclose(rotation_vector(arm.rotation), [0, 0, 0.1], atol=1e-9)


def test_wrist_is_the_target_orientation_times_the_hand_mount():
    arm = ArmMapper(ArmMappingConfig())
    np.testing.assert_allclose(arm.wrist_quaternion(), [0, 1, 0, 0], atol=1e-12)


# -- axis -----------------------------------------------------------------------------------------

def test_pose_mode_axis_follows_the_twist_and_down_weights_the_short_axis():
    engage = np.eye(3)
    hand = np.eye(3)
    # a pure twist about world z (not the short axis x): the axis is z
    twist = axis_angle_matrix(np.array([0.0, 0.0, 0.5]))
    np.testing.assert_allclose(pose_mode_axis(twist, engage, hand, np.array([1.0, 0, 0]), 0.3,
                                              0.2), [0, 0, 1], atol=1e-9)
    # equal twist about x (short) and z: the x part is scaled by 0.3 before normalising
    both = axis_angle_matrix(np.array([0.4, 0.0, 0.4]))
    axis = pose_mode_axis(both, engage, hand, np.array([1.0, 0, 0]), 0.3, 0.2)
    twist_vector = rotation_vector(both)
    short = both @ [1.0, 0, 0]
    along = twist_vector @ short
    expected = twist_vector - 0.7 * along * short
    np.testing.assert_allclose(axis, expected / np.linalg.norm(expected), atol=1e-9)
    assert abs(axis[0]) < abs(axis[2])
    # inside the dead zone: no axis
    small = axis_angle_matrix(np.array([0.0, 0.0, 0.1]))
    assert pose_mode_axis(small, engage, hand, np.array([1.0, 0, 0]), 0.3, 0.2) is None
    # the axis is expressed in the hand frame
    hand = axis_angle_matrix(np.array([math.pi / 2, 0, 0]))  # hand z = world -y
    np.testing.assert_allclose(pose_mode_axis(twist, engage, hand, np.array([1.0, 0, 0]), 0.3,
                                              0.2), [0, 1, 0], atol=1e-9)


def _state(now, buttons=(), left=None, right=None, **values):
    return ControllerState(now, right, left, frozenset(buttons), values, "test")


def test_button_mode_selects_axes_and_the_trigger_is_a_dead_man():
    core = TeleopCore(ArmMappingConfig(), AxisConfig(mode="buttons"))
    out = core.on_input(_state(0.0, ["Y"]), 0.0)
    assert out.rotation.axis == (0.0, 0.0, -1.0) and not out.rotation.enabled
    out = core.on_input(_state(0.02, ["LTr"]), 0.02)
    assert out.rotation.axis == (0.0, 0.0, -1.0) and out.rotation.enabled
    out = core.on_input(_state(0.04, ["LG"], leftTrig=0.8), 0.04)
    assert out.rotation.axis == (0.0, -1.0, 0.0) and out.rotation.enabled
    out = core.on_input(_state(0.06, ["X"], leftTrig=0.2), 0.06)
    assert out.rotation.axis == (0.0, 0.0, 1.0) and not out.rotation.enabled
    assert out.rotation.source == "quest_buttons"


def test_stale_input_disables_rotation_and_holds_the_arm_reported_once():
    core = TeleopCore(ArmMappingConfig(max_linear_speed=10.0), AxisConfig(), stale_after_s=0.2)
    core.on_input(_state(0.0, ["LTr", "RG"], right=vr_pose([0, 0, 0])), 0.0)
    out = core.on_input(_state(0.05, ["LTr", "RG"], right=vr_pose([0.01, 0, 0])), 0.05)
    assert out.rotation.enabled
    held = out.arm_position.copy()
    assert core.on_tick(0.2).events == []  # 150 ms: still fresh
    out = core.on_tick(0.26)
    assert not out.rotation.enabled and len(out.events) == 1 and "no input" in out.events[0]
    assert core.on_tick(0.5).events == []  # reported once
    np.testing.assert_allclose(out.arm_position, held)
    # input resumes far away: the clutch re-anchors instead of jumping
    out = core.on_input(_state(1.0, ["LTr", "RG"], right=vr_pose([0.5, 0, 0])), 1.0)
    assert out.events == ["input resumed"]
    np.testing.assert_allclose(out.arm_position, held)


def test_keyboard_keys_drive_the_virtual_controller():
    controller = VirtualController()
    for key in "www":
        apply_key(controller, key)
    apply_key(controller, "g")
    apply_key(controller, "2")
    state = controller.state("keyboard")
    np.testing.assert_allclose(VR_TO_ROBOT @ state.right[:3, 3], [0.03, 0, 0], atol=1e-12)
    assert state.buttons == {"RG", "Y"} and state.value("rightGrip") == 1.0
    assert controller.state("keyboard").buttons == {"RG"}  # momentary Y is gone
    assert apply_key(controller, "x") is False
