"""The live reality-gap meter (no rclpy): the deployed dynamics model runs one step ahead on the
joint readings and the targets sent, and each prediction is scored against the next reading.

At control tick t the controller reads q_t and sends a_t; then ``GapMeter.update`` scores the
prediction made at t-1 (e_t = q_t - q^_t) and predicts q^_{t+1} from the last W (q, a) pairs, as
the model was trained (the chaos-box transitions: q_k, a_k -> q_{k+1}). The meter owns no
thread: the node calls it after the tick's command has left (nodes/rotation_controller.py).

Two statistics per joint (``GapStatistics``), because the error on the task has two parts with
different causes (docs/gap_meter.md): the **offset**, a slow signed mean of e (time constant
``offset_ticks``), which holds where a finger presses the object in a way the model does not
predict, as long as that grasp lasts; and the **motion error**, the mean |e - offset| over the
last ``window`` ticks, how the joint moves differently from the model's prediction. WARN or
ERROR when either passes its threshold on any joint, and the joints beyond are named.

Thresholds: from a calibration on supervised runs of the deployed hand when the bundle holds one
(``gap_meter.calibration``, written by `dexndm dataset gap-calibrate BAGS --bundle DIR`: a
margin times the largest value each statistic reached there), else ``warn_factor`` /
``error_factor`` times the bundle's reference error: on the task when measured there
(``gap_meter.reference_mae_per_joint``, `dexndm eval dynamics --ood SHARDS --meter-reference`),
else on its held-out training data (``metrics.eval_mae_per_joint``, chaos-box episodes).

What it can see, measured (docs/gap_meter.md): changes of how the joints move under their
targets (a softer position loop). It is a weak detector of a lower torque cap: the model reads
a weaker hand in its own W-step history, so its one-step error barely grows unless the cap
falls far (250 mA: x1.0, 150 mA: MCP joints x3.5-3.9 against the 550 mA it was trained at).
For that the meter has a third judge once it knows the driver's motor settings
(``watch_torque_cap``): the torque-cap check on the motors' present current (core/torque_cap.py).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from dexndm_control.core.gap_levels import LEVEL_NAMES, OK, GapThresholds
from dexndm_control.core.torque_cap import TorqueCapCheck
from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES, NUM_JOINTS, RAD_PER_TICK
from dexndm_control.policy.bundle import update_bundle_info
from dexndm_control.policy.dynamics_model import NumpyDynamics, load_dynamics_bundle

CALIBRATION_FLOOR = 0.5 * RAD_PER_TICK  # rad


@dataclass
class GapReading:
    """One scored tick."""

    predicted: np.ndarray  # q^_t, predicted at t-1 (rad)
    measured: np.ndarray  # q_t
    rolling_mae: np.ndarray  # per joint: the motion error, mean |e - offset| over the window
    level: int
    joints_out: list[str] = field(default_factory=list)  # at or above a warn threshold
    offset: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS))  # slow mean of e
    # per joint, the share of its current cap delivered where its law asked for more (NaN: not
    # judged; core/torque_cap.py)
    cap_delivered: np.ndarray = field(default_factory=lambda: np.full(NUM_JOINTS, np.nan))

    @property
    def error(self) -> np.ndarray:
        return self.measured - self.predicted


class GapStatistics:
    """Per joint, from the stream of one-step errors e_t: the offset (an exponential mean of e
    with time constant ``offset_ticks``, a plain mean over the first ticks) and the motion error
    (mean |e_t - offset_{t-1}| over the last ``window`` ticks). ``judged`` once ``offset_ticks``
    errors came in: before, the offset is still settling."""

    def __init__(self, window: int, offset_ticks: int) -> None:
        if window < 1 or offset_ticks < 1:
            raise DexndmError("gap meter: window and offset time constant must be >= 1 tick")
        self.window, self.offset_ticks = window, offset_ticks
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.offset = np.zeros(NUM_JOINTS)
        self._deviations: deque[np.ndarray] = deque(maxlen=self.window)

    @property
    def judged(self) -> bool:
        return self.count >= self.offset_ticks

    def update(self, error: np.ndarray) -> np.ndarray:
        """Add e_t; the motion error after it."""
        self._deviations.append(np.abs(error - self.offset) if self.count else np.abs(error))
        self.count += 1
        self.offset = self.offset + (error - self.offset) / min(self.count, self.offset_ticks)
        return np.mean(self._deviations, axis=0)


class GapMeter:
    def __init__(self, bundle: str | Path, window: int = 10, warn_factor: float = 5.0,
                 error_factor: float = 10.0, offset_ticks: int = 40) -> None:
        if window < 1 or offset_ticks < 1 or not 0 < warn_factor < error_factor:
            raise DexndmError("gap meter: need window >= 1, offset_ticks >= 1 and "
                              "0 < warn_factor < error_factor")
        self.model, info = load_dynamics_bundle(bundle)
        section = info.get("gap_meter", {})
        task = section.get("reference_mae_per_joint")
        reference = task if task is not None else \
            info.get("metrics", {}).get("eval_mae_per_joint")
        self.reference_source = "task runs" if task is not None else "held-out training data"
        if reference is None or len(reference) != NUM_JOINTS:
            raise DexndmError(f"{bundle} does not hold its error per joint "
                              "(metrics.eval_mae_per_joint): retrain it with `dexndm train "
                              "dynamics`, or measure it with `dexndm eval dynamics --ood SHARDS "
                              "--meter-reference`")
        self.reference = np.asarray(reference, dtype=float)
        calibration = section.get("calibration")
        if calibration is not None:
            self.thresholds = thresholds_from_calibration(calibration, window, offset_ticks,
                                                          bundle)
        else:
            self.thresholds = GapThresholds(
                warn_factor * self.reference, error_factor * self.reference,
                warn_factor * self.reference, error_factor * self.reference,
                f"{warn_factor:g}x / {error_factor:g}x the dynamics model's error on "
                f"{self.reference_source}")
        self.warn, self.error = self.thresholds.motion_warn, self.thresholds.motion_error
        self.window = window
        self.statistics = GapStatistics(window, offset_ticks)
        self._q: deque[np.ndarray] = deque(maxlen=self.model.window)
        self._a: deque[np.ndarray] = deque(maxlen=self.model.window)
        self._predicted: np.ndarray | None = None  # q^ of the next reading
        self._predict = NumpyDynamics(self.model)  # per tick, batch 1: numpy, not torch
        self.cap_check: TorqueCapCheck | None = None

    def watch_torque_cap(self, check: TorqueCapCheck) -> None:
        """Judge the motors' present current too (from the driver's motor settings)."""
        self.cap_check = check
        self.thresholds = dataclasses.replace(self.thresholds, cap_warn=check.warn_ratio,
                                              cap_error=check.error_ratio)

    def reset(self) -> None:
        """Forget the history (the controller held or ramped: the next steps start afresh)."""
        self._q.clear()
        self._a.clear()
        self.statistics.reset()
        self._predicted = None
        if self.cap_check is not None:
            self.cap_check.reset()

    def update(self, q: np.ndarray, sent: np.ndarray, velocity: np.ndarray | None = None,
               current: np.ndarray | None = None) -> GapReading | None:
        """Score the prediction of reading ``q`` (None before the first one), then predict the
        next reading from the last W readings and targets sent, ``sent`` the newest. With the
        reading's ``velocity`` (rad/s) and present ``current`` (A) and a torque-cap check, the
        check judges the reading against the target that was in effect (the previous one sent)."""
        q, sent = np.array(q, dtype=float), np.array(sent, dtype=float)
        delivered = np.full(NUM_JOINTS, np.nan)
        if self.cap_check is not None and self._a and velocity is not None \
                and current is not None:
            delivered = self.cap_check.update(q, np.asarray(velocity, dtype=float),
                                              np.asarray(current, dtype=float), self._a[-1])
        reading = None
        if self._predicted is not None:
            motion = self.statistics.update(q - self._predicted)
            offset = self.statistics.offset.copy()
            if self.statistics.judged:
                level, out = self.thresholds.level(motion, offset, delivered)
            else:  # too few ticks to judge the motion yet; the cap check needs no settling
                level, out = self.thresholds.level(np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS),
                                                   delivered)
            reading = GapReading(self._predicted, q, motion, level,
                                 [JOINT_NAMES[j] for j in np.flatnonzero(out)], offset,
                                 delivered)
        self._q.append(q)
        self._a.append(sent)
        self._predicted = None
        if len(self._q) == self.model.window:
            self._predicted = self._predict(np.array(self._q), np.array(self._a))
        return reading

    def diagnostic(self, reading: GapReading | None) -> tuple[int, str, dict[str, str]]:
        """(level, message, key values) for /diagnostics from the latest scored tick."""
        if reading is None:
            return OK, "waiting: the meter scores the policy's ticks (it restarts after a hold)", {}
        t = self.thresholds
        judged = "" if self.statistics.judged else ", settling"
        scope = f"{min(self.statistics.count, self.window)} of {self.window} ticks{judged}"
        ratio = t.ratio(reading.rolling_mae, reading.offset, reading.cap_delivered)
        worst = int(np.argmax(ratio))
        cap = "torque cap: not checked (no motor settings from the driver)" \
            if self.cap_check is None else \
            f"torque cap: WARN below {t.cap_warn:.0%} of it delivered at cap"
        if reading.level == OK:
            message = (f"within the dynamics model's data: worst {JOINT_NAMES[worst]} at "
                       f"{ratio[worst]:.2f} of its warn threshold ({t.source}; {scope}; {cap})")
        else:
            short = [JOINT_NAMES[j] for j in np.flatnonzero(
                reading.cap_delivered < t.cap_warn)] if self.cap_check is not None else []
            cause = (f"; {', '.join(short)} deliver{'s' if len(short) == 1 else ''} less than "
                     f"{t.cap_warn:.0%} of the current cap where the position law asks for "
                     "more (a lowered goal current, a sagging supply, a motor without torque)"
                     if short else "")
            message = (f"{', '.join(reading.joints_out)} beyond the warn threshold (worst "
                       f"{JOINT_NAMES[worst]} {ratio[worst]:.1f}x; {t.source}; {scope}): the hand "
                       f"left the data the residual was trained on{cause}")
        values = {}
        for j, name in enumerate(JOINT_NAMES):
            values[f"{name} motion error [mrad]"] = f"{1000 * reading.rolling_mae[j]:.2f}"
            values[f"{name} motion warn at [mrad]"] = f"{1000 * t.motion_warn[j]:.2f}"
            values[f"{name} offset [mrad]"] = f"{1000 * reading.offset[j]:.2f}"
            values[f"{name} offset warn at [mrad]"] = f"{1000 * t.offset_warn[j]:.2f}"
            if self.cap_check is not None:
                delivered = reading.cap_delivered[j]
                values[f"{name} current at cap [%]"] = "not at cap" \
                    if not np.isfinite(delivered) else f"{100 * delivered:.0f}"
        return reading.level, message, values


def thresholds_from_calibration(calibration: dict, window: int, offset_ticks: int,
                                bundle: str | Path) -> GapThresholds:
    made = (calibration.get("window_ticks"), calibration.get("offset_ticks"))
    if made != (window, offset_ticks):
        raise DexndmError(
            f"{bundle}: its gap meter calibration was made with a {made[0]}-tick window and a "
            f"{made[1]}-tick offset time constant, the controller runs {window} and "
            f"{offset_ticks}: set gap_window_s / gap_offset_s to match, or recalibrate "
            "(`dexndm dataset gap-calibrate BAGS --bundle DIR`)")
    values = {key: np.asarray(calibration[key], dtype=float)
              for key in ("motion_warn", "motion_error", "offset_warn", "offset_error")}
    return GapThresholds(**values, source=f"calibrated on {calibration.get('ticks', '?')} ticks "
                                          "of supervised runs")


def calibrate(runs: Sequence[np.ndarray], window: int, offset_ticks: int,
              warn_margin: float = 2.0, error_margin: float = 4.0) -> dict:
    """Thresholds from supervised runs of the deployed hand: ``runs`` holds each uninterrupted
    stretch of one-step errors [T, 16] (the meter restarts after every hold, so does this);
    per joint and statistic, the margin times the largest value it reached once judged."""
    if not 1 <= warn_margin < error_margin:
        raise DexndmError("gap-calibrate: need 1 <= warn margin < error margin")
    motions, offsets = [], []
    for errors in runs:
        statistics = GapStatistics(window, offset_ticks)
        for error in np.asarray(errors, dtype=float):
            motion = statistics.update(error)
            if statistics.judged:
                motions.append(motion)
                offsets.append(np.abs(statistics.offset))
    if len(motions) < 10 * offset_ticks:
        raise DexndmError(f"gap-calibrate: {len(motions)} judged ticks in the runs given, need "
                          f"at least {10 * offset_ticks} (record longer: each stretch without a "
                          f"hold counts from its {offset_ticks + 1}th tick)")
    # below half an encoder tick an error is the reading's resolution, not the hand: a joint
    # that never moved in the runs gets that floor, not a threshold of zero
    motion_max = np.maximum(np.max(motions, axis=0), CALIBRATION_FLOOR)
    offset_max = np.maximum(np.max(offsets, axis=0), CALIBRATION_FLOOR)
    return {"window_ticks": window, "offset_ticks": offset_ticks,
            "warn_margin": warn_margin, "error_margin": error_margin,
            "motion_max": motion_max.tolist(), "offset_max": offset_max.tolist(),
            "motion_warn": (warn_margin * motion_max).tolist(),
            "motion_error": (error_margin * motion_max).tolist(),
            "offset_warn": (warn_margin * offset_max).tolist(),
            "offset_error": (error_margin * offset_max).tolist(),
            "ticks": len(motions), "stretches": len(runs)}


def store_calibration(bundle: str | Path, calibration: dict, sources: list[str]) -> None:
    """Write a calibration into a dynamics bundle's gap_meter section, keeping its reference."""
    info = yaml.safe_load((Path(bundle) / "bundle.yaml").read_text())
    section = dict(info.get("gap_meter") or {})
    section["calibration"] = {**calibration, "data": sources,
                              "measured": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    update_bundle_info(bundle, gap_meter=section)


@dataclass
class GapSummary:
    """What the meter saw over a run: for the demo's side-by-side and the controller's stats."""

    ticks: int = 0
    level_ticks: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(LEVEL_NAMES.values(), 0))
    absolute_error_sum: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS))

    def add(self, reading: GapReading) -> None:
        self.ticks += 1
        self.level_ticks[LEVEL_NAMES[reading.level]] += 1
        self.absolute_error_sum += np.abs(reading.error)

    def to_dict(self, reference: np.ndarray) -> dict:
        mae = self.absolute_error_sum / max(self.ticks, 1)
        return {"ticks": self.ticks, "mae_mrad": round(1000 * float(mae.mean()), 3),
                "mae_over_reference": round(float(np.mean(mae / reference)), 3),
                "worst_joint": JOINT_NAMES[int(np.argmax(mae / reference))],
                "level_share": {name: round(count / max(self.ticks, 1), 3)
                                for name, count in self.level_ticks.items()}}
