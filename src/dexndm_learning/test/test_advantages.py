"""Advantages normalised per object: hand-computed values, and the hook inside a real rsl-rl
PPO run."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from dexndm_learning.ppo import advantages
from dexndm_learning.ppo.advantages import normalized_by_group, object_groups
from dexndm_learning.ppo.config import ppo_env
from dexndm_learning.ppo.train import PPOTrainConfig, train_ppo


def test_each_group_is_standardised_on_its_own_whatever_its_scale():
    # two steps, four environments; the second pair's advantages are 100 times the first's
    raw = torch.tensor([[1.0, 3.0, 100.0, 300.0], [3.0, 1.0, 300.0, 100.0]]).unsqueeze(-1)
    out = normalized_by_group(raw, torch.tensor([0, 0, 1, 1]))
    # each group: values 1, 3, 3, 1 (times 100): mean 2, unbiased std sqrt(4 / 3)
    half = 1.0 / math.sqrt(4.0 / 3.0)
    expected = torch.tensor([[-half, half, -half, half], [half, -half, half, -half]])
    assert torch.allclose(out.squeeze(-1), expected, atol=1e-6)
    # over the whole batch (rsl-rl's normalisation) the first pair's advantages differ by a
    # hundredth of the second's: which of its actions was better hardly moves the policy
    batch = (raw - raw.mean()) / raw.std()
    assert float(batch[:, :2].std()) == pytest.approx(0.01 * float(batch[:, 2:].std()), rel=1e-4)
    constant = normalized_by_group(torch.ones(2, 2, 1), torch.tensor([0, 1]))
    assert torch.equal(constant, torch.zeros(2, 2, 1))
    assert object_groups(["a", "b", "a", "c"]).tolist() == [0, 1, 0, 2]


def test_a_ppo_run_normalises_within_each_objects_environments(tmp_path, monkeypatch):
    """--advantages-per-object in a real run: after every rollout the advantages rsl-rl trains
    on have mean 0 and std 1 within each object's environments (two objects at 1 : 3)."""
    seen = []

    def spy(raw, groups):
        out = normalized_by_group(raw, groups)
        seen.append((groups.clone(), out.clone()))
        return out

    monkeypatch.setattr(advantages, "normalized_by_group", spy)
    env = ppo_env("small_cylinders", num_envs=8, grasps_per_object=2,
                  objects=("small_cylinders_000", "small_cylinders_001"),
                  object_shares=(1.0, 3.0))
    run = tmp_path / "run"
    train_ppo(PPOTrainConfig(category="small_cylinders", out=str(run), iterations=2, env=env,
                             steps_per_env=4, advantages_per_object=True))
    assert len(seen) == 2  # one per iteration
    groups, normalized = seen[-1]
    assert groups.tolist() == [0, 0, 1, 1, 1, 1, 1, 1]  # the environments' objects, by share
    for group in (0, 1):
        mine = normalized[:, groups == group]
        assert mine.mean().item() == pytest.approx(0.0, abs=1e-5)
        assert mine.std().item() == pytest.approx(1.0, abs=1e-4)
    saved = yaml.safe_load((run / "run.yaml").read_text())["config"]
    assert saved["advantages_per_object"] is True
