"""rotation_controller end to end over DDS against the virtual hand (driver in between)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sensor_msgs.msg import JointState

from conftest import wait_until
from dexndm_control.hand import LOWER, UPPER
from dexndm_msgs.msg import ControlStep

BIN = Path(sys.executable).parent
BASE = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"


def test_commands_at_20_hz_within_limits(virtual_hand, processes, ros_node):
    port, _ = virtual_hand()
    processes.start([sys.executable, str(BIN / "leap_driver"), "--ros-args",
                     "-p", f"port:={port}"])
    processes.start([sys.executable, str(BIN / "rotation_controller"), "--ros-args",
                     "-p", f"base_bundle:={BASE}", "-p", "ramp_s:=0.5"])
    processes.start([sys.executable, str(BIN / "rotation_commander"), "--ros-args",
                     "-p", "axis:=[0.0, 0.0, 1.0]"])
    commands: list[tuple[float, JointState]] = []
    steps: list[ControlStep] = []
    ros_node.create_subscription(JointState, "/leap_hand/joint_commands",
                                 lambda m: commands.append((time.monotonic(), m)), 100)
    ros_node.create_subscription(ControlStep, "/dexndm/control_step", steps.append, 100)
    assert wait_until(lambda: len(commands) > 40, 40, spin=ros_node.spin)
    commands.clear()
    end = time.monotonic() + 30.0
    while time.monotonic() < end:
        ros_node.spin(0.01)
    times = np.array([t for t, _ in commands])
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 19.0 <= rate <= 21.0, rate
    targets = np.array([m.position for _, m in commands])
    assert np.all(targets >= LOWER - 1e-9) and np.all(targets <= UPPER + 1e-9)
    running = [s for s in steps[-100:] if not s.holding]
    assert running, "the policy never ran (always holding)"
    assert all(abs(s.loop_period - 0.05) < 0.03 for s in running)
