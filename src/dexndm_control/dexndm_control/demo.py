"""`dexndm demo`: the main job on the embedded default (virtual hand in the `real` profile,
driver, 20 Hz rotation controller) run with the base policy alone, then with the shipped DexNDM
residual, and the two outcomes side by side, with what the live gap meter (the shipped
joint-wise dynamics one step ahead) saw in each.

Both arms run the residual's own base, policies/reference_student (the residual was trained
through the dynamics to correct that policy), from that bundle's initial grasp; the
controller's default base (policies/base_policy) is a different generalist."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.policy.start_grasp import read_initial_grasp

REPO = Path(__file__).resolve().parents[3]
LAUNCH_FILE = REPO / "launch" / "rotate.launch.xml"
SHIPPED_RESIDUAL = REPO / "policies" / "dexndm_residual"
SHIPPED_DYNAMICS = REPO / "policies" / "dexndm_dynamics"
#: the base the shipped residual was trained to correct (docs/sim2sim.md)
RESIDUAL_BASE = REPO / "policies" / "reference_student"
#: wall-clock seconds a run may spend starting before the object is handed over
STARTUP_ALLOWANCE_S = 120.0


@dataclass
class DemoRun:
    label: str
    exit_code: int
    object: dict | None  # the virtual hand's report: radians, seconds, time_to_first_fall
    loop: dict | None  # the controller's loop statistics (None: the controller did not run)

    @property
    def failed(self) -> bool:
        return bool(self.exit_code) or self.object is None or self.loop is None


def wall_clock_cap(held_seconds: float) -> float:
    """Seconds of wall clock a run may take to hold the object ``held_seconds`` simulated
    seconds: start-up (the scene, grasp caches the first time) plus the simulation running at
    a third of real time, slower than any machine the demo has run on."""
    return STARTUP_ALLOWANCE_S + 3.0 * held_seconds


def initial_grasp(base: str | Path) -> dict:
    """The grasp a base_policy bundle starts from (its ``initial_grasp``): object, category,
    object_index, wrist, grasp_index. The virtual hand of launch/rotate.launch.xml starts the
    object there by itself (``--start-from`` the base bundle); the demo names it in its summary."""
    grasp = read_initial_grasp(base)
    if not grasp:
        raise DexndmError(f"{base} names no initial_grasp: set one with "
                          "scripts/set_initial_grasp.py BUNDLE")
    return grasp


def run_rotation(label: str, base: str | Path, residual: str, dynamics: str, duration: float,
                 axis: str) -> DemoRun:
    """One launch of launch/rotate.launch.xml, ``base`` from its initial grasp, until the object
    has been in the hand ``duration`` simulated seconds (the virtual hand then stops the launch),
    or the wall-clock cap."""
    from dexndm_control.launcher import Supervisor, resolve_launch

    if not LAUNCH_FILE.is_file():
        raise DexndmError(f"{LAUNCH_FILE} not found: run `dexndm demo` from a checkout of the "
                          "repository (pip install -e)")
    with tempfile.TemporaryDirectory() as tmp:
        report, stats = Path(tmp) / "object.json", Path(tmp) / "loop.json"
        specs = resolve_launch(LAUNCH_FILE, {"report": str(report), "stats_file": str(stats),
                                             "axis": axis, "base_bundle": str(base),
                                             "residual_bundle": residual,
                                             "dynamics_bundle": dynamics,
                                             "hold_seconds": f"{duration:g}"})
        result = Supervisor(specs).run(duration=wall_clock_cap(duration))
        return DemoRun(label, result.exit_code,
                       json.loads(report.read_text()) if report.is_file() else None,
                       json.loads(stats.read_text()) if stats.is_file() else None)


def summary_lines(runs: list[DemoRun]) -> list[str]:
    """The side-by-side table: rotation, simulated time, time to first fall, loop timing."""
    lines = [f"{'run':<28} {'rotated':>9} {'simulated':>10} {'fell after':>11} "
             f"{'rate':>8} {'compute p99':>12} {'period dev p99':>15}   gap meter"]
    for run in runs:
        if run.object is None or run.loop is None:
            lines.append(f"{run.label:<28} " + (
                "no report (the virtual hand did not finish cleanly)" if run.object is None else
                "the controller did not run (its log above says why)"))
            continue
        ttf = run.object["time_to_first_fall"]
        fell = "never" if ttf is None else f"{ttf:.1f} s"
        loop = run.loop
        compute = loop.get("compute_ms", {}).get("p99")
        deviation = loop.get("period_deviation_ms", {}).get("p99")
        rate = loop.get("rate_hz")
        lines.append(f"{run.label:<28} {run.object['radians']:>5.2f} rad "
                     f"{run.object['seconds']:>8.1f} s {fell:>11} "
                     f"{'' if rate is None else f'{rate:.2f} Hz':>8} "
                     f"{'' if compute is None else f'{compute} ms':>12} "
                     f"{'' if deviation is None else f'{deviation} ms':>15}   "
                     f"{gap_text(loop.get('gap_meter'))}")
    return lines


def arm_lines(runs: list[DemoRun]) -> list[str]:
    """Per arm (runs sharing a label), over its runs that finished: rotation per 20 s simulated
    (runs differ in simulated length) as mean ± std, and how many dropped the object."""
    arms: dict[str, list[DemoRun]] = {}
    for run in runs:
        arms.setdefault(run.label, []).append(run)
    lines = []
    for label, members in arms.items():
        done = [run.object for run in members if not run.failed and run.object["seconds"] > 0]
        if not done:
            lines.append(f"{label:<28} no run finished")
            continue
        rates = np.array([o["radians"] / o["seconds"] * 20.0 for o in done])
        fell = sum(o["time_to_first_fall"] is not None for o in done)
        lines.append(f"{label:<28} {rates.mean():.2f} ± {rates.std():.2f} rad per 20 s over "
                     f"{len(done)} run(s); dropped the object in {fell}")
    return lines


def gap_text(summary: dict | None) -> str:
    """The gap meter's run in a few words: error against the meter's reference, levels."""
    if not summary or not summary.get("ticks"):
        return "–"
    shares = summary["level_share"]
    return (f"{summary['mae_mrad']:.2f} mrad, {summary['mae_over_reference']:.1f}x its reference "
            f"(worst {summary['worst_joint']}); OK {shares['OK']:.0%} / WARN "
            f"{shares['WARN']:.0%} / ERROR {shares['ERROR']:.0%} of {summary['ticks']} ticks")
