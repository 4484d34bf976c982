"""DAgger: the teacher labels the states the student visits; rounds train on all data so far."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import load_bundle, update_bundle_info
from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_control.transitions import read_shard
from dexndm_learning.comparison import GeneralistOnEnv
from dexndm_learning.dagger import DaggerConfig, closed_loop, collect, train_dagger
from dexndm_learning.ppo.specialist import Specialist, TeacherEntry, teacher_entries
from dexndm_learning.rollout import RolloutConfig, rollout

POLICIES = Path(__file__).resolve().parents[3] / "policies"
REFERENCE = str(POLICIES / "gap_reference" / "model_1949.pt")
STUDENT = POLICIES / "test_base_policy"


def test_collect_labels_with_the_teacher_and_executes_by_beta(tmp_path):
    student = GeneralistOnEnv(STUDENT)
    # beta 1: the teacher drives, so the labels are the teacher's own deterministic rollout
    obs, labels = collect(student, REFERENCE, envs=3, steps=15, beta=1.0, seed=5)
    assert obs.shape == (45, 327) and labels.shape == (45, 16)
    teacher = Specialist(REFERENCE, num_envs=3, seed=5)
    try:
        expected = []
        for _ in range(15):
            action = torch.clamp(teacher.act(teacher.env.get_observations()), -1, 1)
            teacher.env.step(action)
            expected.append(action)
    finally:
        teacher.close()
    assert torch.allclose(labels, torch.cat(expected), atol=1e-6)
    # beta 0: the student drives; its observations then differ from the teacher-driven ones
    own_obs, own_labels = collect(student, REFERENCE, envs=3, steps=15, beta=0.0, seed=5)
    assert torch.allclose(own_obs[:3], obs[:3])  # same starts
    assert not torch.allclose(own_obs[-3:], obs[-3:], atol=1e-3)
    assert not torch.allclose(own_labels, labels, atol=1e-3)


def test_a_teacher_entry_with_objects_labels_and_is_scored_on_those_objects_only(tmp_path):
    both = TeacherEntry.parse(f"{REFERENCE}@cylinders_000,cylinders_001")
    assert both == TeacherEntry(REFERENCE, ("cylinders_000", "cylinders_001"))
    assert str(both) == f"{REFERENCE}@cylinders_000,cylinders_001"
    assert TeacherEntry.parse(REFERENCE) == TeacherEntry(REFERENCE)  # its own environment
    only = TeacherEntry.parse(f"{REFERENCE}@cylinders_000")
    teacher = only.specialist(num_envs=2, seed=5)
    try:  # the reference was trained on cylinders_004 alone; the entry moves it to another
        assert [obj.name for obj in teacher.env.env.objects] == ["cylinders_000"] * 2
    finally:
        teacher.close()
    student = GeneralistOnEnv(STUDENT)
    obs, labels = collect(student, only, envs=2, steps=5, beta=1.0, seed=5)
    own_obs, own_labels = collect(student, REFERENCE, envs=2, steps=5, beta=1.0, seed=5)
    assert obs.shape == own_obs.shape == (10, 327)
    assert not torch.allclose(obs[:2], own_obs[:2], atol=1e-3)  # another object's start grasps
    scored = closed_loop(student, only, episodes=2, seed=0)
    assert scored["episodes"] == 2 and list(scored["per_object"]) == ["cylinders_000"]
    assert scored["per_object"]["cylinders_000"]["radians"] == scored["radians"]
    assert list(closed_loop(student, REFERENCE, episodes=2, seed=0)["per_object"]) == [
        "cylinders_004"]
    # its rollouts (BC data) too, each episode naming the object it held
    summary = rollout(RolloutConfig(episodes=2, steps=20, policy=f"{REFERENCE}@cylinders_000",
                                    keep_steps=20, shards=str(tmp_path / "shards")))
    assert summary["episodes"] == 2
    shard = read_shard(next((tmp_path / "shards").glob("*.npz")))
    assert [episode.meta["object"] for episode in shard.episodes] == ["cylinders_000"] * 2
    with pytest.raises(DexndmError, match="small_cylinders_000 are not in categories cylinders"):
        teacher_entries([f"{REFERENCE}@small_cylinders_000"])
    with pytest.raises(DexndmError, match="small_cylinders_000 are not in categories cylinders"):
        rollout(RolloutConfig(episodes=1, steps=5, policy=f"{REFERENCE}@small_cylinders_000",
                              shards=str(tmp_path / "refused")))
    assert not (tmp_path / "refused").exists()
    with pytest.raises(DexndmError, match="names no object"):
        teacher_entries([f"{REFERENCE}@"])
    with pytest.raises(DexndmError, match="no checkpoint at"):
        teacher_entries([f"{REFERENCE}.missing@cylinders_000"])


def test_dagger_rounds_reduce_the_error_on_teacher_labels_and_export_a_runtime_bundle(
        tmp_path):
    rollout(RolloutConfig(episodes=2, steps=30, category="cylinders", wrists=("palm_up",),
                          policy=REFERENCE, keep_steps=30, shards=str(tmp_path / "shards")))
    student = tmp_path / "student"  # the student with the start grasp of its initial pose
    shutil.copytree(STUDENT, student)
    grasp = {"object": "cylinders_004", "grasp_index": 2}
    update_bundle_info(student, initial_grasp=grasp)
    config = DaggerConfig(data=[str(tmp_path / "shards")], out=str(tmp_path / "dagger"),
                          teachers=(REFERENCE,), init=str(student), rounds=2, envs=10, steps=20,
                          beta=0.5, eval_episodes=2, epochs=3, batch_size=32, lr=1e-3,
                          device="cpu", progress=False)
    result = train_dagger(config, progress=lambda line: None)
    rounds = json.loads((tmp_path / "dagger" / "rounds.json").read_text())["rounds"]
    assert [r["beta"] for r in rounds] == [1.0, 0.5]
    assert [r["teacher_betas"] for r in rounds] == [[1.0], [0.5]]
    # 2 rollouts of 30 steps give 30 windows each (the first T = 10 steps from the history the
    # episode starts with); + 10 x 20 a round
    assert [r["samples"] for r in rounds] == [60 + 200, 60 + 400]
    assert result["best_round"] in (0, 1)
    # the held-out teacher labels are fitted better after training than by the initial student
    metrics = [json.loads(line) for line in
               (tmp_path / "dagger" / "round_1" / "metrics.jsonl").read_text().splitlines()]
    first = metrics[0]["dagger/eval_action_mae"]
    initial = GeneralistOnEnv(STUDENT)
    obs, labels = collect(initial, REFERENCE, envs=10, steps=20, beta=1.0, seed=0)
    held = torch.arange(len(obs)) % 10 < 1
    with torch.no_grad():
        before = float((initial.network(obs[held]) - labels[held]).abs().mean())
    assert metrics[-1]["dagger/eval_action_mae"] <= first < before
    runtime = PolicyRuntime(tmp_path / "dagger" / "best", max_step=1.0)
    assert runtime.layout.history == 10 and np.isfinite(runtime.initial_pose).all()
    # the init's features constant in its data take unit scale, the rest keep theirs
    before = load_bundle(student, "base_policy").state_dict["obs_norm.std"]
    after = load_bundle(tmp_path / "dagger" / "best", "base_policy").state_dict["obs_norm.std"]
    constant = before <= 1e-3
    assert constant.sum() == 4 and torch.equal(after[constant], torch.ones(4))
    assert torch.equal(after[~constant], before[~constant])
    kept = load_bundle(tmp_path / "dagger" / "best", "base_policy").start_pose
    assert kept == load_bundle(student, "base_policy").start_pose and kept["initial_grasp"] == grasp
    with pytest.raises(DexndmError, match="teachers"):
        DaggerConfig(data=["x"], out="y", teachers=(), init="z")


def test_each_labeller_can_have_its_own_beta():
    both = dict(data=["x"], out="y", teachers=("a.pt", "b.pt", "c.pt"), init="z")
    assert DaggerConfig(**both, beta=0.5).round_betas(2) == [0.25, 0.25, 0.25]
    own = DaggerConfig(**both, beta=0.5, teacher_betas=(1.0, 0.5, 0.0))
    assert own.round_betas(0) == [1.0, 1.0, 1.0]  # 0 ** 0: every labeller drives round 0
    assert own.round_betas(1) == [1.0, 0.5, 0.0]
    assert own.round_betas(3) == [1.0, 0.125, 0.0]
    with pytest.raises(DexndmError, match="gives 2 betas for 3 --teachers entries"):
        DaggerConfig(**both, teacher_betas=(1.0, 0.5))
    with pytest.raises(DexndmError, match="within"):
        DaggerConfig(**both, teacher_betas=(1.0, 0.5, 1.5))
