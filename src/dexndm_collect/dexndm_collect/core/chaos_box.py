"""Chaos-box collection logic (no rclpy): episode planning, noise, ramp/replay, aborts, manifest.

Every episode i draws its own seed from (run seed, i); from that seed alone the noise flag
(p = 0.5) and the N(0, sigma) noise on every action element are regenerated exactly, so any
episode can be reproduced. The manifest (manifest.yaml in the run directory) lists completed
episodes; a restarted collector continues after the highest completed index and never repeats one.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from dexndm_collect.core.waves import WAVES, wave_joints, wave_targets
from dexndm_control.errors import DexndmError
from dexndm_control.hand import CONTROL_RATE_HZ, JOINT_NAMES, LOWER, UPPER
from dexndm_control.settings import setting
from dexndm_control.trajectory_library import TrajectoryLibrary, load_library

START, END, ABORT = 0, 1, 2


@dataclass(frozen=True)
class CollectorConfig:
    output: str = setting("chaos_box_run", deployment=True,
                          help="run directory (bags, manifest); an existing run is continued")
    library: str = setting("", deployment=True, help="trajectory library (.npz) to replay")
    mode: str = setting("replay", help="replay (the library) or waves")
    episodes: int = setting(0, help="0: until stopped")
    steps: int = setting(0, help="0: the library's length (400); waves: 400")
    noise_probability: float = setting(0.5, help="paper: N(0, sigma) on every action element "
                                                 "with this probability per episode")
    noise_sigma: float = 0.01
    control_rate_hz: float = CONTROL_RATE_HZ
    ramp_s: float = setting(2.0, help="move to the episode's initial pose before replaying")
    stale_after_s: float = setting(0.15, help="abort the episode when joint_states are older")
    order: str = setting("sequential", help="sequential or random")
    seed: int = 0
    min_free_bytes: int = setting(1_000_000_000, help="stop cleanly below this much free disk")
    max_bag_size: int = setting(1_000_000_000, help="split bag files at this many bytes")
    wave_skip_joints: tuple[str, ...] = setting(("if_rot", "mf_rot", "rf_rot"),
                                                help="joints the wave mode leaves still")

    def __post_init__(self) -> None:
        if self.mode not in ("replay", "waves"):
            raise DexndmError(f"mode must be replay or waves, got '{self.mode}'")
        if self.mode == "replay" and not self.library:
            raise DexndmError("replay mode needs a trajectory library (parameter `library`); "
                              "the repository ships config/trajectories/default.npz")
        if not 0 <= self.noise_probability <= 1 or self.noise_sigma < 0:
            raise DexndmError("noise_probability must be in [0, 1] and noise_sigma >= 0")
        if self.order not in ("sequential", "random"):
            raise DexndmError("order must be sequential or random")
        if self.control_rate_hz <= 0 or self.ramp_s < 0 or self.stale_after_s <= 0:
            raise DexndmError("control_rate_hz, stale_after_s must be > 0 and ramp_s >= 0")
        unknown = [n for n in self.wave_skip_joints if n not in JOINT_NAMES]
        if unknown:
            raise DexndmError(f"unknown joints in wave_skip_joints: {unknown}")


@dataclass
class EpisodePlan:
    index: int
    trajectory_id: str
    wrist_label: str
    targets: np.ndarray  # [T, 16] what is sent (library actions + noise)
    initial_q: np.ndarray
    noise_enabled: bool
    noise_sigma: float
    seed: int


def episode_seed(run_seed: int, index: int) -> int:
    return int(np.random.SeedSequence([run_seed, index]).generate_state(1, np.uint64)[0]
               >> np.uint64(1))


def episode_noise(seed: int, probability: float, sigma: float, shape: tuple[int, int]
                  ) -> tuple[bool, np.ndarray]:
    """(noise on?, noise array) regenerated from an episode's recorded seed."""
    rng = np.random.default_rng(seed)
    enabled = bool(rng.random() < probability)
    noise = rng.normal(0.0, sigma, shape) if enabled else np.zeros(shape)
    return enabled, noise


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
        self.library = library if library is not None or config.mode == "waves" \
            else load_library(config.library)
        self.manifest = Manifest(run_dir, config)
        self.next_index = self.manifest.next_index()
        self.period = 1.0 / config.control_rate_hz
        self.phase = self.IDLE
        self.plan: EpisodePlan | None = None
        self.step = 0
        self._ramp_from: np.ndarray | None = None
        self._ramp_ticks = 0
        self.finished = False
        self.finish_reason = ""
        self.completed_this_run = 0
        self._joints = wave_joints(config.wave_skip_joints)

    def _steps(self) -> int:
        if self.config.steps:
            return self.config.steps
        return self.library.steps if self.library is not None else 400

    def plan_episode(self, index: int) -> EpisodePlan:
        config = self.config
        seed = episode_seed(config.seed, index)
        steps = self._steps()
        if config.mode == "waves":
            rng = np.random.default_rng(seed)
            kind = WAVES[index % len(WAVES)]
            joint = self._joints[(index // len(WAVES)) % len(self._joints)]
            targets = wave_targets(kind, joint, steps, self.period, rng)
            return EpisodePlan(index, f"wave:{kind}:{JOINT_NAMES[joint]}", "unknown", targets,
                               targets[0], False, 0.0, seed)
        library = self.library
        if config.order == "random":
            row = int(np.random.default_rng(seed).integers(len(library)))
        else:
            row = index % len(library)
        base = library.actions[row, :steps].astype(float)
        enabled, noise = episode_noise(seed, config.noise_probability, config.noise_sigma,
                                       base.shape)
        name = Path(library.path).stem if library.path else "library"
        return EpisodePlan(index, f"{name}:{row}", library.label(row),
                           np.clip(base + noise, LOWER, UPPER), library.initial_q[row],
                           enabled, config.noise_sigma if enabled else 0.0, seed)

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
            self._ramp_ticks = max(1, int(round(self.config.ramp_s / self.period)))
            out.events.append(Event(START, self.plan, 0))
        if self.phase == self.RAMP:
            self.step += 1
            fraction = min(1.0, self.step / self._ramp_ticks)
            out.command = self._ramp_from + (self.plan.initial_q - self._ramp_from) * fraction
            if fraction >= 1.0:
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
