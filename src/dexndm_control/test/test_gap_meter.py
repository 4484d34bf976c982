"""The live gap meter: time alignment of predictions and readings, rolling error, levels and the
joints named, against a dynamics bundle whose prediction is known exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import DRIFT, drift_dynamics_bundle
from dexndm_control.core.controller import ControllerConfig, ControllerCore
from dexndm_control.core.gap_levels import ERROR, OK, WARN
from dexndm_control.core.gap_meter import (
    CALIBRATION_FLOOR,
    GapMeter,
    GapStatistics,
    GapSummary,
    calibrate,
    store_calibration,
)
from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.policy.bundle import update_bundle_info
from dexndm_control.policy.runtime import PolicyRuntime

BASE = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"
WRIST, AXIS = np.array([0.0, 1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
def test_predictions_are_scored_against_the_next_reading(tmp_path):
    meter = GapMeter(drift_dynamics_bundle(tmp_path / "d", [5e-4] * 16), window=4,
                     offset_ticks=3)
    q = np.linspace(-0.3, 0.3, 16)
    readings = [meter.update(q + 0.002 * k, np.zeros(16)) for k in range(8)]
    # W = 3 pairs before the first prediction, scored at the 4th reading
    assert readings[:3] == [None, None, None]
    first = readings[3]
    # predicted from reading 2 (float32 network: 1e-6 rad)
    assert np.allclose(first.predicted, q + 0.002 * 2 + DRIFT, atol=1e-6)
    assert np.allclose(first.measured, q + 0.002 * 3, atol=1e-6)
    assert np.allclose(first.error, 0.002 - DRIFT, atol=1e-6)
    assert np.allclose(first.rolling_mae, 0.001, atol=1e-6)  # no offset known yet: |e|
    assert np.allclose(first.offset, 0.001, atol=1e-6)
    assert first.level == OK  # too few scored ticks to judge (1 of 3), never a false alarm
    last = readings[-1]
    # a constant error is all offset: once the first tick left the window, no motion error
    assert np.allclose(readings[6].rolling_mae, 0.00025, atol=1e-6)  # |e| of 4 ticks' first
    assert np.allclose(last.rolling_mae, 0.0, atol=1e-6)
    assert np.allclose(last.offset, 0.001, atol=1e-6)
    assert last.level == OK  # offset 2x the reference, under 5x
    assert last.joints_out == []


def test_offset_and_motion_error_hand_computed():
    statistics = GapStatistics(window=2, offset_ticks=3)
    motions = [statistics.update(np.full(16, e))[0] for e in (0.003, 0.001, 0.002, 0.006)]
    # offsets after each tick: 0.003 (mean of 1), 0.002 (mean of 2), 0.002, 0.002 + 0.004 / 3;
    # deviations |e_t - offset_(t-1)|: 0.003 (no offset yet), 0.002, 0, 0.004
    assert np.allclose(motions, [0.003, 0.0025, 0.001, 0.002])
    assert np.allclose(statistics.offset, 0.002 + 0.004 / 3)
    assert statistics.judged and statistics.count == 4
    statistics.reset()
    assert not statistics.judged and np.allclose(statistics.offset, 0.0)


def test_levels_and_named_joints_follow_the_bundles_own_error(tmp_path):
    reference = np.full(16, 1e-3)
    reference[JOINT_NAMES.index("rf_mcp")] = 2e-4  # offset 1 mrad = 5x: warn
    reference[JOINT_NAMES.index("th_cmc")] = 5e-5  # 20x: error
    bundle = drift_dynamics_bundle(tmp_path / "d", reference)
    meter = GapMeter(bundle, window=2, warn_factor=3.0, offset_ticks=2)
    q = np.zeros(16)
    levels = [meter.update(q, q) for _ in range(6)]
    assert levels[3].level == OK  # one scored tick of two
    assert levels[4].level == ERROR and levels[4].joints_out == ["rf_mcp", "th_cmc"]
    level, message, values = meter.diagnostic(levels[4])
    assert level == ERROR and "rf_mcp, th_cmc beyond the warn threshold" in message
    assert "worst th_cmc 6.7x" in message  # 1 mrad offset against 3 x 0.05
    assert values["th_cmc offset [mrad]"] == "-1.00"
    assert values["th_cmc motion error [mrad]"] == "0.50"  # (|e| + 0) / 2
    assert values["rf_mcp offset warn at [mrad]"] == "0.60"
    reference[JOINT_NAMES.index("th_cmc")] = 1e-3
    meter = GapMeter(drift_dynamics_bundle(tmp_path / "e", reference), window=2,
                     warn_factor=3.0, offset_ticks=2)
    levels = [meter.update(q, q) for _ in range(6)]
    assert levels[-1].level == WARN and levels[-1].joints_out == ["rf_mcp"]
    summary = GapSummary()
    for reading in levels[3:]:
        summary.add(reading)
    report = summary.to_dict(meter.reference)
    assert report["ticks"] == 3 and report["level_share"] == {"OK": 0.333, "WARN": 0.667,
                                                              "ERROR": 0.0}
    assert report["mae_mrad"] == 1.0 and report["worst_joint"] == "rf_mcp"


def test_a_bundle_without_its_held_out_error_is_refused(tmp_path):
    with pytest.raises(DexndmError, match="eval_mae_per_joint"):
        GapMeter(drift_dynamics_bundle(tmp_path / "d", None))


def test_calibrated_thresholds_are_a_margin_over_the_largest_value_seen(tmp_path):
    # two stretches; joint 0 swings +-2 mrad around a -10 mrad offset, the rest sit at 0
    swing = np.zeros((60, 16))
    swing[:, 0] = -0.010 + 0.002 * (-1.0) ** np.arange(60)
    calibration = calibrate([swing, np.zeros((50, 16))], window=4, offset_ticks=5,
                            warn_margin=2.0, error_margin=4.0)
    assert calibration["ticks"] == (60 - 4) + (50 - 4)  # judged from each stretch's 5th tick
    # the offset settles to alternate around -10 mrad by 2 x 0.2 / 1.8 mrad (an EMA of 1/5)
    assert calibration["offset_max"][0] == pytest.approx(0.010 + 0.002 * 0.2 / 1.8, abs=2e-6)
    # the largest motion error: at the 5th tick, deviations 4, 2, 8/3 and 2 mrad
    assert calibration["motion_max"][0] == pytest.approx(0.008 / 3)
    assert calibration["motion_warn"][0] == pytest.approx(2 * calibration["motion_max"][0])
    assert calibration["offset_error"][0] == pytest.approx(4 * calibration["offset_max"][0])
    assert calibration["motion_max"][1] == CALIBRATION_FLOOR == pytest.approx(0.767e-3, abs=1e-6)
    with pytest.raises(DexndmError, match="at least 50"):
        calibrate([np.zeros((20, 16))], window=4, offset_ticks=5)

    bundle = drift_dynamics_bundle(tmp_path / "d", [1e-4] * 16)
    update_bundle_info(bundle, gap_meter={"reference_mae_per_joint": [5e-4] * 16})
    store_calibration(bundle, calibration, ["run_1"])
    meter = GapMeter(bundle, window=4, offset_ticks=5)
    assert meter.reference_source == "task runs"  # the reference stays beside the calibration
    assert np.allclose(meter.warn, calibration["motion_warn"])
    # the drift bundle errs by a constant -1 mrad: under the floor's 2x on every joint
    readings = [meter.update(np.zeros(16), np.zeros(16)) for _ in range(12)]
    assert readings[-1].level == OK
    level, message, _ = meter.diagnostic(readings[-1])
    assert "calibrated on 102 ticks of supervised runs" in message
    # joints moving 5 mrad a tick err by +4 mrad: an offset beyond 4x the floor, but not 2x
    # what joint 0 held in the runs
    meter.reset()
    readings = [meter.update(np.full(16, 0.005 * k), np.zeros(16)) for k in range(12)]
    assert readings[-1].level == ERROR and "if_mcp" not in readings[-1].joints_out
    assert len(readings[-1].joints_out) == 15
    with pytest.raises(DexndmError, match="gap_window_s / gap_offset_s"):
        GapMeter(bundle, window=10, offset_ticks=5)


def test_the_controller_scores_policy_ticks_and_restarts_after_a_hold(tmp_path):
    bundle = drift_dynamics_bundle(tmp_path / "d", [1e-3] * 16, window=2)
    config = ControllerConfig(base_bundle=str(BASE), ramp_s=0.05, dynamics_bundle=str(bundle),
                              gap_window_s=0.1)
    runtime = PolicyRuntime(BASE)
    core = ControllerCore(runtime, config, config.gap_meter())
    q = runtime.initial_pose.copy()
    now = 100.0
    gaps, targets = [], []
    for tick in range(8):
        now += 0.05
        decision = core.tick(now, now, q, now if tick != 4 else None, AXIS, True, WRIST)
        assert decision.gap is None  # the meter runs once the target is sent
        core.score_gap(decision, q)
        gaps.append(decision.gap)
        targets.append(decision.target)
        if decision.step is not None:
            assert decision.gap_s > 0
    # tick 0 ramps; ticks 1-3 run (two pairs, then the first score at tick 3); tick 4 holds
    # (no command); ticks 5-7 run again from an empty history (first score at tick 7)
    assert [g is not None for g in gaps] == [False, False, False, True, False, False, False,
                                             True]
    assert np.allclose(gaps[3].predicted, q + DRIFT, atol=1e-6)
    assert np.allclose(gaps[3].error, -DRIFT, atol=1e-6)
    assert np.allclose(gaps[7].predicted, q + DRIFT, atol=1e-6)


def test_a_reference_measured_on_the_task_takes_precedence(tmp_path):
    bundle = drift_dynamics_bundle(tmp_path / "d", [1e-4] * 16)  # held-out: every tick 10x, ERROR
    update_bundle_info(bundle, gap_meter={"reference_mae_per_joint": [5e-4] * 16})
    meter = GapMeter(bundle, window=2, offset_ticks=2)
    assert meter.reference_source == "task runs" and np.allclose(meter.reference, 5e-4)
    readings = [meter.update(np.zeros(16), np.zeros(16)) for _ in range(6)]
    assert readings[-1].level == OK  # offset 2x the task error, under 5x
    level, message, _ = meter.diagnostic(readings[-1])
    assert level == OK and "0.40 of its warn threshold" in message and "task runs" in message
