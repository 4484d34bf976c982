"""`train ppo --eval-episodes`: every saved checkpoint is evaluated deterministically and the best
is kept; episodes may start from the grasps of several searches (--grasp-seeds)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dexndm_control.errors import DexndmError
from dexndm_learning.ppo.best_checkpoint import CheckpointEvaluation
from dexndm_learning.ppo.config import ppo_env
from dexndm_learning.ppo.specialist import Specialist
from dexndm_learning.ppo.train import PPOTrainConfig, train_ppo
from dexndm_learning.ppo.transfer import episode_outcomes
from dexndm_sim.env import BatchedRotationEnv, RotationEnvConfig
from dexndm_sim.grasps import GraspCache, load_or_generate
from dexndm_sim.objects import generate_category
from dexndm_sim.profiles import get_profile
from dexndm_sim.wrist import CANONICAL

SMALL = {"objects": ("small_cylinders_004",), "grasps_per_object": 2}


def _scored(radians: list[float]):
    """A stand-in for the simulated score: the given rotations, one per call."""
    pending = iter(radians)

    def score(actor, device="cpu"):
        radians = [next(pending), 0.5]
        return {"radians": radians, "time_to_fall": [0.9, 0.1], "drops": 0.25, "episodes": 4,
                "per_object": {"cylinders_004": {"radians": radians}},
                "per_wrist": {"palm_up": {"radians": radians}}}
    return score


def test_the_best_checkpoint_is_kept_across_a_resume_and_cleared_by_a_new_run(tmp_path):
    runner = SimpleNamespace(current_learning_iteration=0, alg=SimpleNamespace(actor=None),
                             device="cpu", logger=SimpleNamespace(writer=None))
    environment = RotationEnvConfig(num_envs=64)
    evaluation = CheckpointEvaluation(environment, 4, tmp_path, progress=lambda line: None)
    assert evaluation.environment.num_envs == 4 and environment.num_envs == 64
    evaluation.score = _scored([1.0, 3.0, 2.0])
    for iteration in (0, 10, 20):
        runner.current_learning_iteration = iteration
        checkpoint = tmp_path / f"model_{iteration}.pt"
        checkpoint.write_bytes(f"weights of iteration {iteration}".encode())
        evaluation(runner, checkpoint)
    assert (tmp_path / "best.pt").read_bytes() == b"weights of iteration 10"
    assert json.loads((tmp_path / "best.json").read_text())["iteration"] == 10
    lines = [json.loads(line) for line in
             (tmp_path / "evaluations.jsonl").read_text().splitlines()]
    assert [(r["iteration"], r["radians"][0]) for r in lines] == [(0, 1.0), (10, 3.0), (20, 2.0)]
    # a resumed run in the same directory must beat the best it had
    resumed = CheckpointEvaluation(environment, 4, tmp_path, resumed=True,
                                   progress=lambda line: None)
    resumed.score = _scored([2.5])
    runner.current_learning_iteration = 30
    (tmp_path / "model_30.pt").write_bytes(b"weights of iteration 30")
    resumed(runner, tmp_path / "model_30.pt")
    assert (tmp_path / "best.pt").read_bytes() == b"weights of iteration 10"
    # a new run (--overwrite) does not compare itself with an earlier run's best
    CheckpointEvaluation(environment, 4, tmp_path, progress=lambda line: None)
    assert not any((tmp_path / name).exists()
                   for name in ("best.pt", "best.json", "evaluations.jsonl"))


def test_training_evaluates_every_checkpoint_and_best_pt_scores_what_it_says(tmp_path):
    env = ppo_env("small_cylinders", num_envs=8, episode_length=30, **SMALL)
    result = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                      iterations=3, env=env, steps_per_env=4, save_interval=1,
                                      eval_episodes=3))
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    # rsl-rl saves iterations 0, 1, 2 and the final model_2.pt again; that one is scored once
    assert [r["checkpoint"] for r in records] == ["model_0.pt", "model_1.pt", "model_2.pt"]
    assert all(r["episodes"] == 3 for r in records)
    assert all(r["per_object"]["small_cylinders_004"]["radians"] == r["radians"] for r in records)
    assert all(sum(row["episodes"] for row in r["per_axis"].values()) == 3
               and set(r["per_axis"]) <= {"+z", "-z"} for r in records)
    best = max(records, key=lambda r: r["radians"][0])
    assert result["best"]["radians"] == best["radians"]
    kept = torch.load(run / "best.pt", weights_only=False)["actor_state_dict"]
    named = torch.load(run / best["checkpoint"], weights_only=False)["actor_state_dict"]
    assert all(torch.equal(kept[k], named[k]) for k in kept)
    # best.pt evaluated on its own, as `dexndm eval transfer` would, scores what best.json says
    specialist = Specialist(run / "best.pt", num_envs=3)
    try:
        outcomes = episode_outcomes(specialist)
    finally:
        specialist.close()
    assert float(outcomes["radians"].mean()) == pytest.approx(best["radians"][0], abs=1e-9)
    with pytest.raises(DexndmError, match="--eval-episodes"):
        PPOTrainConfig(category="small_cylinders", out="x", eval_episodes=1)


def test_grasp_seeds_start_episodes_from_every_search_named():
    obj = next(o for o in generate_category("small_cylinders") if o.name == SMALL["objects"][0])
    wrist = np.array(CANONICAL["palm_up"])
    searches = [load_or_generate(obj, wrist, get_profile("nominal"), wanted=2, seed=seed)
                for seed in (0, 1)]
    env = BatchedRotationEnv(ppo_env("small_cylinders", num_envs=2, grasp_seeds=(0, 1),
                                     **SMALL))
    try:
        grasps = env.grasps[0]
        assert len(grasps) == len(searches[0]) + len(searches[1]) == 4
        np.testing.assert_array_equal(grasps.q, np.concatenate([s.q for s in searches]))
        np.testing.assert_array_equal(grasps.object_quat,
                                      np.concatenate([s.object_quat for s in searches]))
        assert not np.allclose(searches[0].q, searches[1].q)  # two searches, two sets
    finally:
        env.close()
    single = GraspCache.concatenate([searches[1]])
    assert single is searches[1]
    with pytest.raises(DexndmError, match="distinct seeds"):
        RotationEnvConfig(grasp_seeds=(1, 1))


def test_checkpoints_can_be_scored_at_each_objects_own_physics():
    from dexndm_learning.ppo.train import evaluation_environment

    env = ppo_env("small_cylinders", num_envs=8, mass_range=(0.01, 0.05), **SMALL)
    trained = PPOTrainConfig(category="small_cylinders", out="x", env=env, eval_episodes=4)
    assert evaluation_environment(trained) == env  # by default: the training draws
    own = evaluation_environment(PPOTrainConfig(category="small_cylinders", out="x", env=env,
                                                eval_episodes=4, eval_own_physics=True))
    assert (own.randomize_physics, own.mass_range, own.friction_range) == (False, None, None)
    assert own.objects == env.objects and own.reward == env.reward
    with pytest.raises(DexndmError, match="--eval-own-physics needs --eval-episodes"):
        PPOTrainConfig(category="small_cylinders", out="x", eval_own_physics=True)
