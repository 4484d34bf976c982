"""Policy evaluation in simulation on the shipped test policy, and the profile gap tool."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dexndm_control.errors import DexndmError
from dexndm_control.rotations import axis_angle_quat, quat_multiply
from dexndm_learning.evaluation import (
    EvalConfig,
    HoldStill,
    _relative_axis,
    evaluate_policy,
    format_results,
    run_episode,
    set_outcomes,
)
from dexndm_learning.outcomes import mean_interval, outcome_summary, per_axis, per_object
from dexndm_sim.grasps import load_or_generate
from dexndm_sim.objects import generate_category
from dexndm_sim.profiles import get_profile
from dexndm_sim.scene import SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import wrist_quaternion

POLICY = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"


def test_evaluation_over_objects_axes_and_seeds(tmp_path):
    out = tmp_path / "eval.json"
    result = evaluate_policy(EvalConfig(str(POLICY), ("small_cylinders",), 1, ("palm_up",), "z",
                                        (0, 1), 40, episodes_per_axis=2), out)
    entry = result["results"]["small_cylinders/palm_up"]
    assert set(entry) == {"rot_reward", "rot_penalty", "time_to_fall", "radians", "drops",
                          "episodes", "ci95", "starts"}
    low, high = entry["ci95"]["time_to_fall"]
    assert 0.0 <= low <= entry["time_to_fall"][0] <= high <= 1.0
    assert 0.0 < entry["time_to_fall"][0] <= 1.0 and entry["time_to_fall"][1] >= 0.0
    assert json.loads(out.read_text())["results"] == result["results"]
    # one object, seeds 0 and 1, +z and -z twice: eight episodes, each naming its start
    episodes = result["episodes"]
    plus, minus = [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]
    assert [(e["seed"], e["axis"]) for e in episodes] == [
        (0, plus), (0, minus), (0, plus), (0, minus), (1, plus), (1, minus), (1, plus), (1, minus)]
    assert all(e["object"] == "small_cylinders_000" and 0 <= e["grasp"] < 4 for e in episodes)
    radians = [e["radians"] for e in episodes]
    assert np.isclose(entry["radians"][0], np.mean(radians))  # mean +- std over the episodes
    assert np.isclose(entry["radians"][1], np.std(radians)) and entry["radians"][1] > 0
    # one object: its per-object row is the set's own numbers, with its episodes and drops
    row = result["per_object"]["small_cylinders/palm_up"]["small_cylinders_000"]
    assert row["radians"] == entry["radians"] and row["time_to_fall"] == entry["time_to_fall"]
    dropped = sum(e["fell"] for e in episodes)
    assert dropped == sum(e["time_to_fall"] < 1.0 for e in episodes)  # none on its last step
    assert row["episodes"] == entry["episodes"] == 8
    assert row["drops"] == entry["drops"] == dropped / 8
    # +z and -z, four episodes each: each row the mean of its own episodes
    axes = result["per_axis"]["small_cylinders/palm_up"]
    assert list(axes) == ["+z", "-z"] and axes["+z"]["episodes"] == axes["-z"]["episodes"] == 4
    assert axes["+z"]["radians"][0] == pytest.approx(np.mean(radians[0::2]))
    assert axes["-z"]["time_to_fall"][0] == pytest.approx(
        np.mean([e["time_to_fall"] for e in episodes[1::2]]))
    table = format_results(result).splitlines()
    assert table[1].startswith("small_cylinders/palm_up") and "(8 ep., " in table[1]
    low, high = entry["ci95"]["radians"]
    assert f"Rot 95 % CI [{low:.2f}, {high:.2f}]" in table[1]
    assert table[2].strip().startswith("small_cylinders_000") and "(8 ep., " in table[2]
    assert result["measured_with"]["cpu"] and result["measured_with"]["mujoco"]
    # one episode per axis is the first round of two: the same starts and the same episodes
    once = evaluate_policy(EvalConfig(str(POLICY), ("small_cylinders",), 1, ("palm_up",), "z",
                                      (0, 1), 40, episodes_per_axis=1))["episodes"]
    assert once == episodes[0:2] + episodes[4:6]
    with pytest.raises(DexndmError, match="--episodes-per-axis must be at least 1"):
        evaluate_policy(EvalConfig(str(POLICY), ("small_cylinders",), 1, ("palm_up",), "z",
                                   (0,), 40, episodes_per_axis=0))
    goal = evaluate_policy(EvalConfig(str(POLICY), ("small_cylinders",), 1, ("palm_up",), "z",
                                      (0,), 20, goal_oriented=True))
    # one seed, one episode toward a random goal: the 1 s episode of the tiny test policy turns
    # the object 0.27 rad, nowhere near a random orientation: no success, exactly 0 of 1
    go = goal["results"]["small_cylinders/palm_up"]
    assert go["goal_success"] == [0.0, 0.0] and go["time_to_fall"] == [1.0, 0.0]


def test_every_start_runs_each_start_once_and_a_draw_repeats_them():
    """Four grasps about +-z are eight starts: --every-start runs each once, in grasp order; a
    draw of six episodes per axis must repeat some, and a repeated start repeats its episode
    exactly (the policy and the physics are deterministic), which the report counts."""
    common = dict(categories=("small_cylinders",), objects_per_category=1, wrists=("palm_up",),
                  axes="z", seeds=(0,), steps=10)
    every = evaluate_policy(EvalConfig(str(POLICY), every_start=True, **common))
    plus, minus = [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]
    assert [(e["grasp"], e["axis"]) for e in every["episodes"]] == [
        (grasp, axis) for grasp in range(4) for axis in (plus, minus)]
    cell = every["results"]["small_cylinders/palm_up"]
    assert cell["episodes"] == cell["starts"] == 8
    assert "(8 ep., " in format_results(every).splitlines()[1]
    by_start = {(e["grasp"], tuple(e["axis"])): e for e in every["episodes"]}
    drawn = evaluate_policy(EvalConfig(str(POLICY), episodes_per_axis=6, **common))
    cell = drawn["results"]["small_cylinders/palm_up"]
    assert cell["episodes"] == 12 and cell["starts"] < 12
    assert cell["starts"] == len({(e["grasp"], tuple(e["axis"])) for e in drawn["episodes"]})
    assert f"(12 ep., {cell['starts']} distinct starts, " in format_results(drawn).splitlines()[1]
    for episode in drawn["episodes"]:
        assert episode == by_start[(episode["grasp"], tuple(episode["axis"]))]
    with pytest.raises(DexndmError, match="--grasps-per-search must be at least 1"):
        EvalConfig(str(POLICY), grasps_per_search=0, **common)


def test_a_sets_episodes_become_the_outcomes_every_report_summarises():
    def episode(key, name, rad, ttf, fell, goal=None, axis=(0.0, 0.0, 1.0)):
        return {"set": key, "object": name, "radians": rad, "time_to_fall": ttf, "fell": fell,
                "rot_reward": 10 * rad, "rot_penalty": 0.1, "goal_success": goal, "grasp": 0,
                "axis": None if goal is not None else list(axis)}

    # the third episode dropped the object on its last step: held the whole time, still a drop
    episodes = [episode("cylinders/palm_up", "a", 6.0, 1.0, False),
                episode("cylinders/palm_up", "a", 2.0, 0.5, True, axis=(0.0, 0.0, -1.0)),
                episode("cylinders/palm_up", "b", 1.0, 1.0, True),
                episode("cuboids/palm_up", "c", 0.5, 1.0, False)]
    outcomes = set_outcomes(episodes, "cylinders/palm_up")
    assert list(outcomes["object"]) == ["a", "a", "b"] and "goal_success" not in outcomes
    assert list(outcomes["axis"]) == ["+z", "-z", "+z"]
    axes = per_axis(outcomes)
    assert axes["+z"]["radians"] == [3.5, 2.5] and axes["+z"]["drops"] == 0.5
    assert axes["-z"]["time_to_fall"] == [0.5, 0.0] and axes["-z"]["episodes"] == 1
    cell = outcome_summary(outcomes)
    assert cell["radians"] == pytest.approx([3.0, np.std([6.0, 2.0, 1.0])])
    assert cell["drops"] == pytest.approx(2 / 3) and cell["episodes"] == 3
    rows = per_object(outcomes)
    assert rows["a"]["radians"] == [4.0, 2.0] and rows["a"]["time_to_fall"] == [0.75, 0.25]
    assert rows["a"]["episodes"] == 2 and rows["a"]["drops"] == 0.5
    assert rows["b"]["radians"] == [1.0, 0.0] and rows["b"]["drops"] == 1.0
    # resampled means of [6, 2, 1] lie between 1 and 6 and the interval holds the mean; one
    # episode has none
    low, high = cell["ci95"]["radians"]
    assert 1.0 <= low < 3.0 < high <= 6.0
    assert rows["b"]["ci95"] == {"radians": None, "time_to_fall": None}
    goal = set_outcomes([episode("s", "a", 0.1, 1.0, False, True),
                         episode("s", "a", 0.2, 1.0, False, False)], "s")
    assert list(goal["goal_success"]) == [True, False]
    assert "axis" not in goal  # a goal-oriented episode's axis follows its goal


def test_relative_axis_of_a_known_rotation():
    start = np.array([1.0, 0.0, 0.0, 0.0])
    goal = quat_multiply(axis_angle_quat(np.array([0.0, 1.0, 0.0]), 0.7), start)
    axis, angle = _relative_axis(start, goal)
    assert np.allclose(axis, [0.0, 1.0, 0.0]) and np.isclose(angle, 0.7)


def test_hold_still_scores_the_policys_starts_without_a_policy():
    common = dict(categories=("small_cylinders",), objects_per_category=1, wrists=("palm_up",),
                  axes="z", seeds=(0, 1), steps=40, episodes_per_axis=1)
    policy = evaluate_policy(EvalConfig(str(POLICY), **common))["episodes"]
    held = evaluate_policy(EvalConfig(hold_still=True, **common))
    assert held["config"]["hold_still"] and held["config"]["policy"] is None
    # the same starts, drawn by the same generator
    assert [(e["seed"], e["axis"], e["grasp"]) for e in held["episodes"]] == [
        (e["seed"], e["axis"], e["grasp"]) for e in policy]
    # every searched grasp held for 1.5 s with gravity on: held 2 s more, none drops
    assert all(e["time_to_fall"] == 1.0 for e in held["episodes"])
    # nothing acts on the commanded axis: the same start about -z turns exactly the opposite
    hand = SimHand(SceneConfig(tuple(wrist_quaternion("palm_up")), get_profile("nominal"),
                               "fast", generate_category("small_cylinders")[0]))
    cache = load_or_generate(generate_category("small_cylinders")[0],
                             wrist_quaternion("palm_up"), get_profile("nominal"), wanted=4)
    turns = [run_episode(hand, HoldStill(), cache, wrist_quaternion("palm_up"),
                         np.array([0.0, 0.0, sign]), 40, np.random.default_rng(0),
                         grasp=3)["radians"] for sign in (1.0, -1.0)]
    assert turns[0] != 0.0 and turns[1] == -turns[0]
    with pytest.raises(DexndmError, match="--hold-still scores the start grasps without a policy"):
        EvalConfig(str(POLICY), hold_still=True, **common)
    with pytest.raises(DexndmError, match="name the base_policy bundle to evaluate"):
        EvalConfig(**common)


def test_the_interval_of_a_mean_carried_by_a_few_episodes():
    """18 episodes turning 1 rad and 6 turning 15 (mean 4.5, the shape of the issue's cylinder
    cell): the resampled mean is 1 + 14 k / 24 with k ~ Binomial(24, 1/4), whose 2.5 and 97.5 %
    points are k = 2 and 10, so the interval is about [2.2, 6.8] and holds 5; a constant sample
    has a point interval; a large normal sample the textbook 1.96 sigma / sqrt(n)."""
    skewed = np.array([1.0] * 18 + [15.0] * 6)
    low, high = mean_interval(skewed)
    assert low == pytest.approx(1 + 14 * 2 / 24, abs=0.6)
    assert high == pytest.approx(1 + 14 * 10 / 24, abs=0.6)
    assert low < 5.0 < high and mean_interval(skewed) == [low, high]  # reproducible
    assert mean_interval(np.full(5, 0.93)) == [0.93, 0.93]
    assert mean_interval(np.array([2.0])) is None
    normal = np.random.default_rng(3).normal(5.0, 2.0, 400)
    low, high = mean_interval(normal)
    assert high - low == pytest.approx(2 * 1.96 * 2.0 / 20, rel=0.15)
    assert low < normal.mean() < high
