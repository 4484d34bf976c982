"""Per-episode outcomes summarised into table cells: one home for what `sim eval`, `eval
transfer`, `sim compare` and checkpoint evaluations report.

Outcomes are parallel arrays, one entry per episode: the paper's section 4.1 metrics
(``METRICS``), ``fell`` (the episode ended with the object dropped) and ``object`` (the name of
the object it held); ``grasp`` (the start grasp's index in that object's cache), ``wrist`` and
``axis`` (its name, ``axes.axis_name``) where a caller breaks results down by them.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import bootstrap

METRICS = ("rot_reward", "rot_penalty", "time_to_fall", "radians")  # paper section 4.1
# the metrics targets are stated in (rad per 20 s, TTF): their means get an interval
INTERVAL_METRICS = ("radians", "time_to_fall")
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 4000


def outcome_summary(outcomes: dict[str, np.ndarray]) -> dict:
    """One table cell: [mean, std] per metric, the share of drops, the number of episodes and
    ``ci95``: a 95 % interval of the mean of Rot and TTF (None below two episodes)."""
    row = {name: [float(outcomes[name].mean()), float(outcomes[name].std())] for name in METRICS}
    row["drops"] = float(outcomes["fell"].mean())
    row["episodes"] = len(outcomes["radians"])
    row["ci95"] = {name: mean_interval(outcomes[name]) for name in INTERVAL_METRICS}
    return row


def mean_interval(values: np.ndarray) -> list[float] | None:
    """Percentile-bootstrap interval of the mean over episodes (fixed resampling seed, so a
    result file is reproducible). A few episodes that turn 15-25 rad carry most cells' means
    (docs/base_policy_log.md): the interval, not the std, says whether 4.6 rad differs from 5.
    Episodes are resampled as independent; a deterministic policy repeated from one start
    repeats its episode, and such repeats make the interval narrower than it should be."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    if np.all(values == values[0]):  # every resample has the same mean
        return [float(values[0])] * 2
    result = bootstrap((values,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES,
                       confidence_level=CONFIDENCE, method="percentile",
                       rng=np.random.default_rng(0))
    interval = result.confidence_interval
    return [float(interval.low), float(interval.high)]


def per_object(outcomes: dict[str, np.ndarray]) -> dict[str, dict]:
    """The same summary for each object's episodes (a category's spread is mostly between its
    objects: one cylinder turning 7 rad and the other 2 average to a cell that hides both),
    objects in name order."""
    return _split_by(outcomes, "object")


def per_wrist(outcomes: dict[str, np.ndarray]) -> dict[str, dict]:
    """The same summary for each wrist, in name order: a run over several wrists pools cells
    whose teachers differ (a fine-tune at palm up and palm down moved one at the other's
    expense: docs/base_policy_log.md)."""
    return _split_by(outcomes, "wrist")


def per_axis(outcomes: dict[str, np.ndarray]) -> dict[str, dict]:
    """The same summary for each rotation axis (``axes.axis_name``), in name order: a cell over
    +z and -z pools two gaits, and the shipped network held one sign's cylinder to TTF 0.71 and
    the other's to 0.84 (docs/base_policy_log.md)."""
    return _split_by(outcomes, "axis")


def per_start(outcomes: dict[str, np.ndarray]) -> dict[str, dict]:
    """The same summary for each start grasp, "OBJECT grasp N" (a specialist may rotate from a
    few of its grasps only: docs/base_policy_log.md), in object and grasp order."""
    starts = sorted(set(zip(outcomes["object"], outcomes["grasp"].tolist(), strict=True)))
    return {f"{name} grasp {grasp}": _summary_where(
        outcomes, (outcomes["object"] == name) & (outcomes["grasp"] == grasp))
        for name, grasp in starts}


def _split_by(outcomes: dict[str, np.ndarray], field: str) -> dict[str, dict]:
    """A summary for each value of ``field`` (object, wrist, axis name), in name order."""
    return {name: _summary_where(outcomes, outcomes[field] == name)
            for name in sorted(set(outcomes[field]))}


def _summary_where(outcomes: dict[str, np.ndarray], mine: np.ndarray) -> dict:
    return outcome_summary({name: value[mine] for name, value in outcomes.items()})
