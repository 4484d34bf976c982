"""Advantages normalised within each object's environments instead of over the whole batch.

rsl-rl normalises a batch's advantages once, over every environment. When one object rotates
fast and another slowly, the fast one's returns, and its critic errors, are the larger, so after
that normalisation its environments carry most of the policy gradient even when they are a
quarter of the batch (measured: the cylinder student fine-tuned with `cylinders_001` at three
quarters of the environments improved `cylinders_000` and lost `cylinders_001`,
docs/base_policy_log.md). Normalising within each object gives every object's environments
advantages of unit scale, so its share of the batch is its share of the gradient.
"""

from __future__ import annotations

import torch

EPSILON = 1e-8  # rsl-rl's, for a group whose advantages are all equal


def normalized_by_group(advantages: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """``advantages`` (steps, environments, 1) standardised over the steps and environments of
    each group; ``groups`` holds one group id per environment."""
    normalized = torch.empty_like(advantages)
    for group in torch.unique(groups):
        columns = groups == group
        mine = advantages[:, columns]
        normalized[:, columns] = (mine - mine.mean()) / (mine.std() + EPSILON)
    return normalized


def object_groups(object_names: list[str]) -> torch.Tensor:
    """One group id per environment, the index of its object's name in first-seen order."""
    ids = {name: index for index, name in enumerate(dict.fromkeys(object_names))}
    return torch.tensor([ids[name] for name in object_names])


def normalize_advantages_per_group(algorithm, groups: torch.Tensor) -> None:
    """Make ``algorithm`` (rsl-rl's PPO) normalise its advantages within ``groups`` after
    each rollout: its own ``compute_returns`` computes returns and values as always; the
    advantages are then recomputed from them and normalised per group."""
    if algorithm.normalize_advantage_per_mini_batch:
        raise ValueError("per-group advantages replace the batch normalisation; rsl-rl's "
                         "per-mini-batch normalisation would undo them")
    compute_returns = algorithm.compute_returns

    def compute_returns_per_group(obs) -> None:
        compute_returns(obs)
        storage = algorithm.storage
        storage.advantages = normalized_by_group(storage.returns - storage.values,
                                                 groups.to(storage.returns.device))

    algorithm.compute_returns = compute_returns_per_group
