"""The gap meter's levels and thresholds: where each of its two statistics (the motion error and
the |offset|, core/gap_meter.py) warns and errs, per joint. Pure numpy, so the view and the bag
tools judge a recorded GapMeter message exactly as the controller judged it live."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}


@dataclass(frozen=True)
class GapThresholds:
    """Per joint (rad): where each statistic warns and errs, and what they come from."""

    motion_warn: np.ndarray
    motion_error: np.ndarray
    offset_warn: np.ndarray
    offset_error: np.ndarray
    source: str

    def level(self, motion: np.ndarray, offset: np.ndarray) -> tuple[int, np.ndarray]:
        """The level and which joints are at or beyond their warn thresholds."""
        levels = self.joint_levels(motion, offset)
        return int(levels.max(initial=OK)), levels > OK

    def joint_levels(self, motion: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Per joint OK / WARN / ERROR: the worse of the two statistics (motion error, |offset|)
        against their thresholds (arrays of the last axis' joints). A threshold of 0 is one not
        set (a message that does not carry it) and never trips."""
        motion, offset = np.asarray(motion, dtype=float), np.abs(np.asarray(offset, dtype=float))

        def reached(value, threshold):
            threshold = np.asarray(threshold, dtype=float)
            return (threshold > 0) & (value >= threshold)
        out = reached(motion, self.motion_warn) | reached(offset, self.offset_warn)
        error = reached(motion, self.motion_error) | reached(offset, self.offset_error)
        return np.where(error, ERROR, np.where(out, WARN, OK))

    def ratio(self, motion: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Per joint, the larger of motion error / its warn threshold and |offset| / its warn
        threshold: 1 is where the joint warns."""
        def over(value, threshold):
            value, threshold = np.broadcast_arrays(np.asarray(value, dtype=float), threshold)
            return np.divide(value, threshold, out=np.zeros_like(value), where=threshold > 0)
        return np.maximum(over(motion, self.motion_warn), over(np.abs(offset), self.offset_warn))
