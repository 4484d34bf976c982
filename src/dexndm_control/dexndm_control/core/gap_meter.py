"""The live reality-gap meter (no rclpy): the deployed dynamics model runs one step ahead on the
joint readings and the targets sent, and each prediction is scored against the next reading.

At control tick t the controller reads q_t and sends a_t. ``GapMeter.update(q_t, a_t)`` first
scores the prediction made at t-1 (q_t - q^_t), then predicts q^_{t+1} from the last W
(q, a) pairs, as the model was trained (the chaos-box transitions: q_k, a_k -> q_{k+1}). The
rolling per-joint mean absolute error over ``window`` scored ticks is compared with thresholds
taken from the bundle's own error: its error on the hand's task when it was measured there
(``gap_meter.reference_mae_per_joint``, written by `dexndm eval dynamics --ood SHARDS
--meter-reference` from supervised task runs), else its held-out error on its training data
(``metrics.eval_mae_per_joint``, chaos-box episodes, usually lower than on the task). WARN at
``warn_factor`` times it, ERROR at ``error_factor`` times it, and the joints beyond are named.

What it can see, measured (docs/gap_meter.md): changes of how the joints move under their
targets. It is a weak detector of a lower torque cap: the model reads a weaker hand in its own
W-step history, so its one-step error barely grows unless the cap falls far (250 mA: x1.0,
150 mA: MCP joints x3.5-3.9 against the 550 mA the model was trained at).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES, NUM_JOINTS
from dexndm_control.policy.dynamics_model import load_dynamics_bundle

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}


@dataclass
class GapReading:
    """One scored tick."""

    predicted: np.ndarray  # q^_t, predicted at t-1 (rad)
    measured: np.ndarray  # q_t
    rolling_mae: np.ndarray  # per joint, over the last ``window`` scored ticks
    level: int
    joints_out: list[str] = field(default_factory=list)  # at or above the warn threshold

    @property
    def error(self) -> np.ndarray:
        return self.measured - self.predicted


class GapMeter:
    def __init__(self, bundle: str | Path, window: int = 40, warn_factor: float = 5.0,
                 error_factor: float = 10.0) -> None:
        if window < 1 or not 0 < warn_factor < error_factor:
            raise DexndmError("gap meter: need window >= 1 and 0 < warn_factor < error_factor")
        self.model, info = load_dynamics_bundle(bundle)
        task = info.get("gap_meter", {}).get("reference_mae_per_joint")
        reference = task if task is not None else \
            info.get("metrics", {}).get("eval_mae_per_joint")
        self.reference_source = "task runs" if task is not None else "held-out training data"
        if reference is None or len(reference) != NUM_JOINTS:
            raise DexndmError(f"{bundle} does not hold its error per joint "
                              "(metrics.eval_mae_per_joint): retrain it with `dexndm train "
                              "dynamics`, or measure it with `dexndm eval dynamics --ood SHARDS "
                              "--meter-reference`")
        self.reference = np.asarray(reference, dtype=float)
        self.warn_factor, self.error_factor = warn_factor, error_factor
        self.warn = warn_factor * self.reference
        self.error = error_factor * self.reference
        self.window = window
        self._q: deque[np.ndarray] = deque(maxlen=self.model.window)
        self._a: deque[np.ndarray] = deque(maxlen=self.model.window)
        self._errors: deque[np.ndarray] = deque(maxlen=window)
        self._predicted: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the history (the controller held or ramped: the next steps start afresh)."""
        self._q.clear()
        self._a.clear()
        self._errors.clear()
        self._predicted = None

    @torch.inference_mode()
    def update(self, q: np.ndarray, sent: np.ndarray) -> GapReading | None:
        """Score the prediction of ``q`` (None before the first one), then predict the next."""
        q, sent = np.asarray(q, dtype=float), np.asarray(sent, dtype=float)
        reading = None
        if self._predicted is not None:
            self._errors.append(np.abs(q - self._predicted))
            rolling = np.mean(self._errors, axis=0)
            reading = GapReading(self._predicted, q, rolling, self._level(rolling),
                                 [JOINT_NAMES[j] for j in np.flatnonzero(rolling >= self.warn)])
        self._q.append(q)
        self._a.append(sent)
        self._predicted = None
        if len(self._q) == self.model.window:
            q_hist = torch.as_tensor(np.array(self._q), dtype=torch.float32)[None]
            a_hist = torch.as_tensor(np.array(self._a), dtype=torch.float32)[None]
            self._predicted = self.model(q_hist, a_hist)[0].double().numpy()
        return reading

    def diagnostic(self, reading: GapReading | None) -> tuple[int, str, dict[str, str]]:
        """(level, message, key values) for /diagnostics from the latest scored tick."""
        if reading is None:
            return OK, "waiting: the meter scores the policy's ticks (it restarts after a hold)", {}
        window = f"{len(self._errors)} of {self.window} ticks"
        ratio = reading.rolling_mae / self.reference
        worst = int(np.argmax(ratio))
        if reading.level == OK:
            message = (f"within the dynamics model's data: worst {JOINT_NAMES[worst]} at "
                       f"{ratio[worst]:.1f}x its error on {self.reference_source} ({window})")
        else:
            factor = self.error_factor if reading.level == ERROR else self.warn_factor
            message = (f"{', '.join(reading.joints_out)} beyond {factor:g}x the dynamics "
                       f"model's error on {self.reference_source} (worst {JOINT_NAMES[worst]} "
                       f"{ratio[worst]:.1f}x, {window}): the hand left the data the residual "
                       "was trained on")
        values = {f"{name} rolling MAE [mrad]": f"{1000 * reading.rolling_mae[j]:.2f}"
                  for j, name in enumerate(JOINT_NAMES)}
        values.update({f"{name} warn at [mrad]": f"{1000 * self.warn[j]:.2f}"
                       for j, name in enumerate(JOINT_NAMES)})
        return reading.level, message, values

    def _level(self, rolling: np.ndarray) -> int:
        if len(self._errors) < self.window:  # not enough scored ticks to judge yet
            return OK
        if np.any(rolling >= self.error):
            return ERROR
        return WARN if np.any(rolling >= self.warn) else OK


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
