"""Networks that run at deployment (policy runtime) and are trained by dexndm_learning."""

from __future__ import annotations

import torch
from torch import nn


class Normalizer(nn.Module):
    """Fixed per-feature standardisation saved with the weights (mean, std buffers)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    def set(self, mean, std, min_std: float = 1e-3) -> None:  # noqa: ANN001
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.clamp(torch.as_tensor(std, dtype=torch.float32), min=min_std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ELU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[index], sizes[index + 1]))
        if index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class ResidualPolicyNet(nn.Module):
    """pi_res(o, a) -> bounded correction of the base target (rad), |a_res| <= scale.

    Inputs: the generalist observation o (ObservationLayout) and the base target a (16); the
    network sees a - q_t (the commanded step) rather than the absolute target. The last layer
    starts at zero, so an untrained residual changes nothing.
    """

    def __init__(self, obs_size: int, joints: int = 16, hidden: tuple[int, ...] = (256, 256),
                 scale: float = 0.05) -> None:
        super().__init__()
        self.obs_size, self.joints, self.scale = obs_size, joints, float(scale)
        self.hidden = tuple(hidden)
        self.obs_norm = Normalizer(obs_size)
        self.action_norm = Normalizer(joints)
        self.net = mlp([obs_size + joints, *hidden, joints])
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, obs: torch.Tensor, base_target: torch.Tensor,
                q_now: torch.Tensor) -> torch.Tensor:
        features = torch.cat([self.obs_norm(obs), self.action_norm(base_target - q_now)], -1)
        return self.scale * torch.tanh(self.net(features))

    def config(self) -> dict:
        return {"obs_size": self.obs_size, "joints": self.joints, "hidden": list(self.hidden),
                "scale": self.scale}
