"""The hand description table, checked both ways and against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dexndm_control import hand


def test_joint_order_and_motor_ids():
    assert hand.JOINT_NAMES[:4] == ("if_mcp", "if_rot", "if_pip", "if_dip")
    assert hand.JOINT_NAMES[12:] == ("th_cmc", "th_axl", "th_mcp", "th_ipl")
    assert hand.MOTOR_IDS.tolist() == [1, 0, 2, 3, 5, 4, 6, 7, 9, 8, 10, 11, 12, 13, 14, 15]
    # both directions: model index -> motor -> model index
    assert all(hand.MODEL_INDEX_OF_MOTOR[hand.MOTOR_IDS[i]] == i for i in range(16))
    assert sorted(hand.MOTOR_IDS.tolist()) == list(range(16))
    assert [hand.JOINT_NAMES[i] for i in np.flatnonzero(hand.SIDE_JOINT)] == \
        ["if_rot", "mf_rot", "rf_rot"]
    assert sorted(hand.MOTOR_IDS[hand.SIDE_JOINT].tolist()) == [0, 4, 8]


def test_ticks_and_offset():
    ticks = hand.model_to_motor_ticks(np.zeros(16))
    assert ticks.tolist() == [2048] * 16  # flat hand = motor angle pi
    q = np.zeros(16)
    q[0] = math.pi / 2  # if_mcp is motor 1
    ticks = hand.model_to_motor_ticks(q)
    assert ticks[1] == 3072 and ticks[0] == 2048
    back = hand.motor_ticks_to_model(ticks)
    assert back[0] == pytest.approx(math.pi / 2) and back[1] == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    q = rng.uniform(hand.LOWER, hand.UPPER)
    assert np.abs(hand.motor_ticks_to_model(hand.model_to_motor_ticks(q)) - q).max() <= \
        hand.RAD_PER_TICK / 2 + 1e-12


def test_unit_conversions():
    units = np.zeros(16)
    units[5] = 100  # motor 5 = mf_mcp (model index 4)
    assert hand.motor_velocity_to_model(units)[4] == pytest.approx(100 * 0.229 * 2 * math.pi / 60)
    current = np.zeros(16)
    current[12] = 350  # mA on motor 12 = th_cmc
    assert hand.motor_current_to_model(current)[12] == pytest.approx(0.35)


def test_canonical_pose_from_isaac_order():
    pose = dict(zip(hand.JOINT_NAMES, hand.CANONICAL_POSE, strict=True))
    # paper appendix C, Isaac order: index(1.244, 0.082, 0.265, 0.298), thumb(1.163, 1.104,
    # 0.953, -0.138), middle(1.096, 0.005, 0.080, 0.150), ring(1.337, 0.029, 0.285, 0.317)
    assert (pose["if_mcp"], pose["if_rot"], pose["if_dip"]) == (1.244, 0.082, 0.298)
    assert (pose["th_cmc"], pose["th_axl"], pose["th_mcp"], pose["th_ipl"]) == \
        (1.163, 1.104, 0.953, -0.138)
    assert (pose["mf_mcp"], pose["mf_rot"], pose["rf_mcp"], pose["rf_dip"]) == \
        (1.096, 0.005, 1.337, 0.317)
    assert np.array_equal(hand.to_isaac_order(hand.CANONICAL_POSE), hand.CANONICAL_POSE_ISAAC)
    assert np.all((hand.CANONICAL_POSE >= hand.LOWER) & (hand.CANONICAL_POSE <= hand.UPPER))


def test_limits_from_model_figures():
    assert (hand.LOWER[0], hand.UPPER[0]) == (-0.314, 2.23)
    assert (hand.LOWER[15], hand.UPPER[15]) == (-1.34, 1.88)
    assert np.all(hand.LOWER < 0) and np.all(hand.UPPER > 0)
    assert hand.clip_to_limits(np.full(16, 10.0)).tolist() == hand.UPPER.tolist()


def test_positions_by_name_has_one_behaviour_for_every_reader():
    from dexndm_control.errors import JointNameError
    from dexndm_control.hand import JOINT_NAMES, positions_by_name

    values = np.arange(16, dtype=float)
    assert np.array_equal(positions_by_name(JOINT_NAMES, values), values)
    assert np.array_equal(positions_by_name([], values), values)  # unnamed: model order
    reversed_names = list(reversed(JOINT_NAMES))
    assert np.array_equal(positions_by_name(reversed_names, values[::-1]), values)
    partial = positions_by_name(["th_ipl", "if_mcp"], [7.0, 8.0])
    assert partial[15] == 7.0 and partial[0] == 8.0 and np.isnan(partial[1:15]).all()
    held = positions_by_name(["if_rot"], [5.0], fill=values)
    assert held[1] == 5.0 and np.array_equal(np.delete(held, 1), np.delete(values, 1))
    for names, given, message in ((["if_mcp", "wrist"], [0.0, 1.0], "unknown joint name"),
                                  (["if_mcp", "if_mcp"], [0.0, 1.0], "named twice"),
                                  (["if_mcp"], [0.0, 1.0], "1 names but 2 values"),
                                  ([], [0.0] * 15, "needs all 16 values")):
        with pytest.raises(JointNameError, match=message):
            positions_by_name(names, given)
