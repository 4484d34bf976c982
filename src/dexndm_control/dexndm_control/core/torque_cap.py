"""The gap meter's torque-cap check (no rclpy): does each motor still deliver the current cap it
was set to, where its position law asks for more?

A one-step dynamics model cannot see a lower torque cap: it predicts from the last W readings,
which already show the weaker hand (docs/gap_meter.md). The motor's present current can. On a
reading where the law with the driver's configured gains demands at least ``demand_margin``
times the configured goal current (the target in effect minus the reading, and the velocity:
dynamixel/position_law.py), the current must sit at the cap; the check keeps, per joint, the
mean of |present current| / cap over the last ``memory`` such readings, forgets them after
``stale_ticks`` readings without one, and warns below ``warn_ratio`` (errs below
``error_ratio``). A cap lowered by a register write or a failing supply, a motor that turned its
torque off, a softer position loop than configured: each delivers less than its cap there.

Measured on the virtual hand (`real` profile, 550 mA; docs/gap_meter.md): where the law demands
>= 1.5x the cap, |current| / cap per reading is 0.80 at its 1st percentile and 0.94 at its median
(the stand-in reports its output torque, which its gear friction moves by up to 10 %, and its
torque-speed curve lowers); the check's mean over 5 readings stayed >= 0.73 in five undisturbed
runs, and fell to 0.55-0.68 with the cap at 338 mA. Hence WARN below 0.7, ERROR below 0.4 (a
motor without torque delivers 0; a P gain x 0.3, ~0.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexndm_control.dynamixel.position_law import current_gains
from dexndm_control.errors import DexndmError
from dexndm_control.hand import AMPERE_PER_CURRENT_UNIT, MOTOR_IDS, NUM_JOINTS

# the driver's settings the check needs (BusConfig fields, read from the driver node)
MOTOR_SETTINGS = ("motor_ids", "position_p_gain", "position_d_gain", "side_motor_ids",
                  "side_gain_scale", "goal_current_ma")


@dataclass(frozen=True)
class MotorLaw:
    """Per joint (model order): the position law's register gains and the current cap (A)."""

    p_gain: np.ndarray
    d_gain: np.ndarray
    cap: np.ndarray

    @classmethod
    def from_bus_config(cls, config) -> MotorLaw:
        """From the driver's ``BusConfig`` (its gains per motor, its goal current)."""
        missing = [int(m) for m in MOTOR_IDS if m not in config.motor_ids]
        if missing:
            raise DexndmError(f"torque-cap check: the driver runs no motor {missing}")
        gains = [config.gains(int(m)) for m in MOTOR_IDS]
        return cls(np.array([g["position_p_gain"] for g in gains], dtype=float),
                   np.array([g["position_d_gain"] for g in gains], dtype=float),
                   np.full(NUM_JOINTS, config.goal_current_ma * AMPERE_PER_CURRENT_UNIT))


class TorqueCapCheck:
    def __init__(self, law: MotorLaw, demand_margin: float = 1.5, memory: int = 5,
                 stale_ticks: int = 20, warn_ratio: float = 0.7,
                 error_ratio: float = 0.4) -> None:
        if demand_margin < 1 or memory < 1 or stale_ticks < 1 \
                or not 0 < error_ratio < warn_ratio < 1:
            raise DexndmError("torque-cap check: need demand_margin >= 1, memory and "
                              "stale_ticks >= 1, 0 < error_ratio < warn_ratio < 1")
        self.law = law
        self.memory, self.stale_ticks = memory, stale_ticks
        self.warn_ratio, self.error_ratio = warn_ratio, error_ratio
        per_rad, per_rad_s = current_gains(law.p_gain, law.d_gain)
        # |demand| >= margin * cap, in the law's own units: one product per reading
        self._per_rad = per_rad / (demand_margin * law.cap)
        self._per_rad_s = per_rad_s / (demand_margin * law.cap)
        self.reset()

    def reset(self) -> None:
        self._ratios = np.full((self.memory, NUM_JOINTS), np.nan)  # a ring per joint
        self._slot = np.zeros(NUM_JOINTS, dtype=int)  # where each joint's next one goes
        self._since = np.full(NUM_JOINTS, self.stale_ticks)  # readings since the last one at cap

    def update(self, q: np.ndarray, velocity: np.ndarray, current: np.ndarray,
               target_in_effect: np.ndarray) -> np.ndarray:
        """Add one reading (rad, rad/s, A, and the target the motors held while it was taken);
        per joint the mean |current| / cap over its last readings that demanded more than the
        cap (NaN: none within the last ``stale_ticks`` readings, or no finite reading)."""
        # the law's current (kp e - kd w) over margin * cap
        demand = self._per_rad * (target_in_effect - q) - self._per_rad_s * velocity
        ratio = np.abs(current) / self.law.cap
        at_cap = (np.abs(demand) >= 1.0) & np.isfinite(ratio)  # NaN demand compares False
        joints = np.flatnonzero(at_cap)  # a joint's memory moves only when it is at cap
        self._ratios[self._slot[joints], joints] = ratio[joints]
        self._slot[joints] = (self._slot[joints] + 1) % self.memory
        self._since = np.where(at_cap, 0, self._since + 1)
        self._ratios[:, self._since >= self.stale_ticks] = np.nan
        return self.delivered()

    def delivered(self) -> np.ndarray:
        counts = np.sum(np.isfinite(self._ratios), axis=0)
        sums = np.nansum(self._ratios, axis=0)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
