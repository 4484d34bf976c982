"""Gait states: recorded mid-rotation, saved per object at the search wrist, started from in
training only."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import yaml

from dexndm_control.errors import DexndmError
from dexndm_control.rotations import quat_multiply
from dexndm_learning.ppo.config import ppo_env
from dexndm_learning.ppo.gait_states import GaitStatesConfig, record_gait_states, turned_about
from dexndm_learning.ppo.specialist import specialist_env_config
from dexndm_learning.ppo.train import PPOTrainConfig, evaluation_environment, train_ppo
from dexndm_sim.env import GAIT_STATE_START, BatchedRotationEnv
from dexndm_sim.grasps import GraspCache, move_with_palm
from dexndm_sim.model import PALM_POSITION
from dexndm_sim.wrist import CANONICAL

SMALL = {"objects": ("small_cylinders_000", "small_cylinders_004"), "grasps_per_object": 2}


def _about(axis, angle):
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    return np.array([math.cos(angle / 2), *(math.sin(angle / 2) * axis)])


def test_turned_about_sums_each_steps_rotation_along_the_axis():
    start = _about([1.0, 0.0, 0.0], 0.4)  # any start orientation
    poses = np.array([quat_multiply(_about([0, 0, 1], 0.1 * k), start) for k in range(11)])
    assert turned_about(poses, np.array([0.0, 0.0, 1.0])) == pytest.approx(1.0)
    assert turned_about(poses, np.array([0.0, 0.0, -1.0])) == pytest.approx(-1.0)
    # steps of 0.1 rad about a tilted axis (60 degrees off z): cos 60 = 0.5 of each counts
    tilted = np.array([math.sin(math.pi / 3), 0.0, math.cos(math.pi / 3)])
    poses = np.array([quat_multiply(_about(tilted, 0.1 * k), start) for k in range(11)])
    assert turned_about(poses, np.array([0.0, 0.0, 1.0])) == pytest.approx(0.5)
    # back and forth cancels
    poses = np.array([start, quat_multiply(_about([0, 0, 1], 0.2), start), start])
    assert turned_about(poses, np.array([0.0, 0.0, 1.0])) == pytest.approx(0.0, abs=1e-12)


def test_a_pose_carried_with_the_palm_matches_hand_computed_values_and_comes_back():
    palm = np.asarray(PALM_POSITION)
    identity, flipped = np.array([1.0, 0, 0, 0]), _about([1.0, 0.0, 0.0], math.pi)
    quat = _about([0.0, 0.0, 1.0], 0.3)
    # a palm turned 180 degrees about x takes an offset (x, y, z) to (x, -y, -z) and the
    # object's orientation with it
    pos, turned = move_with_palm(palm + [0.01, 0.02, 0.03], quat, identity, flipped)
    assert np.allclose(pos, palm + [0.01, -0.02, -0.03])
    assert np.allclose(turned, quat_multiply(flipped, quat))
    # recorded at one canonical wrist, stored at another, and carried back: the same pose
    rng = np.random.default_rng(3)
    wrist, searched = np.asarray(CANONICAL["palm_down"]), np.asarray(CANONICAL["palm_up"])
    start = palm + rng.normal(scale=0.03, size=3)
    quat = rng.normal(size=4)
    quat /= np.linalg.norm(quat)
    back = move_with_palm(*move_with_palm(start, quat, wrist, searched), searched, wrist)
    assert np.allclose(back[0], start) and np.allclose(back[1], quat)
    same = move_with_palm(start, quat, searched, searched)
    assert np.allclose(same[0], start) and np.allclose(same[1], quat)


def _gait_dir(tmp_path, name, env):
    """One object's 'gait states': its searched grasps with every joint target moved 0.05 rad
    (distinguishable from the searched ones)."""
    grasps = env.grasps[[o.name for o in env.objects].index(name)]
    gait = GraspCache(grasps.q, grasps.target + 0.05, grasps.object_pos, grasps.object_quat, 2)
    gait.save(tmp_path / "gait" / f"{name}.npz")
    return gait


def test_training_episodes_start_from_gait_states_at_the_given_share(tmp_path):
    config = ppo_env("small_cylinders", num_envs=4, threads=1, **SMALL)
    plain = BatchedRotationEnv(config)
    try:
        gait = _gait_dir(tmp_path, "small_cylinders_000", plain)
    finally:
        plain.close()
    env = BatchedRotationEnv(replace(config, gait_states=str(tmp_path / "gait"),
                                     gait_state_share=1.0))
    try:
        for _ in range(3):
            env.reset_all()
            for i, obj in enumerate(env.objects):
                if obj.name == "small_cylinders_000":  # has gait states: always from one
                    assert env.start_grasp[i] == GAIT_STATE_START
                    assert any(np.allclose(env.target[i], t) for t in gait.target)
                else:  # none recorded: its searched grasps
                    assert env.start_grasp[i] >= 0
                    assert np.allclose(env.target[i], env.grasps[i].target[env.start_grasp[i]])
    finally:
        env.close()
    never = BatchedRotationEnv(replace(config, gait_states=str(tmp_path / "gait"),
                                       gait_state_share=0.0))
    try:
        assert (never.start_grasp >= 0).all()
    finally:
        never.close()


def test_gait_states_that_are_missing_or_of_other_objects_are_refused(tmp_path):
    config = ppo_env("small_cylinders", num_envs=2, threads=1, **SMALL)
    with pytest.raises(DexndmError, match="record them with `dexndm train gait-states"):
        BatchedRotationEnv(replace(config, gait_states=str(tmp_path / "none")))
    (tmp_path / "other").mkdir()
    GraspCache(np.zeros((1, 16)), np.zeros((1, 16)), np.zeros((1, 3)),
               np.array([[1.0, 0, 0, 0]])).save(tmp_path / "other" / "cylinders_004.npz")
    with pytest.raises(DexndmError, match="holds gait states of none of small_cylinders_000"):
        BatchedRotationEnv(replace(config, gait_states=str(tmp_path / "other")))
    with pytest.raises(DexndmError, match="share of episodes"):
        ppo_env("small_cylinders", gait_state_share=1.5)


def test_recorded_gait_states_train_a_run_and_stay_out_of_its_evaluations(tmp_path):
    env = ppo_env("small_cylinders", num_envs=8, episode_length=30, **SMALL)
    run = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                   iterations=1, env=env, steps_per_env=8))
    # every surviving episode recorded (an untrained actor turns little either way)
    summary = record_gait_states(GaitStatesConfig(
        checkpoint=run["checkpoint"], out=str(tmp_path / "gait"), episodes=3,
        min_radians=-100.0, per_episode=4, skip_steps=5, num_envs=8))
    assert summary["recorded_episodes"] == summary["survived"] == 3
    assert sum(summary["states"].values()) == 12
    for name, count in summary["states"].items():
        states = GraspCache.load(tmp_path / "gait" / f"{name}.npz")
        assert len(states) == count and states.q.shape == (count, 16)
        # the object sits in the hand: within the environment's reach of the palm point
        assert (np.linalg.norm(states.object_pos - np.asarray(PALM_POSITION), axis=1)
                < 0.12).all()
        assert np.allclose(np.linalg.norm(states.object_quat, axis=1), 1.0)
    with pytest.raises(DexndmError, match="already holds gait states"):
        record_gait_states(GaitStatesConfig(checkpoint=run["checkpoint"],
                                            out=str(tmp_path / "gait")))
    # a run that starts from them: env.yaml names them; its evaluations and every loader of
    # its checkpoints start from searched grasps only
    config = PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "gait_run"),
                            iterations=1, steps_per_env=8,
                            env=ppo_env("small_cylinders", num_envs=8, episode_length=30,
                                        gait_states=str(tmp_path / "gait"), **SMALL))
    trained = train_ppo(config)
    saved = yaml.safe_load((tmp_path / "gait_run" / "env.yaml").read_text())
    assert saved["gait_states"] == str(tmp_path / "gait")
    assert evaluation_environment(config).gait_states is None
    assert specialist_env_config(trained["checkpoint"]).gait_states is None
    assert specialist_env_config(trained["checkpoint"],
                                 gait_states="x").gait_states == "x"


def test_a_run_started_at_each_wrist_trains_and_records_no_gait_states(tmp_path):
    """Gait states are stored at one search wrist: a run whose episodes start from each wrist's
    own grasps (--grasp-wrist each) is refused by name, before any rollout."""
    env = ppo_env("small_cylinders", num_envs=4, episode_length=30, threads=1,
                  wrists=("palm_up", "palm_down"), grasp_wrist="each", **SMALL)
    run = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                   iterations=1, env=env, steps_per_env=8, eval_episodes=6))
    assert yaml.safe_load((tmp_path / "run" / "env.yaml").read_text())["grasp_wrist"] == "each"
    # its evaluations are scored per wrist too: the two wrists' episodes make up the whole
    (record,) = [json.loads(line) for line in
                 (tmp_path / "run" / "evaluations.jsonl").read_text().splitlines()]
    wrists = record["per_wrist"]
    assert set(wrists) <= {"palm_up", "palm_down"}
    assert sum(row["episodes"] for row in wrists.values()) == record["episodes"] == 6
    assert sum(row["radians"][0] * row["episodes"] for row in wrists.values()) == pytest.approx(
        record["radians"][0] * 6)
    with pytest.raises(DexndmError, match="recorded from a specialist trained at one "
                                          "--grasp-wrist"):
        record_gait_states(GaitStatesConfig(checkpoint=run["checkpoint"],
                                            out=str(tmp_path / "gait"), num_envs=4))
    assert not (tmp_path / "gait").exists()
