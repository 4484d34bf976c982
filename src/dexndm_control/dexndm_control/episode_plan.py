"""What a chaos-box episode sends: the trajectory it replays and its noise, from its index alone.

Every episode i draws its own seed from (run seed, i); from that seed the trajectory (random
order), the noise flag (p = 0.5 in the paper) and the N(0, sigma) noise on every action element
(a new draw every step as in the paper, or held for ``noise_hold_steps``) are regenerated
exactly, so any episode can be reproduced. The collector node on a hand
(dexndm_collect) and the in-process batched replay in simulation (dexndm_sim.chaos_replay) plan
their episodes here, so the same index sends the same targets on both paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import CONTROL_RATE_HZ, JOINT_NAMES, LOWER, UPPER
from dexndm_control.settings import setting
from dexndm_control.trajectory_library import TrajectoryLibrary, load_library
from dexndm_control.waves import WAVES, wave_joints, wave_targets


@dataclass(frozen=True)
class EpisodePlanConfig:
    library: str = setting("", deployment=True, help="trajectory library (.npz) to replay")
    mode: str = setting("replay", help="replay (the library) or waves")
    steps: int = setting(0, help="0: the library's length (400); waves: 400")
    noise_probability: float = setting(0.5, help="paper: N(0, sigma) on every action element "
                                                 "with this probability per episode")
    noise_sigma: float = 0.01
    noise_hold_steps: int = setting(1, help="each noise draw is held for this many steps (1: a "
                                            "new draw every step, the paper's; more: offsets "
                                            "the motors' PD loop cannot average away)")
    control_rate_hz: float = CONTROL_RATE_HZ
    order: str = setting("sequential", help="sequential or random")
    seed: int = 0
    ramp_s: float = setting(2.0, help="move to the episode's initial pose before replaying")
    wave_skip_joints: tuple[str, ...] = setting(("if_rot", "mf_rot", "rf_rot"),
                                                help="joints the wave mode leaves still")

    def __post_init__(self) -> None:
        if self.mode not in ("replay", "waves"):
            raise DexndmError(f"mode must be replay or waves, got '{self.mode}'")
        if self.mode == "replay" and not self.library:
            raise DexndmError("replay mode needs a trajectory library (parameter `library`); "
                              "the repository ships config/trajectories/default.npz")
        if not 0 <= self.noise_probability <= 1 or self.noise_sigma < 0 \
                or self.noise_hold_steps < 1:
            raise DexndmError("noise_probability must be in [0, 1], noise_sigma >= 0 and "
                              "noise_hold_steps >= 1")
        if self.order not in ("sequential", "random"):
            raise DexndmError("order must be sequential or random")
        if self.control_rate_hz <= 0 or self.ramp_s < 0:
            raise DexndmError("control_rate_hz must be > 0 and ramp_s >= 0")
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


def episode_noise(seed: int, probability: float, sigma: float, shape: tuple[int, int],
                  hold_steps: int = 1) -> tuple[bool, np.ndarray]:
    """(noise on?, noise array) regenerated from an episode's recorded seed; with
    ``hold_steps`` > 1 each draw stays for that many steps (piecewise constant)."""
    rng = np.random.default_rng(seed)
    enabled = bool(rng.random() < probability)
    if not enabled:
        return False, np.zeros(shape)
    steps, joints = shape
    draws = rng.normal(0.0, sigma, (-(-steps // hold_steps), joints))
    return True, np.repeat(draws, hold_steps, axis=0)[:steps]


class EpisodePlanner:
    """Episode index -> EpisodePlan for one run's settings (and its library)."""

    def __init__(self, config: EpisodePlanConfig,
                 library: TrajectoryLibrary | None = None) -> None:
        self.config = config
        self.library = library if library is not None or config.mode == "waves" \
            else load_library(config.library)
        self.period = 1.0 / config.control_rate_hz
        self._joints = wave_joints(config.wave_skip_joints)

    @property
    def ramp_ticks(self) -> int:
        """Control steps of the ramp to an episode's initial pose (at least one)."""
        return max(1, int(round(self.config.ramp_s / self.period)))

    def ramp(self, start: np.ndarray, initial_q: np.ndarray, tick: int) -> np.ndarray:
        """The command of ramp tick 1..ramp_ticks from the reading ``start`` (any leading
        shape): a straight line that ends exactly at ``initial_q``."""
        fraction = min(1.0, tick / self.ramp_ticks)
        return start + (initial_q - start) * fraction

    @property
    def steps(self) -> int:
        if self.config.steps:
            return self.config.steps
        return self.library.steps if self.library is not None else 400

    def plan(self, index: int) -> EpisodePlan:
        config = self.config
        seed = episode_seed(config.seed, index)
        steps = self.steps
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
                                       base.shape, config.noise_hold_steps)
        name = Path(library.path).stem if library.path else "library"
        return EpisodePlan(index, f"{name}:{row}", library.label(row),
                           np.clip(base + noise, LOWER, UPPER), library.initial_q[row],
                           enabled, config.noise_sigma if enabled else 0.0, seed)
