"""Pure cores of the demo nodes and the CLI plumbing (no ROS)."""

from __future__ import annotations

import math

import pytest

from dexndm_control.cli import build_parser, discover_commands
from dexndm_control.commands import parse_launch_arguments
from dexndm_control.core.message_format import format_message
from dexndm_control.core.rotation_command import (
    InvalidAxisError,
    KeepalivePublisher,
    RotationState,
    normalize_axis,
)
from dexndm_control.errors import DexndmError
from dexndm_control.ros_env import apply_default_ros_env


def test_normalize_axis():
    assert normalize_axis([0, 3, 4]) == pytest.approx((0.0, 0.6, 0.8))
    for bad, fragment in (([0, 0, 0], "zero vector"), ([1, 2], "3 components"),
                          ([math.nan, 0, 1], "non-finite")):
        with pytest.raises(InvalidAxisError, match=fragment):
            normalize_axis(bad)


def test_keepalive_publishes_on_change_and_every_period():
    gate = KeepalivePublisher(period=0.1)
    z = RotationState((0.0, 0.0, 1.0), True, "cli")
    x = RotationState((1.0, 0.0, 0.0), True, "cli")
    ticks = [(0.00, z), (0.02, z), (0.05, x), (0.07, x), (0.15, x), (0.16, x), (0.25, x)]
    assert [gate.should_publish(state, t) for t, state in ticks] == \
        [True, False, True, False, True, False, True]


def test_ros_env_defaults_do_not_override_the_user():
    env = apply_default_ros_env({})
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    user = apply_default_ros_env({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"})
    assert user["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"


def test_format_message_nested_and_arrays():
    from sensor_msgs.msg import JointState

    from dexndm_msgs.msg import RotationCommand

    command = RotationCommand(enabled=True, source="cli")
    command.axis.z = 1.0
    text = format_message(command)
    assert "axis:\n  x: 0.0\n  y: 0.0\n  z: 1.0" in text and "source: 'cli'" in text
    state = JointState(name=["a", "b"], position=[0.5, 1.25])
    assert "position: [0.5, 1.25]" in format_message(state)
    assert "name: ['a', 'b']" in format_message(state)


def test_cli_lists_every_installed_command():
    commands = discover_commands()
    assert {"launch", "record", "info", "reindex", "echo", "demo"} <= set(commands)
    help_text = build_parser(commands).format_help()
    assert "record topics into a rosbag2 (MCAP) directory" in help_text


def test_cli_without_installed_commands_says_how_to_install(monkeypatch, capsys):
    import dexndm_control.cli as cli

    # sources on PYTHONPATH without `pip install`: no entry points, not an empty command list
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    assert cli.main(["train", "ppo"]) == 2
    assert "no dexndm commands are installed" in capsys.readouterr().err


def test_launch_argument_syntax():
    assert parse_launch_arguments(["a:=1", "b:=x:=y", "c:="]) == {"a": "1", "b": "x:=y", "c": ""}
    with pytest.raises(DexndmError, match="name:=value"):
        parse_launch_arguments(["a=1"])
