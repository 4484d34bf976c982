"""The gap meter's levels and thresholds: where each of its two statistics (the motion error and
the |offset|, core/gap_meter.py) and its torque-cap check (the share of the current cap a motor
delivers, core/torque_cap.py) warn and err, per joint. Pure numpy, so the view and the bag tools
judge a recorded GapMeter message exactly as the controller judged it live."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}


@dataclass(frozen=True)
class GapThresholds:
    """Per joint (rad): where each statistic warns and errs, and what they come from; and the
    shares of its current cap below which a motor's delivery warns and errs (0: no cap check)."""

    motion_warn: np.ndarray
    motion_error: np.ndarray
    offset_warn: np.ndarray
    offset_error: np.ndarray
    source: str
    cap_warn: float = 0.0
    cap_error: float = 0.0

    def level(self, motion: np.ndarray, offset: np.ndarray,
              cap_delivered: np.ndarray | None = None) -> tuple[int, np.ndarray]:
        """The level and which joints are at or beyond their warn thresholds."""
        levels = self.joint_levels(motion, offset, cap_delivered)
        return int(levels.max(initial=OK)), levels > OK

    def joint_levels(self, motion: np.ndarray, offset: np.ndarray,
                     cap_delivered: np.ndarray | None = None) -> np.ndarray:
        """Per joint OK / WARN / ERROR: the worst of the two statistics (motion error, |offset|)
        against their thresholds (arrays of the last axis' joints) and of the cap check. A
        threshold of 0 is one not set (a message that does not carry it) and never trips."""
        motion, offset = np.asarray(motion, dtype=float), np.abs(np.asarray(offset, dtype=float))

        def reached(value, threshold):
            threshold = np.asarray(threshold, dtype=float)
            return (threshold > 0) & (value >= threshold)
        out = reached(motion, self.motion_warn) | reached(offset, self.offset_warn)
        error = reached(motion, self.motion_error) | reached(offset, self.offset_error)
        levels = np.where(error, ERROR, np.where(out, WARN, OK))
        if cap_delivered is None:
            return levels
        return np.maximum(levels, cap_levels(cap_delivered, self.cap_warn, self.cap_error))

    def ratio(self, motion: np.ndarray, offset: np.ndarray,
              cap_delivered: np.ndarray | None = None) -> np.ndarray:
        """Per joint, the largest of motion error / its warn threshold, |offset| / its warn
        threshold and the cap's warn share / the share delivered: 1 is where the joint warns."""
        def over(value, threshold):
            value, threshold = np.broadcast_arrays(np.asarray(value, dtype=float), threshold)
            return np.divide(value, threshold, out=np.zeros_like(value), where=threshold > 0)
        ratio = np.maximum(over(motion, self.motion_warn),
                           over(np.abs(offset), self.offset_warn))
        if cap_delivered is None:
            return ratio
        return np.maximum(ratio, cap_ratio(cap_delivered, self.cap_warn))


def cap_ratio(delivered, warn_share) -> np.ndarray:
    """Per joint, the cap's warn share over the share delivered (1 = WARN; inf: a motor that
    delivered nothing; 0 where not judged or without a check, a warn share of 0)."""
    delivered = np.asarray(delivered, dtype=float)
    warn_share = np.broadcast_to(np.asarray(warn_share, dtype=float), delivered.shape)
    judged = np.isfinite(delivered) & (warn_share > 0)
    ratio = np.divide(warn_share, delivered, out=np.zeros_like(delivered),
                      where=judged & (delivered > 0))
    return np.where(judged & (delivered <= 0), np.inf, ratio)


def cap_levels(delivered, warn_share: float, error_share: float) -> np.ndarray:
    """Per joint OK / WARN / ERROR from the share of its current cap a motor delivered where its
    law asked for more (NaN: not judged, OK; a warn share of 0: no check, never trips)."""
    delivered = np.asarray(delivered, dtype=float)
    value = np.where(np.isfinite(delivered) & (warn_share > 0), delivered, np.inf)
    return np.where(value < error_share, ERROR, np.where(value < warn_share, WARN, OK))
