"""Chaos-box collection logic (no rclpy): ramp/replay, aborts, pauses, manifest.

What each episode sends comes from dexndm_control.episode_plan (its index and the run's seed
regenerate it exactly; the in-process replay in simulation plans the same way). The manifest
(manifest.yaml in the run directory) lists completed and aborted episodes and the run's health
report (core/health.py); a restarted collector continues after the highest index it started
and never repeats one.

Unattended operation: an error in /diagnostics aborts the episode in flight, and the collector
then waits for the error to clear (the driver's automatic reboot clears overloads) instead of
stopping; it stops cleanly when the driver gives up on a motor, or when an error stands longer
than max_error_wait_s. Between episodes it pauses while any motor is within
thermal_pause_margin_c of its Temperature Limit, and resumes once every motor is
thermal_resume_margin_c below it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from dexndm_collect.core.health import HandHealth, RunHealth, abort_cause
from dexndm_control.episode_plan import EpisodePlan, EpisodePlanConfig, EpisodePlanner
from dexndm_control.errors import DexndmError
from dexndm_control.settings import setting
from dexndm_control.trajectory_library import TrajectoryLibrary

START, END, ABORT = 0, 1, 2
# libyaml when present: a manifest of 4,000 episodes takes ~1 s to write in pure Python, ~0.3 s
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    thermal_pause_margin_c: float = setting(
        5.0, help="pause between episodes while a motor is this close to its Temperature Limit")
    thermal_resume_margin_c: float = setting(
        15.0, help="resume once every motor is this far below its Temperature Limit")
    max_error_wait_s: float = setting(
        1800.0, help="stop cleanly when a hardware error stands this long (0: wait for ever)")
    thermal_pause_torque_off: bool = setting(
        True, help="torque off during a thermal pause (a motor pressing on a ball keeps heating "
                   "while it holds a pose); on again before the next episode")
    driver_torque_service: str = setting("/leap_driver/set_torque",
                                         help="the driver's std_srvs/SetBool torque service")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stale_after_s <= 0:
            raise DexndmError("stale_after_s must be > 0")
        if not 0 <= self.thermal_pause_margin_c < self.thermal_resume_margin_c:
            raise DexndmError("need 0 <= thermal_pause_margin_c < thermal_resume_margin_c (resume "
                              "cooler than the pause starts), got "
                              f"{self.thermal_pause_margin_c} and {self.thermal_resume_margin_c}")
        if self.max_error_wait_s < 0:
            raise DexndmError("max_error_wait_s must be >= 0 (0: wait for ever)")


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
    torque: bool | None = None  # ask the driver to switch torque (thermal pauses)


class Manifest:
    """manifest.yaml: the config, the software version, every completed and aborted episode and
    the health report. Written atomically (a reader never sees half a file)."""

    def __init__(self, run_dir: Path, config: CollectorConfig) -> None:
        self.path = run_dir / "manifest.yaml"
        self.data = {"config": asdict(config), "software": "dexndm 0.1.0", "completed": [],
                     "aborted": []}
        if self.path.is_file():
            self.data = yaml.load(self.path.read_text(), Loader=_LOADER) or self.data
            self.data.setdefault("completed", [])
            self.data.setdefault("aborted", [])

    @property
    def completed(self) -> list[dict]:
        return self.data["completed"]

    @property
    def aborted(self) -> list[dict]:
        return self.data["aborted"]

    def next_index(self) -> int:
        return max((e["index"] for e in self.completed + self.aborted), default=-1) + 1

    def add(self, entry: dict) -> None:
        self.completed.append(entry)
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.dump(self.data, Dumper=_DUMPER, sort_keys=False))
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
        self.health = RunHealth.from_dict(self.manifest.data.get("health"))
        self.health.sessions += 1
        self.health.stopped = ""
        self.period = self.planner.period
        self.phase = self.IDLE
        self.plan: EpisodePlan | None = None
        self.step = 0
        self._ramp_from: np.ndarray | None = None
        self.finished = False
        self.failed = False
        self.finish_reason = ""
        self.completed_this_run = 0
        self.activity = "waiting_for_hand"  # what the time since the last tick was spent on
        self._last_tick: float | None = None
        self._pause: dict | None = None  # the pause in progress: cause, why, start
        self._spared_late_tick = False
        # a collector stopped during a thermal pause left the torque off: on at the start
        self._torque_request: bool | None = True if config.thermal_pause_torque_off else None
        self._torque_pending: bool | None = None  # asked for, not confirmed yet

    def torque_switched(self, enabled: bool, ok: bool) -> None:
        """The driver's answer to a Tick.torque request; a failure is asked again."""
        if self._torque_pending == enabled:
            self._torque_pending = None
            if not ok:
                self._torque_request = enabled

    def plan_episode(self, index: int) -> EpisodePlan:
        return self.planner.plan(index)

    def _disk_ok(self) -> bool:
        return shutil.disk_usage(self.run_dir).free >= self.config.min_free_bytes

    def tick(self, now: float, last_state_time: float | None, q: np.ndarray | None,
             health: HandHealth | None = None) -> Tick:
        """One 20 Hz tick. Returns the target to send (if any) and episode events."""
        health = health or HandHealth()
        late = self._last_tick is not None and now - self._last_tick > self.config.stale_after_s
        if self._last_tick is not None:
            self.health.spend(self.activity, now - self._last_tick)
        self._last_tick = now
        self.health.observe(health)
        out = Tick()
        stale = last_state_time is None or now - last_state_time > self.config.stale_after_s
        # a tick that comes late (this process stalled) finds the states that queued up behind
        # it unread: judge the hand on the next tick, once they are in
        spare = stale and late and not self._spared_late_tick
        self._spared_late_tick = spare
        lost = stale and not spare
        if self.phase != self.IDLE:
            reason = "joint_states stale" if lost else \
                (f"diagnostics error: {health.error}" if health.error else "")
            if reason:
                out.events.append(self.abort(reason))
                self.activity = "between"
                return out
        if self.phase == self.IDLE:
            self.activity = self._idle_activity(now, stale or q is None, health)
            if self._torque_request is not None and not (stale or q is None):
                # switch torque; no episode starts until the driver confirmed it
                out.torque, self._torque_request = self._torque_request, None
                self._torque_pending = out.torque
                return out
            if self.activity != "between" or self.finished or self._torque_pending is not None:
                return out
            if self.config.episodes and self.completed_this_run >= self.config.episodes:
                self.finish("all episodes done")
                return out
            if not self._disk_ok():
                self.finish(f"less than {self.config.min_free_bytes / 1e9:.1f} GB free on "
                            f"{self.run_dir}: stopped before the disk fills")
                return out
            self.plan = self.plan_episode(self.next_index)
            self.next_index += 1
            self.phase, self.step = self.RAMP, 0
            self._ramp_from = np.asarray(q, dtype=float)
            out.events.append(Event(START, self.plan, 0))
        if self.phase == self.RAMP:
            self.activity = "ramp"
            self.step += 1
            out.command = self.planner.ramp(self._ramp_from, self.plan.initial_q, self.step)
            if self.step >= self.planner.ramp_ticks:
                self.phase, self.step = self.REPLAY, 0
            return out
        # replay
        self.activity = "replay"
        out.command = self.plan.targets[self.step]
        self.step += 1
        if self.step >= len(self.plan.targets):
            out.events.append(Event(END, self.plan, self.step))
            self.phase = self.IDLE
        return out

    def _idle_activity(self, now: float, no_hand: bool, health: HandHealth) -> str:
        """Between episodes: may the next one start ("between"), or why not."""
        if self.finished:
            return "between"
        if no_hand:
            return "waiting_for_hand"
        gave_up = health.gave_up()
        if gave_up:
            self.finish("the driver gave up on " + "; ".join(
                f"{m.name}: {m.message}" for m in gave_up), failed=True)
            return "error_wait"
        if health.error:
            pause = self._begin_pause(now, "error", health.error)
            waited = now - pause["since"]
            if self.config.max_error_wait_s and waited >= self.config.max_error_wait_s:
                self.finish(f"a hardware error stood for {waited / 60:.0f} min "
                            f"(max_error_wait_s): {health.error}", failed=True)
            return "error_wait"
        self._end_pause(now, "error")
        headroom = health.headroom_c()
        if self._pause is not None and self._pause["cause"] == "thermal":
            if headroom and min(headroom.values()) < self.config.thermal_resume_margin_c:
                return "thermal_pause"
            self._end_pause(now, "thermal")
            if self.config.thermal_pause_torque_off:
                self._torque_request = True
            return "thermal_pause"
        hot = {name: left for name, left in headroom.items()
               if left < self.config.thermal_pause_margin_c}
        if hot:
            self._begin_pause(now, "thermal", ", ".join(
                f"{name} {left:.0f} K below its limit" for name, left in hot.items()))
            if self.config.thermal_pause_torque_off:
                self._torque_request = False
            return "thermal_pause"
        return "between"

    def _begin_pause(self, now: float, cause: str, why: str) -> dict:
        if self._pause is None or self._pause["cause"] != cause:
            self._end_pause(now, self._pause["cause"] if self._pause else "")
            self._pause = {"cause": cause, "why": why[:300], "since": now,
                           "started": round(time.time(), 1)}
        return self._pause

    def _end_pause(self, now: float, cause: str, save: bool = True) -> None:
        if self._pause is None or self._pause["cause"] != cause:
            return
        pause, self._pause = self._pause, None
        self.health.pauses.append({"cause": pause["cause"], "started": pause["started"],
                                   "seconds": round(now - pause["since"], 3),
                                   "why": pause["why"]})
        if save:
            self.save_health()

    @property
    def pause(self) -> dict | None:
        """The pause in progress (cause, why, since), or None."""
        return self._pause

    def finish(self, reason: str, failed: bool = False) -> None:
        """Stop for good: no more episodes this session (the run directory stays resumable).
        ``failed``: the hand stopped it (the node exits non-zero)."""
        if self._pause is not None and self._last_tick is not None:
            self._end_pause(self._last_tick, self._pause["cause"], save=False)  # saved below
        self.finished, self.finish_reason, self.failed = True, reason, failed
        self.health.stopped = reason
        self.save_health()

    def save_health(self) -> None:
        """Write the health report into the manifest (also while the run goes on)."""
        self.manifest.data["health"] = self.health.as_dict()
        self.manifest.save()

    def abort(self, reason: str) -> Event | None:
        """End the episode in flight (if any) as aborted; the ABORT event to record."""
        if self.phase == self.IDLE:
            return None
        event = Event(ABORT, self.plan, self.step, reason)
        self.phase, self.plan = self.IDLE, None
        return event

    def record_completed(self, plan: EpisodePlan, steps: int, bag: str) -> None:
        self.health.completed += 1
        self.manifest.data["health"] = self.health.as_dict()
        self.manifest.add({"index": plan.index, "trajectory_id": plan.trajectory_id,
                           "wrist_label": plan.wrist_label, "noise_enabled": plan.noise_enabled,
                           "noise_sigma": plan.noise_sigma, "seed": plan.seed, "steps": steps,
                           "bag": bag, "completed_at": time.time()})
        self.completed_this_run += 1

    def record_aborted(self, plan: EpisodePlan, steps: int, reason: str, bag: str) -> None:
        """An aborted episode: listed with its cause (its data is dropped by `dataset build`
        through the ABORT event in the bag), never repeated."""
        self.health.abort(reason)
        self.manifest.aborted.append({"index": plan.index, "steps": steps, "reason": reason,
                                      "cause": abort_cause(reason), "bag": bag,
                                      "aborted_at": time.time()})
        self.save_health()
