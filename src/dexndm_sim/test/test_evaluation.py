"""Evaluation runner and profile gap tool on the shipped test policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dexndm_control.hand import CANONICAL_POSE, LOWER, UPPER
from dexndm_control.rotations import axis_angle_quat, quat_multiply
from dexndm_sim.evaluation import EvalConfig, _relative_axis, evaluate_policy, tracking_gap

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
    # one seed, one episode toward a random goal: the 1 s episode of the tiny test policy turns
    # the object 0.27 rad, nowhere near a random orientation: no success, exactly 0 of 1
    go = goal["results"]["small_cylinders/palm_up"]
    assert go["goal_success"] == [0.0, 0.0] and go["time_to_fall"] == [1.0, 0.0]


def test_goal_success_means_within_a_tenth_of_pi_of_the_goal():
    from dexndm_sim.rewards import episode_metrics

    along = np.full(10, 0.5)
    near = episode_metrics(along, np.zeros(10), 0.05, 20, final_goal_distance=0.31)
    far = episode_metrics(along, np.zeros(10), 0.05, 20, final_goal_distance=0.32)
    assert near.goal_success is True and far.goal_success is False  # 0.1 pi = 0.3142
    assert near.radians == 0.25 and near.time_to_fall == 0.5 and near.rot_reward == 5.0
    assert episode_metrics(along, np.zeros(10), 0.05, 20).goal_success is None


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


def test_profile_specs_and_the_actuator_form_of_the_xc330_law():
    import pytest

    from dexndm_sim.profiles import ProfileError, get_profile, profile_from_spec

    spec = profile_from_spec("real:law=actuator,goal_current_ma=550")
    assert spec == get_profile("real", law="actuator", goal_current_ma=550)
    assert spec.actuation == "position" and get_profile("real").actuation == "xc330"
    for bad, message in (("real:law", "key=value"), ("real:law=fast", "per_substep or actuator"),
                         ("reel", "unknown hardware profile"), ("real:volts=5", "does not take")):
        with pytest.raises(ProfileError, match=message):
            profile_from_spec(bad)
    # the same PD law and torque limit, without reading quantisation and backlash: a small
    # difference (measured ~2 mrad RMS), well inside the nominal -> real gap
    actions = np.clip(CANONICAL_POSE + 0.4 * np.sin(np.linspace(0, 6, 80))[:, None],
                      LOWER, UPPER)
    law = tracking_gap(actions, actions[0], "real", "real:law=actuator")["mean_rms_rad"]
    gap = tracking_gap(actions, actions[0], "nominal", "real")["mean_rms_rad"]
    assert 1e-4 < law < 0.3 * gap
