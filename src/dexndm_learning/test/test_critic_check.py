"""`dexndm eval critic`: discounted returns by hand, the scores, and a run's checkpoint end to
end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dexndm_control.errors import DexndmError
from dexndm_learning.ppo.config import ppo_env
from dexndm_learning.ppo.critic_check import (
    CriticCheckConfig,
    check_critic,
    critic_scores,
    discounted_returns,
)
from dexndm_learning.ppo.train import PPOTrainConfig, train_ppo

SHIPPED_ACTOR = Path(__file__).resolve().parents[3] / "policies" / "gap_reference" / "model_1949.pt"


def test_discounted_returns_stop_at_falls_and_bootstrap_time_outs():
    rewards = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    dones = np.array([[False, True], [False, False], [False, True]])
    time_outs = np.array([[False, False], [False, False], [False, True]])
    values = np.array([[9.0, 9.0], [9.0, 9.0], [9.0, 4.0]])
    returns = discounted_returns(rewards, dones, time_outs, values, gamma=0.5)
    # env 0 never ends: 3; 2 + 0.5 * 3 = 3.5; 1 + 0.5 * 3.5 = 2.75 (the collection's end cuts it)
    # env 1 times out at t = 2 (1 + 0.5 * its value 4 = 3), 1 + 0.5 * 3 = 2.5, and its episode
    # ended at t = 0 (a fall): 1
    assert np.allclose(returns, [[2.75, 1.0], [3.5, 2.5], [3.0, 3.0]])


def test_scores_of_a_perfect_and_of_a_constant_critic():
    returns = np.array([[1.0, 3.0], [5.0, 7.0]])
    perfect = critic_scores(returns.copy(), returns)
    assert perfect["explained_variance"] == 1.0 and perfect["rms_error"] == 0.0
    constant = critic_scores(np.full_like(returns, 4.0), returns)
    assert constant["explained_variance"] == pytest.approx(0.0)
    assert constant["rms_error"] == pytest.approx(np.sqrt(5.0))  # |error| 3, 1, 1, 3
    assert constant["mean_value"] == 4.0 and constant["mean_return"] == 4.0


def test_a_trained_checkpoint_is_scored_and_an_actor_only_one_refused(tmp_path):
    env = ppo_env("small_cylinders", num_envs=8, grasps_per_object=2,
                  objects=("small_cylinders_000", "small_cylinders_004"))
    run = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                   iterations=1, env=env, steps_per_env=4))
    result = check_critic(CriticCheckConfig(checkpoint=run["checkpoint"], steps=12, margin=4),
                          out=tmp_path / "critic.json")
    assert result["samples"] == 8 * 8  # 8 environments x the 12 - 4 scored steps
    assert np.isfinite([result[k] for k in ("mean_value", "mean_return", "rms_error",
                                            "explained_variance")]).all()
    assert result["rms_error"] > 0 and (tmp_path / "critic.json").is_file()
    with pytest.raises(DexndmError, match="holds no critic"):
        check_critic(CriticCheckConfig(checkpoint=str(SHIPPED_ACTOR)))
    with pytest.raises(DexndmError, match="--steps must exceed --margin"):
        CriticCheckConfig(checkpoint=run["checkpoint"], steps=10, margin=10)
