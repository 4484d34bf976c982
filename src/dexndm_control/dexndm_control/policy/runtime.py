"""Policy runtime: base generalist (+ residual) from bundles, history, one 20 Hz step at a time.

Everything that shapes the observation comes from the bundle (layout, normaliser buffers, action
scale, initial pose); nothing is re-declared here. A residual bundle must declare the same layout
as the base bundle, or it is refused.

Target chain: the base policy's own target a_t = a_{t-1} + delta_a * scale (the chain it was
trained on, and what its "previous target" observation holds); the commanded target adds the
residual, then is clipped to the joint limits and to ``max_step`` per tick.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.hand import LOWER, NUM_JOINTS, UPPER
from dexndm_control.policy.bundle import load_network
from dexndm_control.policy.networks import ResidualPolicyNet
from dexndm_control.policy.observation import ObservationLayout


@dataclass
class StepResult:
    target: np.ndarray  # commanded (base + residual, clipped)
    base_target: np.ndarray
    previous_target: np.ndarray
    base_delta: np.ndarray  # raw network output in [-1, 1]
    residual: np.ndarray
    observation: np.ndarray
    compute_s: float


class PolicyRuntime:
    def __init__(self, base_bundle: str | Path, residual_bundle: str | Path | None = None,
                 max_step: float = 0.1, threads: int = 1) -> None:
        torch.set_num_threads(threads)
        self.base, bundle = load_network(base_bundle, "base_policy")
        self.layout = ObservationLayout.from_dict(bundle.info["layout"])
        if bundle.config["obs_size"] != self.layout.size:
            raise DexndmError(f"{base_bundle}: network input {bundle.config['obs_size']} "
                              f"differs from its layout's size {self.layout.size}")
        self.precision = bundle.info.get("precision", "fp32")
        self.action_scale = float(bundle.info["action_scale"])
        self.initial_pose = np.asarray(bundle.info["initial_pose"], dtype=float)
        #: the training grasp whose target initial_pose is (object, wrist, grasp), if it names one
        self.initial_grasp: dict | None = bundle.info.get("initial_grasp") or None
        self.residual: ResidualPolicyNet | None = None
        if residual_bundle:
            self.residual, residual = load_network(residual_bundle, "residual")
            layout = ObservationLayout.from_dict(residual.info["layout"])
            if layout != self.layout:
                raise DexndmError(f"residual {residual_bundle} was trained on observation layout "
                                  f"{layout}, the base policy uses {self.layout}: retrain the "
                                  "residual for this base policy")
        self.max_step = float(max_step)
        self.use_residual = self.residual is not None
        self.q_history = np.zeros((self.layout.history, NUM_JOINTS))
        self.target_history = np.zeros((self.layout.history, NUM_JOINTS))
        self.base_target = self.initial_pose.copy()
        self.command = self.initial_pose.copy()

    def reset(self, q: np.ndarray, target: np.ndarray) -> None:
        """Fill the history as if the hand had been at ``q`` holding ``target``."""
        self.q_history[:] = q
        self.target_history[:] = target
        self.base_target = np.asarray(target, dtype=float).copy()
        self.command = self.base_target.copy()

    def observation(self, wrist_quat: np.ndarray, axis: np.ndarray) -> np.ndarray:
        return self.layout.build(self.q_history[None], self.target_history[None],
                                 np.asarray(wrist_quat, float)[None],
                                 np.asarray(axis, float)[None])[0]

    def step(self, q: np.ndarray, wrist_quat: np.ndarray, axis: np.ndarray) -> StepResult:
        started = time.perf_counter()
        self.q_history = np.roll(self.q_history, -1, axis=0)
        self.q_history[-1] = q
        obs = self.observation(wrist_quat, axis)
        previous = self.base_target.copy()
        with torch.inference_mode():
            obs_t = torch.as_tensor(obs, dtype=torch.float32)[None]
            delta = self.base(obs_t)[0].numpy().astype(float)
            base_target = np.clip(previous + delta * self.action_scale, LOWER, UPPER)
            residual = np.zeros(NUM_JOINTS)
            if self.use_residual and self.residual is not None:
                residual = self.residual(obs_t, torch.as_tensor(base_target[None],
                                                                dtype=torch.float32),
                                         torch.as_tensor(np.asarray(q)[None],
                                                         dtype=torch.float32))[0].numpy()
        command = np.clip(base_target + residual, LOWER, UPPER)
        command = np.clip(command, self.command - self.max_step, self.command + self.max_step)
        # the next observation's newest "previous target" is this step's base target
        self.target_history = np.roll(self.target_history, -1, axis=0)
        self.target_history[-1] = base_target
        self.base_target = base_target
        self.command = command
        return StepResult(command, base_target, previous, delta, residual.astype(float), obs,
                          time.perf_counter() - started)
