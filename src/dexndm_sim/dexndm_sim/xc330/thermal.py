"""What heats an XC330 and what its firmware does about it: temperature and overload detection.

Temperature is a first-order model per motor driven by the copper loss i²R: the steady rise is
i² · R_winding · R_thermal and the motor approaches it with one time constant. The values are
the XC330-M288's where ROBOTIS publishes them (terminal resistance ≈ 2.8 Ω from the stall figures,
docs/notes/xc330_actuator.md; Temperature Limit 70 °C; ambient = the table's 30 °C). ROBOTIS
publishes no thermal resistance or time constant: 20 K/W and 300 s are assumptions, chosen so
that a motor held at the LEAP hand's 550 mA cap settles ~17 K above ambient (the paper's hand
collected for hours at that cap without overheating) while ~1 A held passes the 70 °C limit
(56 K), and a housing of ~20 g warms over minutes, not seconds.

The firmware's overload error ("persistent load that exceeds the maximum output") is detected
from the current: time spent at or above ``overload_current_ma`` fills a bucket, time below
drains it, and a full bucket latches the error. The default threshold is 95 % of the 1.8 A stall
current, so a hand capped at 550 mA never trips it (today's behaviour); a hand run at the
default 2.35 A current limit against a blocked finger does after ``overload_time_s``.

``speedup`` runs the heating and cooling that many times faster (tests and benchmarks: a
60-minute run can see hours of thermal history); the overload timing is not scaled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexndm_control.errors import DexndmError


@dataclass(frozen=True)
class ThermalConfig:
    ambient_c: float = 30.0
    winding_resistance_ohm: float = 2.8
    thermal_resistance_k_per_w: float = 20.0
    time_constant_s: float = 300.0
    speedup: float = 1.0
    overload_current_ma: float = 1710.0
    overload_time_s: float = 2.0
    overload_drain: float = 1.0  # bucket seconds removed per second spent below the threshold

    def __post_init__(self) -> None:
        if min(self.winding_resistance_ohm, self.thermal_resistance_k_per_w,
               self.time_constant_s, self.speedup, self.overload_time_s) <= 0:
            raise DexndmError("thermal resistances, time constant, speed-up and overload time "
                              "must be positive")
        if self.overload_current_ma <= 0 or self.overload_drain < 0:
            raise DexndmError("overload current must be > 0 mA and the drain rate >= 0")

    def steady_rise(self, current_ma: np.ndarray | float) -> np.ndarray:
        """Temperature rise above ambient (K) that a constant current settles at."""
        amps = np.asarray(current_ma, dtype=float) / 1000.0
        return amps ** 2 * self.winding_resistance_ohm * self.thermal_resistance_k_per_w


class MotorThermals:
    """Temperature and overload bucket of ``count`` motors; ``advance`` once per emulator tick."""

    def __init__(self, count: int, config: ThermalConfig | None = None) -> None:
        self.config = config or ThermalConfig()
        self.ambient_c = self.config.ambient_c  # the room can warm up (a heat wave, a lamp)
        self.temperature = np.full(count, self.config.ambient_c)
        self.overload_bucket = np.zeros(count)
        self.peak = self.temperature.copy()

    def advance(self, dt: float, current_ma: np.ndarray) -> np.ndarray:
        """Advance ``dt`` seconds at these currents (held over the interval; exact for a constant
        current). Returns which motors' overload bucket is full (the firmware latches those)."""
        config = self.config
        target = self.ambient_c + config.steady_rise(current_ma)
        decay = np.exp(-dt * config.speedup / config.time_constant_s)
        self.temperature = target + (self.temperature - target) * decay
        np.maximum(self.peak, self.temperature, out=self.peak)
        loaded = np.abs(np.asarray(current_ma, dtype=float)) >= config.overload_current_ma
        self.overload_bucket = np.where(
            loaded, self.overload_bucket + dt,
            np.maximum(self.overload_bucket - dt * config.overload_drain, 0.0))
        return self.overload_bucket >= config.overload_time_s

    def clear_overload(self, index: int) -> None:
        """A reboot restarts the firmware's detection (the heat stays)."""
        self.overload_bucket[index] = 0.0
