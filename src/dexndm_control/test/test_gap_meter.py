"""The live gap meter: time alignment of predictions and readings, rolling error, levels and the
joints named, against a dynamics bundle whose prediction is known exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import DRIFT, drift_dynamics_bundle
from dexndm_control.core.controller import ControllerConfig, ControllerCore
from dexndm_control.core.gap_meter import ERROR, OK, WARN, GapMeter, GapSummary
from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.policy.bundle import update_bundle_info
from dexndm_control.policy.runtime import PolicyRuntime

BASE = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"
WRIST, AXIS = np.array([0.0, 1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
def test_predictions_are_scored_against_the_next_reading(tmp_path):
    meter = GapMeter(drift_dynamics_bundle(tmp_path / "d", [5e-4] * 16), window=4)
    q = np.linspace(-0.3, 0.3, 16)
    readings = [meter.update(q + 0.002 * k, np.zeros(16)) for k in range(8)]
    # W = 3 pairs before the first prediction, scored at the 4th reading
    assert readings[:3] == [None, None, None]
    first = readings[3]
    # predicted from reading 2 (float32 network: 1e-6 rad)
    assert np.allclose(first.predicted, q + 0.002 * 2 + DRIFT, atol=1e-6)
    assert np.allclose(first.measured, q + 0.002 * 3, atol=1e-6)
    assert np.allclose(first.error, 0.002 - DRIFT, atol=1e-6)
    assert np.allclose(first.rolling_mae, 0.001, atol=1e-6)
    assert first.level == OK  # too few scored ticks to judge (1 of 4), never a false alarm
    last = readings[-1]
    assert np.allclose(last.rolling_mae, 0.001, atol=1e-6)
    assert last.level == OK  # 2x the reference, under 3x
    assert last.joints_out == []


def test_levels_and_named_joints_follow_the_bundles_own_error(tmp_path):
    reference = np.full(16, 1e-3)
    reference[JOINT_NAMES.index("rf_mcp")] = 2e-4  # 5x: warn
    reference[JOINT_NAMES.index("th_cmc")] = 5e-5  # 20x: error
    meter = GapMeter(drift_dynamics_bundle(tmp_path / "d", reference), window=2, warn_factor=3.0)
    q = np.zeros(16)
    levels = [meter.update(q, q) for _ in range(6)]
    assert levels[3].level == OK  # one scored tick of two
    assert levels[4].level == ERROR and levels[4].joints_out == ["rf_mcp", "th_cmc"]
    level, message, values = meter.diagnostic(levels[4])
    assert level == ERROR and "rf_mcp, th_cmc beyond 10x" in message
    assert values["th_cmc rolling MAE [mrad]"] == "1.00"
    assert values["rf_mcp warn at [mrad]"] == "0.60"
    reference[JOINT_NAMES.index("th_cmc")] = 1e-3
    meter = GapMeter(drift_dynamics_bundle(tmp_path / "e", reference), window=2, warn_factor=3.0)
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
    meter = GapMeter(bundle, window=2)
    assert meter.reference_source == "task runs" and np.allclose(meter.reference, 5e-4)
    readings = [meter.update(np.zeros(16), np.zeros(16)) for _ in range(6)]
    assert readings[-1].level == OK  # 2x the task error, under 5x
    level, message, _ = meter.diagnostic(readings[-1])
    assert level == OK and "2.0x its error on task runs" in message
