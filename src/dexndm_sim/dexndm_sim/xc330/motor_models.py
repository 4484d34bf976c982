"""Motor models behind the emulated bus: what the 16 motors do between two packets.

A model advances the physical state of all motors to a given time, given each motor's control
table (goal position, gains, current limits, torque enable). ``FirmwareMotorModel`` is the built-in
one: the XC330 current-based position law (docs/notes/xc330_actuator.md) driving a link
inertia with Coulomb + viscous friction. The MuJoCo-backed model of the simulation plugs in through
the same interface.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from dexndm_control.hand import RAD_PER_TICK, RAD_S_PER_VELOCITY_UNIT

TORQUE_CONSTANT = 0.517  # N*m/A at the output, gear losses included (ROBOTIS figure)


class MotorModel(Protocol):
    def step(self, dt: float, commands: dict[str, np.ndarray]) -> None:
        """Advance by ``dt`` seconds. ``commands`` holds per-motor arrays (index = motor ID):
        goal_position (ticks), torque_enable (0/1), position_p_gain, position_i_gain,
        position_d_gain (register units), goal_current and current_limit (mA)."""

    def present(self) -> dict[str, np.ndarray]:
        """position (ticks, float), velocity (rad/s), current (mA) per motor ID."""

    def apply_load(self, motor_id: int, torque_nm: float) -> None:
        """An external torque on the motor's output (0 removes it); held until changed."""


class FirmwareMotorModel:
    """Current-based position control (operating mode 5) on a link with friction, per motor.

    i* = (P/128)*e[ticks] + I-term - (D/16)*w[0.229 rpm units]; i = clip(i*, +-goal current);
    tau = 0.517 N*m/A * i; J*dw = tau - b*w - tau_c*tanh(w/w_s). Integrated semi-implicitly at the
    given step (1 kHz in the emulator), so commands are tracked with the lag of the real motors.
    """

    def __init__(self, count: int = 16, inertia: float = 0.0016, coulomb: float = 0.01,
                 viscous: float = 0.005, initial_ticks: float = 2048.0,
                 p_divisor: float = 128.0) -> None:
        self.count = count
        self.inertia = inertia
        self.coulomb = coulomb
        self.viscous = viscous
        self.p_divisor = p_divisor
        self.position = np.full(count, initial_ticks * RAD_PER_TICK)  # rad, motor frame
        self.velocity = np.zeros(count)
        self.current = np.zeros(count)
        self.external_torque = np.zeros(count)
        self._integral = np.zeros(count)

    def step(self, dt: float, commands: dict[str, np.ndarray]) -> None:
        enabled = commands["torque_enable"] > 0
        error_ticks = commands["goal_position"] - self.position / RAD_PER_TICK
        velocity_units = self.velocity / RAD_S_PER_VELOCITY_UNIT
        self._integral = np.where(enabled, self._integral + error_ticks * dt, 0.0)
        desired = (commands["position_p_gain"] / self.p_divisor * error_ticks
                   + commands["position_i_gain"] / 65536.0 * self._integral * 1000.0
                   - commands["position_d_gain"] / 16.0 * velocity_units)
        limit = np.minimum(np.abs(commands["goal_current"]), commands["current_limit"])
        current = np.where(enabled, np.clip(desired, -limit, limit), 0.0)
        torque = TORQUE_CONSTANT * current / 1000.0
        friction = self.coulomb * np.tanh(self.velocity / 0.01)
        # semi-implicit: viscous term implicit for stability
        self.velocity = (self.velocity + dt / self.inertia * (
            torque + self.external_torque - friction)) / (
            1.0 + dt * self.viscous / self.inertia)
        self.position = self.position + dt * self.velocity
        self.current = current

    def present(self) -> dict[str, np.ndarray]:
        return {"position": self.position / RAD_PER_TICK, "velocity": self.velocity.copy(),
                "current": self.current.copy()}

    def apply_load(self, motor_id: int, torque_nm: float) -> None:
        self.external_torque[motor_id] = torque_nm


__all__ = ["FirmwareMotorModel", "MotorModel", "TORQUE_CONSTANT"]
