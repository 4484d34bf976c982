"""Per-episode outcomes summarised into table cells: one home for what `sim eval`, `eval
transfer`, `sim compare` and checkpoint evaluations report.

Outcomes are parallel arrays, one entry per episode: the paper's section 4.1 metrics
(``METRICS``), ``fell`` (the episode ended with the object dropped) and ``object`` (the name of
the object it held); ``grasp`` (the start grasp's index in that object's cache) where a caller
breaks results down by start.
"""

from __future__ import annotations

import numpy as np

METRICS = ("rot_reward", "rot_penalty", "time_to_fall", "radians")  # paper section 4.1


def outcome_summary(outcomes: dict[str, np.ndarray]) -> dict:
    """One table cell: [mean, std] per metric, the share of drops and the number of episodes."""
    row = {name: [float(outcomes[name].mean()), float(outcomes[name].std())] for name in METRICS}
    row["drops"] = float(outcomes["fell"].mean())
    row["episodes"] = len(outcomes["radians"])
    return row


def per_object(outcomes: dict[str, np.ndarray]) -> dict[str, dict]:
    """The same summary for each object's episodes (a category's spread is mostly between its
    objects: one cylinder turning 7 rad and the other 2 average to a cell that hides both),
    objects in name order."""
    return {name: _summary_where(outcomes, outcomes["object"] == name)
            for name in sorted(set(outcomes["object"]))}


def per_start(outcomes: dict[str, np.ndarray]) -> dict[str, dict]:
    """The same summary for each start grasp, "OBJECT grasp N" (a specialist may rotate from a
    few of its grasps only: docs/base_policy.md), in object and grasp order."""
    starts = sorted(set(zip(outcomes["object"], outcomes["grasp"].tolist(), strict=True)))
    return {f"{name} grasp {grasp}": _summary_where(
        outcomes, (outcomes["object"] == name) & (outcomes["grasp"] == grasp))
        for name, grasp in starts}


def _summary_where(outcomes: dict[str, np.ndarray], mine: np.ndarray) -> dict:
    return outcome_summary({name: value[mine] for name, value in outcomes.items()})
