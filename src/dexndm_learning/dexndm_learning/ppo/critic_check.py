"""`dexndm eval critic`: does a PPO checkpoint's critic know its actor's returns?

PPO moves the actor along advantages computed from the critic, so a critic far from the returns
moves a good actor anywhere. This runs the checkpoint's stochastic actor (as in training) in its
training environment, and scores the critic's value of every visited state against the
discounted return that actually followed (gamma of the PPO settings; a time-out is bootstrapped
with the value of its state, as rsl-rl does; the last ``margin`` steps of the collection are not
scored, their returns being cut short). A warm start from a shipped actor (`train ppo --init`)
should not let the actor learn before this is good: docs/base_policy_log.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.settings import setting
from dexndm_learning.ppo.config import PPO_DEFAULTS
from dexndm_learning.ppo.specialist import Specialist


@dataclass
class CriticCheckConfig:
    checkpoint: str = setting(help="RUN/model_N.pt of `dexndm train ppo` (actor and critic)")
    steps: int = setting(700, help="control steps collected in every environment")
    margin: int = setting(300, help="last steps left unscored (their returns are cut short; "
                                    "gamma 0.995 weighs step 300 ahead at 0.22)")
    seed: int = 0

    def __post_init__(self) -> None:
        if self.margin < 0 or self.steps <= self.margin:
            raise DexndmError("--steps must exceed --margin (>= 0): the scored steps are the "
                              "first steps - margin")


def discounted_returns(rewards: np.ndarray, dones: np.ndarray, time_outs: np.ndarray,
                       values: np.ndarray, gamma: float) -> np.ndarray:
    """[T, N] discounted returns: an episode's end stops the sum, except a time-out, which
    continues with gamma times the value of its state (rsl-rl's bootstrap)."""
    returns = np.zeros_like(rewards, dtype=float)
    following = np.zeros(rewards.shape[1])
    for t in reversed(range(len(rewards))):
        after = np.where(time_outs[t], values[t], np.where(dones[t], 0.0, following))
        following = rewards[t] + gamma * after
        returns[t] = following
    return returns


def check_critic(config: CriticCheckConfig, out: str | Path | None = None) -> dict:
    torch.manual_seed(config.seed)
    specialist = Specialist(config.checkpoint, critic=True, seed=config.seed)
    env = specialist.env
    actor, critic = specialist.runner.alg.actor, specialist.runner.alg.critic
    try:
        observations = env.get_observations()
        values, rewards, dones, time_outs = [], [], [], []
        with torch.no_grad():
            for _ in range(config.steps):
                values.append(critic(observations).squeeze(-1).numpy().copy())
                actions = actor(observations, stochastic_output=True)
                observations, reward, done, extras = env.step(actions)
                rewards.append(reward.numpy())
                dones.append(done.numpy().astype(bool))
                time_outs.append(extras["time_outs"].numpy().astype(bool))
    finally:
        specialist.close()
    values, rewards = np.array(values), np.array(rewards)
    gamma = PPO_DEFAULTS["algorithm"]["gamma"]
    returns = discounted_returns(rewards, np.array(dones), np.array(time_outs), values, gamma)
    scored = config.steps - config.margin
    result = {"config": asdict(config), "gamma": gamma, **critic_scores(values[:scored],
                                                                        returns[:scored])}
    if out is not None:
        Path(out).write_text(json.dumps(result, indent=2))
    return result


def critic_scores(values: np.ndarray, returns: np.ndarray) -> dict:
    error = returns.ravel() - values.ravel()
    return {"mean_value": float(values.mean()), "mean_return": float(returns.mean()),
            "rms_error": float(np.sqrt(np.mean(error ** 2))),
            "explained_variance": float(1.0 - error.var() / returns.var()),
            "samples": int(values.size)}


def format_critic_check(result: dict) -> str:
    return (f"{result['config']['checkpoint']}: mean value {result['mean_value']:.2f}, mean "
            f"discounted return {result['mean_return']:.2f} (gamma {result['gamma']}), RMS "
            f"error {result['rms_error']:.2f}, explained variance "
            f"{result['explained_variance']:.3f} over {result['samples']} states")
