"""The profile gap tool, profile specifications, and the episode metrics' goal criterion."""

from __future__ import annotations

import numpy as np
import pytest

from dexndm_control.hand import CANONICAL_POSE, LOWER, UPPER
from dexndm_sim.profile_gap import tracking_gap
from dexndm_sim.profiles import ProfileError, get_profile
from dexndm_sim.rewards import episode_metrics


def test_profile_gap_is_zero_for_one_profile_and_positive_between_two():
    actions = np.clip(CANONICAL_POSE + 0.4 * np.sin(np.linspace(0, 6, 60))[:, None],
                      LOWER, UPPER)
    same = tracking_gap(actions, actions[0], "real", "real")
    assert same["mean_rms_rad"] == 0.0
    gap = tracking_gap(actions, actions[0], "nominal", "real")
    assert gap["mean_rms_rad"] > 0.01 and len(gap["rms_rad"]) == 16


def test_profile_specs_and_the_actuator_form_of_the_xc330_law():
    spec = get_profile("real:law=actuator,goal_current_ma=550")
    assert spec == get_profile("real", law="actuator", goal_current_ma=550)
    assert spec.actuation == "position" and get_profile("real").actuation == "xc330"
    for bad, message in (("real:law", "key=value"), ("real:law=fast", "per_substep or actuator"),
                         ("reel", "unknown hardware profile"), ("real:volts=5", "does not take")):
        with pytest.raises(ProfileError, match=message):
            get_profile(bad)
    # the same PD law and torque limit, without reading quantisation and backlash: a small
    # difference (measured ~2 mrad RMS), well inside the nominal -> real gap
    actions = np.clip(CANONICAL_POSE + 0.4 * np.sin(np.linspace(0, 6, 80))[:, None],
                      LOWER, UPPER)
    law = tracking_gap(actions, actions[0], "real:effects=false",
                       "real:law=actuator")["mean_rms_rad"]
    gap = tracking_gap(actions, actions[0], "nominal", "real")["mean_rms_rad"]
    assert 1e-4 < law < 0.3 * gap


def test_goal_success_means_within_a_tenth_of_pi_of_the_goal():
    along = np.full(10, 0.5)
    near = episode_metrics(along, np.zeros(10), 0.05, 20, final_goal_distance=0.31)
    far = episode_metrics(along, np.zeros(10), 0.05, 20, final_goal_distance=0.32)
    assert near.goal_success is True and far.goal_success is False  # 0.1 pi = 0.3142
    assert near.radians == 0.25 and near.time_to_fall == 0.5 and near.rot_reward == 5.0
    assert episode_metrics(along, np.zeros(10), 0.05, 20).goal_success is None
