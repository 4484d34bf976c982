"""Two processes over real DDS (loopback discovery, a domain of the test's own)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import wait_until
from dexndm_msgs.msg import RotationCommand

COMMANDER = str(Path(sys.executable).parent / "rotation_commander")


def test_rotation_command_crosses_processes(ros_node, processes):
    received: list[RotationCommand] = []
    ros_node.create_subscription(RotationCommand, "/dexndm/rotation_command", received.append, 10)
    processes.start([sys.executable, COMMANDER, "--ros-args", "-p", "axis:=[1.0, 2.0, 2.0]",
                     "-p", "source:=test_source", "-p", "keepalive_hz:=20.0"])
    # discovery takes ~0.1 s or ~2.7 s: wait for the match rather than sleeping
    assert wait_until(lambda: ros_node.count_publishers("/dexndm/rotation_command") > 0, 15,
                      spin=ros_node.spin)
    assert wait_until(lambda: len(received) >= 5, 10, spin=ros_node.spin)
    message = received[-1]
    assert (message.axis.x, message.axis.y, message.axis.z) == pytest.approx((1 / 3, 2 / 3, 2 / 3))
    assert message.enabled is True
    assert message.source == "test_source"
    assert message.header.frame_id == "hand"


def test_invalid_axis_parameter_fails_with_a_clear_message(ros_domain, processes):
    process = processes.start([sys.executable, COMMANDER, "--ros-args", "-p",
                               "axis:=[0.0, 0.0, 0.0]"])
    assert process.wait(timeout=30) == 1
    assert "the rotation axis is the zero vector" in process.stdout.read()
