"""The motor bus interface the driver core talks to, and the readings it returns.

``MotorBus`` is what the driver needs from 16 position-controlled motors; ``DynamixelBus``
(dynamixel_bus.py) implements it on dynamixel-sdk over a serial port (a U2D2, or the emulator's
pty). Values at this interface are raw motor units indexed by motor ID; conversion to the model
convention happens in the driver core through dexndm_control.hand.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from dexndm_control.errors import DexndmError


class BusError(DexndmError):
    """The bus cannot do what was asked (port, motors, verification)."""


class PortLostError(BusError):
    """The serial port disappeared or stopped working; close, reopen and set up again."""


class MissingMotorsError(BusError):
    def __init__(self, missing: list[int], port: str) -> None:
        self.missing = missing
        super().__init__(
            f"motor(s) {', '.join(map(str, missing))} did not answer on {port}: check their "
            "cables and power, and that IDs 0-15 are set (Dynamixel Wizard); the driver does not "
            "start with a motor missing")


@dataclass
class BusReading:
    """One read of present current/velocity/position, raw units, index = motor ID."""

    position: np.ndarray  # ticks
    velocity: np.ndarray  # 0.229 rpm units
    current: np.ndarray  # mA
    error: np.ndarray  # status-packet error byte per motor (bit 7 = hardware alert)
    ok: np.ndarray  # True where this motor's data arrived in this read
    timestamp: float = 0.0


@dataclass
class MotorHealth:
    """Slow-rate status of each motor (polled at a few Hz), index = motor ID."""

    hardware_error: np.ndarray
    temperature: np.ndarray  # deg C
    voltage: np.ndarray  # V
    ok: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    temperature_limit: np.ndarray = field(default_factory=lambda: np.zeros(0))  # deg C (EEPROM)


class MotorBus(ABC):
    """What the driver needs from the motors. Not thread-safe: one thread owns a bus."""

    @abstractmethod
    def open(self) -> None:
        """Open the port and run the start-up sequence; raise BusError on failure."""

    @abstractmethod
    def close(self) -> None:
        """Torque off (best effort) and release the port."""

    @abstractmethod
    def write_goal_positions(self, ticks: np.ndarray) -> None: ...

    @abstractmethod
    def read_state(self) -> BusReading: ...

    @abstractmethod
    def read_health(self) -> MotorHealth: ...

    @abstractmethod
    def set_torque(self, enabled: bool) -> None: ...

    @abstractmethod
    def reboot(self, motor_ids: list[int]) -> None:
        """Reboot motors (clears latched hardware errors), then restore settings and torque."""
