"""`dexndm dataset stats BAG`: what the live gap meter saw in a recorded run (the controller's
/dexndm/gap_meter messages): level shares, per joint the error, the largest motion error and
|offset|, the least share of its current cap the motor delivered (the torque-cap check) and the
time out of coverage, and a PNG of every joint's largest statistic against its warn threshold
over the run. `dexndm dataset
gap-calibrate BAGS --bundle DIR`: the meter's thresholds from supervised runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rclpy.serialization import deserialize_message

from dexndm_collect.bag.mcap_read import read_topics
from dexndm_control.core.gap_levels import GapThresholds, cap_ratio
from dexndm_control.core.gap_meter import calibrate, store_calibration
from dexndm_control.errors import DexndmError
from dexndm_control.hand import CONTROL_DT, JOINT_NAMES
from dexndm_msgs.msg import GapMeter

GAP_TOPIC = "/dexndm/gap_meter"
LEVELS = ("OK", "WARN", "ERROR")


def is_bag(path: str | Path) -> bool:
    return (Path(path) / "metadata.yaml").is_file()


def _messages(bag: str | Path) -> tuple[np.ndarray, list[GapMeter]]:
    """Seconds from the first and the messages, in the order received."""
    data = read_topics(bag, [GAP_TOPIC]).topics[GAP_TOPIC]
    if not data.payloads:
        raise DexndmError(f"{bag} holds no {GAP_TOPIC} messages: record that topic (`dexndm "
                          f"record -o DIR {GAP_TOPIC} ...`) while the controller runs with a "
                          "dynamics bundle (dynamics_bundle:=...)")
    order = np.argsort(data.times, kind="stable")
    messages = [deserialize_message(bytes(data.payloads[i]), GapMeter) for i in order]
    return (data.times[order] - data.times[order][0]) / 1e9, messages


def gap_meter_errors(bag: str | Path, control_dt: float = CONTROL_DT) -> list[np.ndarray]:
    """The one-step errors [T, 16] of each stretch the meter scored without a break (it
    restarts after every hold: a gap longer than 1.5 control periods ends a stretch)."""
    seconds, messages = _messages(bag)
    error = np.array([m.error for m in messages])
    cuts = np.flatnonzero(np.diff(seconds) > 1.5 * control_dt) + 1
    return [piece for piece in np.split(error, cuts) if len(piece)]


def calibrate_from_bags(bags: list[str], bundle: str | Path, window: int, offset_ticks: int,
                        warn_margin: float, error_margin: float) -> dict:
    """The gap meter's thresholds from supervised runs, written into the dynamics bundle."""
    stretches = [piece for bag in bags for piece in gap_meter_errors(bag)]
    calibration = calibrate(stretches, window, offset_ticks, warn_margin, error_margin)
    store_calibration(bundle, calibration, [Path(bag).name for bag in bags])
    return calibration


def format_calibration(calibration: dict) -> str:
    lines = [f"gap meter calibrated on {calibration['ticks']} judged ticks in "
             f"{calibration['stretches']} stretches (window {calibration['window_ticks']} ticks, "
             f"offset {calibration['offset_ticks']} ticks); WARN at "
             f"{calibration['warn_margin']:g}x, ERROR at {calibration['error_margin']:g}x the "
             "largest value seen",
             f"{'joint':<8} {'motion max':>11} {'offset max':>11}  [mrad]"]
    for j, name in enumerate(JOINT_NAMES):
        lines.append(f"{name:<8} {1e3 * calibration['motion_max'][j]:>11.2f} "
                     f"{1e3 * calibration['offset_max'][j]:>11.2f}")
    return "\n".join(lines)


def gap_meter_stats(bag: str | Path, out_png: str | Path | None = None) -> dict:
    seconds, messages = _messages(bag)
    error = np.array([m.error for m in messages])
    rolling = np.array([m.rolling_mae for m in messages])
    offset = np.array([m.offset for m in messages])
    level = np.array([m.level for m in messages])
    cap_warn = np.array([m.cap_warn_share for m in messages])[:, None]
    # a message sent without the check (shares 0) judged nothing at the cap
    delivered = np.where(cap_warn > 0, np.array([m.cap_delivered for m in messages]), np.nan)
    # the thresholds as each message carried them (a controller restart may change them); the
    # torque-cap check's shares are judged message by message for the same reason
    thresholds = GapThresholds(*(np.array([getattr(m, name) for m in messages]) for name in (
        "warn_threshold", "error_threshold", "offset_warn_threshold", "offset_error_threshold")),
        source="bag")
    ratio = thresholds.ratio(rolling, offset)
    # a motor without torque: 1000, not inf
    ratio = np.minimum(np.maximum(ratio, cap_ratio(delivered, cap_warn)), 1e3)
    stats = {"bag": str(bag), "ticks": len(messages),
             "seconds": round(float(seconds[-1]), 2),
             "level_share": {name: round(float(np.mean(level == i)), 3)
                             for i, name in enumerate(LEVELS)},
             "joints": {name: {"mae_mrad": round(1e3 * float(np.abs(error[:, j]).mean()), 3),
                               "motion_max_mrad": round(1e3 * float(rolling[:, j].max()), 3),
                               "offset_max_mrad": round(1e3 * float(np.abs(offset[:, j]).max()),
                                                        3),
                               "out_share": round(float(np.mean(ratio[:, j] >= 1.0)), 3),
                               "max_ratio": round(float(ratio[:, j].max()), 2),
                               # the torque-cap check: the least share of its cap delivered
                               # (None: never judged at cap, or the check was off)
                               "cap_delivered_min_pct": _least_share(delivered[:, j])}
                        for j, name in enumerate(JOINT_NAMES)}}
    worst = np.argsort(-ratio.mean(axis=0))[:3]
    stats["worst_joints"] = [JOINT_NAMES[j] for j in worst]
    if out_png is not None:
        _plot(seconds, ratio, level, worst, Path(out_png))
        stats["picture"] = str(out_png)
    return stats


def _least_share(delivered: np.ndarray) -> float | None:
    judged = delivered[np.isfinite(delivered)]
    return round(100 * float(judged.min()), 1) if len(judged) else None


def _plot(seconds, ratio, level, worst, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True,
                                         gridspec_kw={"height_ratios": [4, 1]})
    for j, name in enumerate(JOINT_NAMES):
        named = j in worst
        top.plot(seconds, ratio[:, j], lw=1.4 if named else 0.7, alpha=1.0 if named else 0.35,
                 label=name if named else None)
    top.axhline(1.0, color="k", ls="--", lw=0.8, label="warn threshold")
    top.set_ylabel("statistic / warn threshold")
    top.legend(loc="upper right", fontsize=8)
    top.set_title("live gap meter: per joint, the largest of motion error, |offset| and torque-cap "
                  "shortfall over its warn threshold")
    bottom.step(seconds, level, where="post", color="tab:red")
    bottom.set_yticks([0, 1, 2], LEVELS)
    bottom.set_xlabel("time [s]")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def format_gap_stats(stats: dict) -> str:
    shares = ", ".join(f"{k} {100 * v:.0f} %" for k, v in stats["level_share"].items())
    lines = [f"gap meter in {stats['bag']}: {stats['ticks']} ticks over {stats['seconds']} s; "
             f"{shares}; worst {', '.join(stats['worst_joints'])}",
             f"{'joint':<8} {'MAE mrad':>9} {'motion max':>11} {'|offset| max':>13} "
             f"{'out':>6} {'max ratio':>10} {'cap min %':>10}"]
    for name, joint in stats["joints"].items():
        cap = joint["cap_delivered_min_pct"]
        lines.append(f"{name:<8} {joint['mae_mrad']:>9.2f} {joint['motion_max_mrad']:>11.2f} "
                     f"{joint['offset_max_mrad']:>13.2f} {100 * joint['out_share']:>5.0f}% "
                     f"{joint['max_ratio']:>10.2f} {'-' if cap is None else f'{cap:.0f}':>10}")
    return "\n".join(lines) + ("\n" + json.dumps({"picture": stats["picture"]})
                               if "picture" in stats else "")
