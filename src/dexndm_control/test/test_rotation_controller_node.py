"""rotation_controller end to end over DDS against the virtual hand (driver in between)."""

from __future__ import annotations

import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState

from conftest import DRIFT, drift_dynamics_bundle, wait_until
from dexndm_control.core.gap_levels import cap_levels
from dexndm_control.hand import JOINT_NAMES, LOWER, MODEL_INDEX_OF_MOTOR, UPPER
from dexndm_msgs.msg import ControlStep, GapMeter

BIN = Path(sys.executable).parent
BASE = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"
MAX_STEP_RAD = 0.1


def _start_loop(virtual_hand, processes, *controller_args: str, hand_args=()):
    port, control = virtual_hand(*hand_args)
    processes.start([sys.executable, str(BIN / "leap_driver"), "--ros-args",
                     "-p", f"port:={port}"])
    processes.start([sys.executable, str(BIN / "rotation_controller"), "--ros-args",
                     "-p", f"base_bundle:={BASE}", "-p", "ramp_s:=0.5",
                     "-p", f"max_step_rad:={MAX_STEP_RAD}", *controller_args])
    processes.start([sys.executable, str(BIN / "rotation_commander"), "--ros-args",
                     "-p", "axis:=[0.0, 0.0, 1.0]"])
    return control


def test_policy_runs_and_commands_stay_within_limits(virtual_hand, processes, ros_node):
    _start_loop(virtual_hand, processes)
    commands: list[JointState] = []
    steps: list[ControlStep] = []
    ros_node.create_subscription(JointState, "/leap_hand/joint_commands", commands.append, 100)
    ros_node.create_subscription(ControlStep, "/dexndm/control_step", steps.append, 100)
    def policy_ticks() -> list[ControlStep]:  # the policy's own ticks (not ramp, not holding)
        return [s for s in steps if not s.holding and not s.hold_reason]

    assert wait_until(lambda: len(policy_ticks()) >= 40, 60, spin=ros_node.spin)
    running = policy_ticks()
    targets = np.array([m.position for m in commands])
    assert np.all(targets >= LOWER - 1e-9) and np.all(targets <= UPPER + 1e-9)
    for before, step in pairwise(running):  # hand-computed from the step's own terms
        base = np.clip(np.asarray(step.previous_target) + np.asarray(step.base_delta) / 24.0,
                       LOWER, UPPER)
        unclipped = np.clip(base + np.asarray(step.residual), LOWER, UPPER)
        within = np.abs(unclipped - np.asarray(before.target)) < MAX_STEP_RAD
        assert np.allclose(np.asarray(step.target)[within], unclipped[within], atol=1e-9)
        assert np.all(np.abs(np.asarray(step.target) - before.target) <= MAX_STEP_RAD + 1e-9)
    moved = np.ptp([s.target for s in running], axis=0)
    assert moved.max() > 1e-3, "the policy never changed the target"
    assert (running[-1].axis.x, running[-1].axis.y, running[-1].axis.z) == (0.0, 0.0, 1.0)


def test_gap_meter_scores_each_tick_against_the_reading_after_it(virtual_hand, processes,
                                                                 ros_node, tmp_path):
    """A dynamics bundle with a known prediction (q_t + 1 mrad): each GapMeter message's
    prediction is the previous policy tick's reading + 1 mrad, its measurement this tick's
    reading; /diagnostics carries the meter's status."""
    bundle = drift_dynamics_bundle(tmp_path / "dynamics", [1e-3] * 16, window=2)
    _start_loop(virtual_hand, processes, "-p", f"dynamics_bundle:={bundle}",
                "-p", "gap_window_s:=0.25")
    steps: list[ControlStep] = []
    gaps: list[GapMeter] = []
    statuses: list = []
    ros_node.create_subscription(ControlStep, "/dexndm/control_step", steps.append, 100)
    ros_node.create_subscription(GapMeter, "/dexndm/gap_meter", gaps.append, 100)
    ros_node.create_subscription(
        DiagnosticArray, "/diagnostics",
        lambda m: statuses.extend(s for s in m.status if "reality gap" in s.name), 10)
    def scored() -> list:  # statuses sent after the meter scored a tick ("waiting" before)
        return [s for s in statuses if s.values]

    assert wait_until(lambda: len(gaps) >= 20 and scored(), 60, spin=ros_node.spin)
    running = [s for s in steps if not s.holding and not s.hold_reason]
    readings = [np.asarray(s.q) for s in running]
    matched = 0
    for gap in gaps:
        now = next((k for k, q in enumerate(readings) if np.array_equal(q, gap.measured)), None)
        if now is None or now == 0:
            continue
        # a step this subscriber never received (a loaded machine can lose one from the
        # publisher's history) would pair the reading with the wrong tick: each step's previous
        # target is the one the tick before it sent
        if not np.array_equal(running[now].previous_target, running[now - 1].target):
            continue
        assert np.allclose(gap.predicted, readings[now - 1] + DRIFT, atol=1e-6)
        assert np.allclose(gap.error, np.asarray(gap.measured) - gap.predicted, atol=1e-12)
        matched += 1
    assert matched >= 10
    assert all(gap.level in (0, 1, 2) for gap in gaps)
    assert np.allclose(gaps[-1].warn_threshold, 5e-3) and np.allclose(gaps[-1].error_threshold,
                                                                      1e-2)
    # no calibration in the bundle: the offset's levels are the same factors of its reference
    assert np.allclose(gaps[-1].offset_warn_threshold, 5e-3)
    assert np.allclose(gaps[-1].offset_error_threshold, 1e-2)
    # the offset (a slow mean of the errors, which are never all zero on a moving hand) is sent
    assert np.all(np.isfinite(gaps[-1].offset)) and np.any(np.asarray(gaps[-1].offset) != 0.0)
    assert scored()[-1].message.startswith("within the dynamics model's data") or \
        "beyond" in scored()[-1].message
    # per joint: motion error, offset, their warn thresholds and, once the driver's motor
    # settings are in (the torque-cap check), the share of its current cap delivered at cap
    assert wait_until(lambda: len(scored()[-1].values) == 80, 10, spin=ros_node.spin)
    assert {v.key for v in scored()[-1].values} >= {"th_axl current at cap [%]",
                                                     "if_mcp offset warn at [mrad]"}


def test_gap_meter_sees_a_lowered_goal_current(virtual_hand, processes, ros_node, tmp_path):
    """The controller reads the driver's motor settings and turns the torque-cap check on. A
    load beyond its cap holds one joint at its limit, its motor at the cap; with that motor's
    goal current lowered through the emulator (550 -> 330 mA), the meter names the joint and
    carries the share delivered (0.6); restored, the joint is back at its cap and not named."""
    bundle = drift_dynamics_bundle(tmp_path / "dynamics", [1e-3] * 16, window=2)
    control = _start_loop(virtual_hand, processes, "-p", f"dynamics_bundle:={bundle}",
                          hand_args=("--model", "mujoco", "--scene", "free"))
    gaps: list[GapMeter] = []
    ros_node.create_subscription(GapMeter, "/dexndm/gap_meter", gaps.append, 100)
    assert wait_until(lambda: gaps and gaps[-1].cap_warn_share == pytest.approx(0.7), 90,
                      spin=ros_node.spin), "the torque-cap check never came on"
    assert gaps[-1].cap_error_share == pytest.approx(0.4)
    motor = 13  # th_axl
    joint = int(MODEL_INDEX_OF_MOTOR[motor])
    control({"cmd": "load", "id": motor, "torque": 0.6, "seconds": 300})  # cap: 0.28 N m

    def latest() -> GapMeter:
        return gaps[-1]

    assert wait_until(lambda: latest().cap_delivered[joint] > 0.9, 30, spin=ros_node.spin), \
        f"never at cap: {latest().cap_delivered[joint]}"
    control({"cmd": "set", "id": motor, "name": "goal_current", "value": 330})
    # the mean over its last 5 readings at cap: 0.6 once all of them came after the write
    assert wait_until(lambda: latest().cap_delivered[joint] < 0.61, 30, spin=ros_node.spin)
    assert latest().cap_delivered[joint] == pytest.approx(0.6, abs=0.01)
    assert JOINT_NAMES[joint] in latest().joints_out and latest().level >= 1
    control({"cmd": "set", "id": motor, "name": "goal_current", "value": 550})
    assert wait_until(lambda: latest().cap_delivered[joint] > 0.99, 30, spin=ros_node.spin)
    # the cap check no longer names it (the motion statistics judge the loaded joint alone)
    assert cap_levels(latest().cap_delivered, 0.7, 0.4)[joint] == 0


@pytest.mark.slow
def test_commands_at_20_hz(virtual_hand, processes, ros_node):
    """Wall-clock rate (benchmarks/controller_loop.py measures the loop's period deviation)."""
    _start_loop(virtual_hand, processes)
    commands: list[float] = []
    steps: list[ControlStep] = []
    ros_node.create_subscription(JointState, "/leap_hand/joint_commands",
                                 lambda m: commands.append(time.monotonic()), 100)
    ros_node.create_subscription(ControlStep, "/dexndm/control_step", steps.append, 100)
    assert wait_until(lambda: len(commands) > 40, 40, spin=ros_node.spin)
    commands.clear()
    end = time.monotonic() + 30.0
    while time.monotonic() < end:
        ros_node.spin(0.01)
    rate = (len(commands) - 1) / (commands[-1] - commands[0])
    assert 19.0 <= rate <= 21.0, rate
    running = [s for s in steps[-100:] if not s.holding]
    assert running and all(abs(s.loop_period - 0.05) < 0.03 for s in running)
