"""`dexndm dataset stats`: per-joint coverage of q and a - q, as numbers and a PNG grid
(the coverage picture of paper Fig. 4/15: is there enough data, in the ranges the task needs?)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dexndm_collect.core.health import format_health
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.transitions import read_shard


def dataset_stats(shards_dir: str | Path, out_png: str | Path | None = None) -> dict:
    files = sorted(Path(shards_dir).glob("*.npz")) if Path(shards_dir).is_dir() \
        else [Path(shards_dir)]
    q_rows, step_rows, episodes = [], [], 0
    for file in files:
        for episode in read_shard(file).episodes:
            q_rows.append(episode.q[:-1])
            step_rows.append(episode.a - episode.q[:-1])
            episodes += 1
    if not q_rows:
        raise ValueError(f"no transitions in {shards_dir}")
    q, step = np.concatenate(q_rows), np.concatenate(step_rows)
    stats = {"episodes": episodes, "transitions": int(len(q)), "joints": {}}
    for index, name in enumerate(JOINT_NAMES):
        stats["joints"][name] = {
            "q_percentiles_rad": np.percentile(q[:, index], [1, 50, 99]).round(4).tolist(),
            "q_range_rad": round(float(np.ptp(q[:, index])), 4),
            "a_minus_q_percentiles_rad": np.percentile(step[:, index], [1, 50, 99])
            .round(4).tolist(),
            "a_minus_q_std_rad": round(float(step[:, index].std()), 5)}
    report = (Path(shards_dir) if Path(shards_dir).is_dir()
              else Path(shards_dir).parent) / "build_report.json"
    if report.is_file():  # how the collection runs behind these shards went
        health = json.loads(report.read_text()).get("collection_health")
        if health:
            stats["collection_health"] = health
    if out_png is not None:
        _plot(q, step, Path(out_png))
        stats["picture"] = str(out_png)
    return stats


def _plot(q: np.ndarray, step: np.ndarray, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(4, 4, figsize=(14, 12))
    for index, axis in enumerate(axes.ravel()):
        axis.hist2d(q[:, index], step[:, index], bins=60, cmap="viridis", cmin=1)
        axis.set_title(JOINT_NAMES[index], fontsize=9)
        axis.tick_params(labelsize=7)
    for axis in axes[-1]:
        axis.set_xlabel("q [rad]", fontsize=8)
    for axis in axes[:, 0]:
        axis.set_ylabel("a - q [rad]", fontsize=8)
    figure.suptitle(f"state-action coverage per joint ({len(q)} transitions)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def format_stats(stats: dict) -> str:
    lines = [f"{stats['episodes']} episodes, {stats['transitions']} transitions",
             f"{'joint':<8} {'q 1%':>8} {'q 50%':>8} {'q 99%':>8} {'a-q 1%':>9} {'a-q 99%':>9}"]
    for name, joint in stats["joints"].items():
        q1, q50, q99 = joint["q_percentiles_rad"]
        s1, _, s99 = joint["a_minus_q_percentiles_rad"]
        lines.append(f"{name:<8} {q1:>8.3f} {q50:>8.3f} {q99:>8.3f} {s1:>9.4f} {s99:>9.4f}")
    for run, health in stats.get("collection_health", {}).items():
        lines.append(f"collection run {run}:")
        lines.extend("  " + line for line in format_health(health).splitlines())
    return "\n".join(lines) + ("\n" + json.dumps({"picture": stats["picture"]})
                               if "picture" in stats else "")
