"""Validate rotation commands and decide when to publish them (on change, plus a keepalive)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dexndm_control.errors import DexndmError
from dexndm_control.settings import setting


class InvalidAxisError(DexndmError):
    pass


def normalize_axis(axis: Sequence[float]) -> tuple[float, float, float]:
    """Unit vector of ``axis``; rejects wrong length, non-finite values and the zero vector."""
    values = [float(v) for v in axis]
    if len(values) != 3:
        raise InvalidAxisError(f"a rotation axis has 3 components, got {len(values)}: {values}")
    if not all(math.isfinite(v) for v in values):
        raise InvalidAxisError(f"rotation axis {values} has a non-finite component")
    norm = math.sqrt(sum(v * v for v in values))
    if norm < 1e-9:
        raise InvalidAxisError("the rotation axis is the zero vector; give a direction, "
                               "e.g. [0, 0, 1] for counter-clockwise about the hand z axis")
    return values[0] / norm, values[1] / norm, values[2] / norm


@dataclass(frozen=True)
class RotationCommanderConfig:
    axis: tuple[float, float, float] = setting((0.0, 0.0, 1.0),
                                               help="hand frame; changeable at runtime")
    enabled: bool = setting(True, help="changeable at runtime")
    source: str = setting("cli", help="label carried by every command")
    frame_id: str = "hand"
    keepalive_hz: float = setting(10.0, help="republish rate while nothing changes")
    duration_s: float = setting(0.0, help="> 0: exit after this long (demos, scripts)")

    def __post_init__(self) -> None:
        normalize_axis(self.axis)
        if self.keepalive_hz <= 0 or self.duration_s < 0:
            raise DexndmError("keepalive_hz must be > 0 and duration_s >= 0")


@dataclass(frozen=True)
class RotationState:
    axis: tuple[float, float, float]
    enabled: bool
    source: str


class KeepalivePublisher:
    """Publish when the state changes, and again whenever ``period`` seconds passed without one."""

    def __init__(self, period: float):
        if not period > 0:
            raise DexndmError(f"keepalive period must be positive, got {period}")
        self.period = period
        self._last_state: RotationState | None = None
        self._last_time: float | None = None

    def should_publish(self, state: RotationState, now: float) -> bool:
        due = (self._last_state != state or self._last_time is None
               or now - self._last_time >= self.period - 1e-9)
        if due:
            self._last_state, self._last_time = state, now
        return due
