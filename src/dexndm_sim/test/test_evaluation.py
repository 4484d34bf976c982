"""Evaluation runner and profile gap tool on the shipped test policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dexndm_control.hand import CANONICAL_POSE, LOWER, UPPER
from dexndm_sim.evaluation import EvalConfig, _relative_axis, evaluate_policy, tracking_gap
from dexndm_sim.rewards import axis_angle_quat, quat_multiply

POLICY = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"


def test_evaluation_over_objects_axes_and_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "eval.json"
    result = evaluate_policy(EvalConfig(str(POLICY), ("small_cylinders",), 1, ("palm_up",), "z",
                                        (0, 1), 40), out)
    entry = result["results"]["small_cylinders/palm_up"]
    assert set(entry) == {"rot_reward", "rot_penalty", "time_to_fall", "radians"}
    assert 0.0 < entry["time_to_fall"][0] <= 1.0 and entry["time_to_fall"][1] >= 0.0
    assert json.loads(out.read_text())["results"] == result["results"]
    goal = evaluate_policy(EvalConfig(str(POLICY), ("small_cylinders",), 1, ("palm_up",), "z",
                                      (0,), 20, goal_oriented=True))
    assert 0.0 <= goal["results"]["small_cylinders/palm_up"]["goal_success"][0] <= 1.0


def test_relative_axis_of_a_known_rotation():
    start = np.array([1.0, 0.0, 0.0, 0.0])
    goal = quat_multiply(axis_angle_quat(np.array([0.0, 1.0, 0.0]), 0.7), start)
    axis, angle = _relative_axis(start, goal)
    assert np.allclose(axis, [0.0, 1.0, 0.0]) and np.isclose(angle, 0.7)


def test_profile_gap_is_zero_for_one_profile_and_positive_between_two():
    actions = np.clip(CANONICAL_POSE + 0.4 * np.sin(np.linspace(0, 6, 60))[:, None],
                      LOWER, UPPER)
    same = tracking_gap(actions, actions[0], "real", "real")
    assert same["mean_rms_rad"] == 0.0
    gap = tracking_gap(actions, actions[0], "nominal", "real")
    assert gap["mean_rms_rad"] > 0.01 and len(gap["rms_rad"]) == 16
