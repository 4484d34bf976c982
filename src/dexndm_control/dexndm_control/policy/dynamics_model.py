"""Dynamics models q_{t+1} = f(history of (q, a) over W steps), four factorizations.

All four are one ``GroupedMLP``: G independent MLPs evaluated as one batched matrix product
(weights [G, in, out], ``torch.baddbmm``), never a Python loop over joints or fingers.

| arch    | groups | each group sees                         | predicts            |
|---------|--------|-----------------------------------------|---------------------|
| joint   | 16     | its own joint's W-step (q, a) history   | that joint          |
| finger  | 4      | its finger's 4 joints' histories        | those 4 joints      |
| whole   | 1      | all 16 joints' histories                | all 16 joints       |
| shared  | 1 (x16)| one joint's history (same weights for all joints, UAN-style) | that joint |

The networks live here, beside the policies, because deployment runs them too (the controller's
gap meter); training is dexndm_learning.dynamics.

Output convention: the networks predict the normalised change dq = q_{t+1} - q_t per joint;
``DynamicsModel.forward`` returns q_{t+1} = q_t + dq (radians). Inputs are standardised per joint
(q and a statistics of the training data, stored as buffers in the weights).
"""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dexndm_control.hand import FINGERS, NUM_JOINTS
from dexndm_control.policy.networks import Normalizer

ARCHITECTURES = ("joint", "finger", "whole", "shared")
BUNDLE_KIND = "dynamics"


class GroupedMLP(nn.Module):
    """G independent MLPs in one batched computation: x [G, B, in] -> [G, B, out]."""

    def __init__(self, groups: int, sizes: list[int]) -> None:
        super().__init__()
        self.groups, self.sizes = groups, list(sizes)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(groups, fan_in, fan_out)
                                             .uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(groups, 1, fan_out)
                                            .uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(bias, x, weight)
            if index < last:
                x = torch.nn.functional.elu(x)
        return x


def _finger_index() -> torch.Tensor:
    return torch.tensor([FINGERS[name] for name in ("index", "middle", "ring", "thumb")])


class DynamicsModel(nn.Module):
    def __init__(self, arch: str = "joint", window: int = 10,
                 hidden: tuple[int, ...] | None = None) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture '{arch}', choose one of {ARCHITECTURES}")
        self.arch, self.window = arch, int(window)
        # () is a linear model per group (an ARX model for arch "joint")
        self.hidden = tuple(hidden) if hidden is not None else default_hidden(arch)
        joints = NUM_JOINTS
        per_joint = 2 * window
        groups, fan_in, fan_out = {"joint": (joints, per_joint, 1),
                                   "finger": (4, 4 * per_joint, 4),
                                   "whole": (1, joints * per_joint, joints),
                                   "shared": (1, per_joint, 1)}[arch]
        self.net = GroupedMLP(groups, [fan_in, *self.hidden, fan_out])
        self.q_norm = Normalizer(joints)
        self.a_norm = Normalizer(joints)
        self.dq_norm = Normalizer(joints)
        self.register_buffer("fingers", _finger_index(), persistent=False)

    def config(self) -> dict:
        return {"arch": self.arch, "window": self.window, "hidden": list(self.hidden),
                "output": "q_next = q_t + dq (network predicts standardised dq)"}

    def features(self, q_hist: torch.Tensor, a_hist: torch.Tensor) -> torch.Tensor:
        """[B, W, 16] histories -> per-joint standardised features [B, 16, 2W]."""
        q = self.q_norm(q_hist).transpose(1, 2)
        a = self.a_norm(a_hist).transpose(1, 2)
        return torch.cat([q, a], dim=-1)

    def predict_dq_normalised(self, q_hist: torch.Tensor, a_hist: torch.Tensor) -> torch.Tensor:
        x = self.features(q_hist, a_hist)  # [B, 16, 2W]
        batch = x.shape[0]
        if self.arch == "joint":
            out = self.net(x.transpose(0, 1))  # [16, B, 1]
            return out.squeeze(-1).transpose(0, 1)
        if self.arch == "shared":
            out = self.net(x.reshape(1, batch * NUM_JOINTS, -1))
            return out.reshape(batch, NUM_JOINTS)
        if self.arch == "finger":
            grouped = x[:, self.fingers]  # [B, 4, 4, 2W]
            out = self.net(grouped.reshape(batch, 4, -1).transpose(0, 1))  # [4, B, 4]
            dq = torch.empty(batch, NUM_JOINTS, dtype=out.dtype, device=out.device)
            dq[:, self.fingers.reshape(-1)] = out.transpose(0, 1).reshape(batch, -1)
            return dq
        return self.net(x.reshape(1, batch, -1))[0]  # whole

    def forward(self, q_hist: torch.Tensor, a_hist: torch.Tensor) -> torch.Tensor:
        """Next joint positions [B, 16] (rad) from histories [B, W, 16]."""
        dq = self.predict_dq_normalised(q_hist, a_hist) * self.dq_norm.std + self.dq_norm.mean
        return q_hist[:, -1] + dq


class NumpyDynamics:
    """A DynamicsModel evaluated in numpy (float64) for one history at a time: the live gap
    meter's per-tick prediction. At batch 1 torch's per-operation cost dominates (a forward of
    the 16 joint networks took ~0.45 ms of CPU, numpy ~0.05 ms); the result equals
    ``DynamicsModel.forward`` within float32 rounding (test_dynamics_models.py)."""

    def __init__(self, model: DynamicsModel) -> None:
        def array(tensor: torch.Tensor):
            return tensor.detach().double().cpu().numpy()

        self.arch = model.arch
        self.weights = [array(w) for w in model.net.weights]
        self.biases = [array(b) for b in model.net.biases]
        self.q_mean, self.q_std = array(model.q_norm.mean), array(model.q_norm.std)
        self.a_mean, self.a_std = array(model.a_norm.mean), array(model.a_norm.std)
        self.dq_mean, self.dq_std = array(model.dq_norm.mean), array(model.dq_norm.std)
        self.fingers = model.fingers.numpy()

    def __call__(self, q_hist, a_hist):
        """Next joint positions [16] (rad) from histories [W, 16]."""
        q_hist, a_hist = np.asarray(q_hist, dtype=float), np.asarray(a_hist, dtype=float)
        x = np.concatenate([((q_hist - self.q_mean) / self.q_std).T,
                            ((a_hist - self.a_mean) / self.a_std).T], axis=1)  # [16, 2W]
        # [groups, rows, inputs], as DynamicsModel.predict_dq_normalised groups them
        if self.arch == "joint":
            x = x[:, None, :]
        elif self.arch == "shared":
            x = x[None]
        elif self.arch == "finger":
            x = x[self.fingers].reshape(4, 1, -1)
        else:  # whole
            x = x.reshape(1, 1, -1)
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = bias + x @ weight
            if index < last:  # ELU, alpha 1
                x = np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
        if self.arch == "finger":
            dq = np.empty(NUM_JOINTS)
            dq[self.fingers.reshape(-1)] = x.reshape(-1)
        else:
            dq = x.reshape(-1)  # joint [16, 1, 1], shared [1, 16, 1], whole [1, 1, 16]
        return q_hist[-1] + dq * self.dq_std + self.dq_mean


def default_hidden(arch: str) -> tuple[int, ...]:
    """Defaults sized so that one training step costs about the same for every factorization
    (the per-joint nets are small because there are 16 of them)."""
    return {"joint": (96, 96), "finger": (256, 256), "whole": (512, 512),
            "shared": (256, 256)}[arch]


def load_dynamics_bundle(path: str | Path) -> tuple[DynamicsModel, dict]:
    """The dynamics model a bundle holds (eval mode) and the bundle's information."""
    from dexndm_control.policy.bundle import load_network

    model, bundle = load_network(path, BUNDLE_KIND, lambda config: DynamicsModel(
        config["arch"], config["window"], tuple(config["hidden"])))
    return model, bundle.info


def load_dynamics(path: str | Path) -> DynamicsModel:
    return load_dynamics_bundle(path)[0]
