"""Chaos-box collection logic (no rclpy): ramp/replay, aborts, manifest.

What each episode sends comes from dexndm_control.episode_plan (its index and the run's seed
regenerate it exactly; the in-process replay in simulation plans the same way). The manifest
(manifest.yaml in the run directory) lists completed episodes; a restarted collector continues
after the highest completed index and never repeats one.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from dexndm_control.episode_plan import EpisodePlan, EpisodePlanConfig, EpisodePlanner
from dexndm_control.errors import DexndmError
from dexndm_control.settings import setting
from dexndm_control.trajectory_library import TrajectoryLibrary

START, END, ABORT = 0, 1, 2


@dataclass(frozen=True)
class CollectorConfig(EpisodePlanConfig):
    """The planning settings (EpisodePlanConfig: library, noise, order, seed, ...) and how the
    node runs them on a hand."""

    output: str = setting("chaos_box_run", deployment=True,
                          help="run directory (bags, manifest); an existing run is continued")
    episodes: int = setting(0, help="0: until stopped")
    stale_after_s: float = setting(0.15, help="abort the episode when joint_states are older")
    min_free_bytes: int = setting(1_000_000_000, help="stop cleanly below this much free disk")
    max_bag_size: int = setting(1_000_000_000, help="split bag files at this many bytes")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stale_after_s <= 0:
            raise DexndmError("stale_after_s must be > 0")


@dataclass
class Event:
    kind: int
    plan: EpisodePlan
    steps: int
    reason: str = ""


@dataclass
class Tick:
    command: np.ndarray | None = None
    events: list[Event] = field(default_factory=list)


class Manifest:
    """manifest.yaml: the config, the software version and every completed episode."""

    def __init__(self, run_dir: Path, config: CollectorConfig) -> None:
        self.path = run_dir / "manifest.yaml"
        self.data = {"config": asdict(config), "software": "dexndm 0.1.0", "completed": []}
        if self.path.is_file():
            self.data = yaml.safe_load(self.path.read_text()) or self.data
            self.data.setdefault("completed", [])

    @property
    def completed(self) -> list[dict]:
        return self.data["completed"]

    def next_index(self) -> int:
        return max((e["index"] for e in self.completed), default=-1) + 1

    def add(self, entry: dict) -> None:
        self.completed.append(entry)
        tmp = self.path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(self.data, sort_keys=False))
        tmp.replace(self.path)


class CollectorCore:
    IDLE, RAMP, REPLAY = "idle", "ramp", "replay"

    def __init__(self, config: CollectorConfig, run_dir: Path,
                 library: TrajectoryLibrary | None = None) -> None:
        self.config = config
        self.run_dir = run_dir
        self.planner = EpisodePlanner(config, library)
        self.library = self.planner.library
        self.manifest = Manifest(run_dir, config)
        self.next_index = self.manifest.next_index()
        self.period = self.planner.period
        self.phase = self.IDLE
        self.plan: EpisodePlan | None = None
        self.step = 0
        self._ramp_from: np.ndarray | None = None
        self.finished = False
        self.finish_reason = ""
        self.completed_this_run = 0

    def plan_episode(self, index: int) -> EpisodePlan:
        return self.planner.plan(index)

    def _disk_ok(self) -> bool:
        return shutil.disk_usage(self.run_dir).free >= self.config.min_free_bytes

    def tick(self, now: float, last_state_time: float | None, q: np.ndarray | None,
             diagnostics_error: str | None) -> Tick:
        """One 20 Hz tick. Returns the target to send (if any) and episode events."""
        out = Tick()
        stale = last_state_time is None or now - last_state_time > self.config.stale_after_s
        if self.phase != self.IDLE:
            reason = "joint_states stale" if stale else \
                (f"diagnostics error: {diagnostics_error}" if diagnostics_error else "")
            if reason:
                out.events.append(self.abort(reason))
                return out
        if self.phase == self.IDLE:
            if self.finished or stale or diagnostics_error or q is None:
                return out
            if self.config.episodes and self.completed_this_run >= self.config.episodes:
                self.finished, self.finish_reason = True, "all episodes done"
                return out
            if not self._disk_ok():
                self.finished = True
                self.finish_reason = (f"less than {self.config.min_free_bytes / 1e9:.1f} GB "
                                      f"free on {self.run_dir}: stopped before the disk fills")
                return out
            self.plan = self.plan_episode(self.next_index)
            self.next_index += 1
            self.phase, self.step = self.RAMP, 0
            self._ramp_from = np.asarray(q, dtype=float)
            out.events.append(Event(START, self.plan, 0))
        if self.phase == self.RAMP:
            self.step += 1
            out.command = self.planner.ramp(self._ramp_from, self.plan.initial_q, self.step)
            if self.step >= self.planner.ramp_ticks:
                self.phase, self.step = self.REPLAY, 0
            return out
        # replay
        out.command = self.plan.targets[self.step]
        self.step += 1
        if self.step >= len(self.plan.targets):
            out.events.append(Event(END, self.plan, self.step))
            self.phase = self.IDLE
        return out

    def abort(self, reason: str) -> Event | None:
        """End the episode in flight (if any) as aborted; the ABORT event to record."""
        if self.phase == self.IDLE:
            return None
        event = Event(ABORT, self.plan, self.step, reason)
        self.phase, self.plan = self.IDLE, None
        return event

    def record_completed(self, plan: EpisodePlan, steps: int, bag: str) -> None:
        self.manifest.add({"index": plan.index, "trajectory_id": plan.trajectory_id,
                           "wrist_label": plan.wrist_label, "noise_enabled": plan.noise_enabled,
                           "noise_sigma": plan.noise_sigma, "seed": plan.seed, "steps": steps,
                           "bag": bag, "completed_at": time.time()})
        self.completed_this_run += 1
