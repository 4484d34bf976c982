"""Networks that run at deployment (policy runtime) and are trained by dexndm_learning."""

from __future__ import annotations

import torch
from torch import nn

# the smallest spread a feature is scaled by; a feature at it was constant in the fitted data
STD_FLOOR = 1e-3


class Normalizer(nn.Module):
    """Fixed per-feature standardisation saved with the weights (mean, std buffers)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    def set(self, mean, std, min_std: float = STD_FLOOR) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.clamp(torch.as_tensor(std, dtype=torch.float32), min=min_std))

    def unit_scale_constant(self, min_std: float = STD_FLOOR) -> int:
        """Give the features the fit found constant (std at the ``set`` floor) unit scale, and
        return how many there were. A policy fitted at one wrist and about one axis sees the
        wrist quaternion and two axis components constant: at the floor, another wrist or axis
        would enter ~1/min_std standard deviations out and swamp every other input, where at
        unit scale it enters at its own size (quaternion and axis components are within
        [-1, 1]). On the fitted data (each such feature at its mean) nothing changes."""
        constant = self.std <= min_std
        self.std[constant] = 1.0
        return int(constant.sum())

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


class ResidualBlock(nn.Module):
    """y = ReLU(NN1(x) + NN3(ReLU(NN2(x)))) (paper appendix A.1)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.nn1, self.nn2, self.nn3 = (nn.Linear(width, width) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.nn1(x) + self.nn3(torch.relu(self.nn2(x))))


class GeneralistPolicyNet(nn.Module):
    """The proprioceptive generalist: input layer to ``width``, ``blocks`` residual blocks,
    linear output of the relative action delta_a in [-1, 1] (target += delta_a * action_scale)."""

    def __init__(self, obs_size: int, joints: int = 16, width: int = 1024, blocks: int = 5
                 ) -> None:
        super().__init__()
        self.obs_size, self.joints, self.width, self.blocks = obs_size, joints, width, blocks
        self.obs_norm = Normalizer(obs_size)
        self.input = nn.Linear(obs_size, width)
        self.body = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)))
        self.output = nn.Linear(width, joints)

    def unclamped(self, obs: torch.Tensor) -> torch.Tensor:
        """The output before the clamp (the mean PPO fine-tuning trains: a clamp cuts the
        gradient)."""
        return self.output(self.body(self.input(self.obs_norm(obs))))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.unclamped(obs), -1.0, 1.0)

    def config(self) -> dict:
        return {"obs_size": self.obs_size, "joints": self.joints, "width": self.width,
                "blocks": self.blocks}
