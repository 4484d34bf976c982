"""The rotation controller's decisions (no rclpy): ramp, run the policy, or hold, and why.

Hold (send the last target again) when joint states are older than ``stale_periods`` control
periods, when rotation is disabled (no command, enabled = false, or the command's keepalive
stopped), or when anything the policy would see or produce is not finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.policy.runtime import PolicyRuntime, StepResult


@dataclass(frozen=True)
class ControllerConfig:
    rate_hz: float = 20.0
    stale_periods: float = 3.0
    ramp_s: float = 2.0
    command_timeout_s: float = 1.0  # rotation commands come at >= 10 Hz

    def __post_init__(self) -> None:
        if self.rate_hz <= 0 or self.stale_periods <= 0 or self.ramp_s < 0:
            raise DexndmError("rate_hz and stale_periods must be > 0, ramp_s >= 0")


@dataclass
class Decision:
    target: np.ndarray | None
    phase: str  # wait, ramp, run
    holding: bool = False
    reason: str = ""
    step: StepResult | None = None


class ControllerCore:
    def __init__(self, runtime: PolicyRuntime, config: ControllerConfig = ControllerConfig()
                 ) -> None:
        self.runtime, self.config = runtime, config
        self.period = 1.0 / config.rate_hz
        self.phase = "wait"
        self.last_target: np.ndarray | None = None
        self._ramp_from: np.ndarray | None = None
        self._ramp_step = 0
        self._ramp_steps = max(1, int(round(config.ramp_s / self.period)))

    def tick(self, now: float, state_time: float | None, q: np.ndarray | None,
             command_time: float | None, axis: np.ndarray | None, enabled: bool,
             wrist: np.ndarray) -> Decision:
        if state_time is None or q is None:
            return Decision(None, "wait", True, "waiting for joint_states")
        if now - state_time > self.config.stale_periods * self.period:
            return self._hold(f"joint_states stale ({(now - state_time) * 1000:.0f} ms old)")
        if not np.all(np.isfinite(q)) or not np.all(np.isfinite(wrist)):
            return self._hold("non-finite joint state or wrist orientation")
        if self.phase == "wait":
            self.phase, self._ramp_from, self._ramp_step = "ramp", np.asarray(q, float), 0
        if self.phase == "ramp":
            self._ramp_step += 1
            fraction = min(1.0, self._ramp_step / self._ramp_steps)
            target = self._ramp_from + (self.runtime.initial_pose - self._ramp_from) * fraction
            if fraction >= 1.0:
                self.phase = "run"
                self.runtime.reset(np.asarray(q, float), self.runtime.initial_pose)
            self.last_target = target
            return Decision(target, "ramp", False, "ramping to the initial grasp pose")
        if command_time is None or not enabled:
            return self._hold("rotation disabled")
        if now - command_time > self.config.command_timeout_s:
            return self._hold("rotation command keepalive lost")
        if axis is None or not np.all(np.isfinite(axis)) or np.linalg.norm(axis) < 1e-6:
            return self._hold("invalid rotation axis")
        step = self.runtime.step(np.asarray(q, float), wrist, np.asarray(axis) /
                                 np.linalg.norm(axis))
        if not np.all(np.isfinite(step.target)):
            return self._hold("policy produced a non-finite target")
        self.last_target = step.target
        return Decision(step.target, "run", False, "", step)

    def _hold(self, reason: str) -> Decision:
        return Decision(self.last_target, self.phase, True, reason)
