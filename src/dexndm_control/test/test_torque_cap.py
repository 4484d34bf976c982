"""The gap meter's torque-cap check: the position law's gains from the registers (golden values),
the driver's settings per joint, the delivered share of the cap and its levels, and the meter
and its levels with the check on."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import drift_dynamics_bundle
from dexndm_control.core.gap_levels import ERROR, OK, WARN, GapThresholds, cap_levels, cap_ratio
from dexndm_control.core.gap_meter import GapMeter
from dexndm_control.core.torque_cap import MotorLaw, TorqueCapCheck
from dexndm_control.dynamixel.dynamixel_bus import BusConfig
from dexndm_control.dynamixel.position_law import current_gains
from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES, MODEL_INDEX_OF_MOTOR, NUM_JOINTS

CAP = 0.55  # A: the LEAP hand's 550 mA goal current
LAW = MotorLaw(np.full(NUM_JOINTS, 800.0), np.full(NUM_JOINTS, 200.0), np.full(NUM_JOINTS, CAP))


def test_position_law_gains_from_the_registers():
    # P 800: 800/128 = 6.25 mA per tick, 4096 ticks per turn -> 6.25e-3 * 4096 / (2 pi) A/rad;
    # D 200: 200/16 = 12.5 mA per 0.229 rpm -> 12.5e-3 / (0.229 * 2 pi / 60) A per rad/s
    per_rad, per_rad_s = current_gains(800, 200)
    assert per_rad == pytest.approx(4.07437, abs=1e-5)
    assert per_rad_s == pytest.approx(0.52125, abs=1e-6)
    # the side motors' 0.75 x gains: 0.75 x the currents
    assert np.allclose(current_gains([600, 800], [150, 200]),
                       [[0.75 * per_rad, per_rad], [0.75 * per_rad_s, per_rad_s]])


def test_motor_law_takes_each_motors_gains_and_the_goal_current_from_the_driver():
    law = MotorLaw.from_bus_config(BusConfig(goal_current_ma=400, current_limit_ma=550))
    side = [int(MODEL_INDEX_OF_MOTOR[m]) for m in (0, 4, 8)]  # abduction: 0.75 x the gains
    assert sorted(JOINT_NAMES[j] for j in side) == ["if_rot", "mf_rot", "rf_rot"]
    assert np.all(law.p_gain[side] == 600) and np.all(law.d_gain[side] == 150)
    rest = np.setdiff1d(np.arange(NUM_JOINTS), side)
    assert np.all(law.p_gain[rest] == 800) and np.all(law.d_gain[rest] == 200)
    assert np.allclose(law.cap, 0.4)
    with pytest.raises(DexndmError, match="no motor"):
        MotorLaw.from_bus_config(BusConfig(motor_ids=tuple(range(15))))


def test_delivered_share_is_judged_only_where_the_law_asks_for_more_than_the_cap():
    check = TorqueCapCheck(LAW, demand_margin=1.5, memory=3, stale_ticks=4)
    q, velocity = np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS)
    target = np.zeros(NUM_JOINTS)
    target[0] = 0.25  # 4.07 A/rad * 0.25 rad = 1.02 A >= 1.5 * 0.55: at cap
    target[1] = 0.15  # 0.61 A < 0.825 A: not judged
    current = np.zeros(NUM_JOINTS)
    current[0], current[1] = -0.55, 0.3  # the sign of the current does not matter
    delivered = check.update(q, velocity, current, target)
    assert delivered[0] == pytest.approx(1.0)
    assert np.all(np.isnan(delivered[1:]))
    current[0] = 0.275  # half the cap: the mean of the last 3 readings at cap
    check.update(q, velocity, current, target)
    delivered = check.update(q, velocity, current, target)
    assert delivered[0] == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    delivered = check.update(q, velocity, current, target)
    assert delivered[0] == pytest.approx(0.5)  # the first reading left the memory
    assert cap_levels(delivered, 0.7, 0.4)[0] == WARN  # 0.4 <= 0.5 < 0.7
    # the joint leaves the cap: its readings are kept for stale_ticks readings, then forgotten
    target[0] = 0.0
    for _ in range(3):
        assert check.update(q, velocity, current, target)[0] == pytest.approx(0.5)
    assert np.isnan(check.update(q, velocity, current, target)[0])
    # moving fast towards the target lowers what the law asks for: 1.02 - 0.52 * 1.5 A
    target[0], velocity[0] = 0.25, 1.5
    assert np.isnan(check.update(q, velocity, current, target)[0])
    # a motor without torque delivers nothing at cap
    velocity[0], current[0] = 0.0, 0.0
    assert cap_levels(check.update(q, velocity, current, target), 0.7, 0.4)[0] == ERROR


def test_cap_levels_and_ratio():
    delivered = np.array([np.nan, 1.0, 0.7, 0.69, 0.4, 0.39, 0.0])
    assert list(cap_levels(delivered, 0.7, 0.4)) == [OK, OK, OK, WARN, WARN, ERROR, ERROR]
    assert list(cap_levels(delivered, 0.0, 0.0)) == [OK] * 7  # a message without the check
    ratio = cap_ratio(delivered, 0.7)
    assert ratio[0] == 0.0 and ratio[1] == pytest.approx(0.7) and ratio[2] == pytest.approx(1.0)
    assert ratio[6] == np.inf
    assert np.all(cap_ratio(delivered, 0.0) == 0.0)
    thresholds = GapThresholds(*(np.full(7, 1.0) for _ in range(4)), source="test",
                               cap_warn=0.7, cap_error=0.4)
    levels = thresholds.joint_levels(np.zeros(7), np.zeros(7), delivered)
    assert list(levels) == [OK, OK, OK, WARN, WARN, ERROR, ERROR]
    assert thresholds.ratio(np.full(7, 0.5), np.zeros(7), delivered)[1] == pytest.approx(0.7)


def test_the_meter_names_a_joint_that_delivers_less_than_its_cap(tmp_path):
    bundle = drift_dynamics_bundle(tmp_path / "dynamics", [1e-3] * NUM_JOINTS, window=2)
    meter = GapMeter(bundle, window=2, offset_ticks=40)
    meter.watch_torque_cap(TorqueCapCheck(LAW))
    assert (meter.thresholds.cap_warn, meter.thresholds.cap_error) == (0.7, 0.4)
    q = np.zeros(NUM_JOINTS)
    sent = np.zeros(NUM_JOINTS)
    sent[3] = 0.5  # if_dip held 0.5 rad from its target: 2 A asked, at cap
    current = np.zeros(NUM_JOINTS)
    current[3] = 0.33  # a cap lowered to 330 mA: 60 % of the configured one
    readings = [meter.update(q, sent, np.zeros(NUM_JOINTS), current) for _ in range(4)]
    assert readings[0] is None  # nothing predicted yet
    last = readings[-1]
    # the motion statistics are still settling (40 ticks); the cap check judges at once
    assert last.level == WARN and last.joints_out == ["if_dip"]
    assert last.cap_delivered[3] == pytest.approx(0.6)
    assert np.all(np.isnan(np.delete(last.cap_delivered, 3)))
    level, message, values = meter.diagnostic(last)
    assert level == WARN and "if_dip delivers less than 70% of the current cap" in message
    assert values["if_dip current at cap [%]"] == "60" and \
        values["if_rot current at cap [%]"] == "not at cap"
    # without velocity and current (a driver that sends no effort) the check stays silent
    meter.reset()
    for _ in range(4):
        reading = meter.update(q, sent)
    assert reading.level == OK and np.all(np.isnan(reading.cap_delivered))
