"""Chaos-box collection in simulation, batched: the collector's episodes replayed by simulated
hands in boxes of soft balls, written as the transition shards `dexndm dataset build` writes.

The path for scale (paper: 4,000 episodes). The episodes are the collector's own
(dexndm_control.episode_plan: same index, same targets, bit for bit); each hand runs them as the
collector node runs a real one: from the joint reading it ramps to the episode's initial pose
(``ramp_s``), replays the targets, and goes on to its next episode from wherever it ended, the
balls left where they lie. Hand h of H runs episodes h, h + H, h + 2H, ...; its box of balls is
seeded ``seed + h`` (hand 0's box is the virtual hand's with the same seed). A transition is
(q[k], a[k], q[k+1]) with q the joint reading (whole encoder ticks when the profile quantises),
taken when target k is sent and one control period later, as the dataset builder aligns a bag.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dexndm_control.episode_plan import EpisodePlanConfig, EpisodePlanner
from dexndm_control.errors import DexndmError
from dexndm_control.hand import CONTROL_DT, RAD_PER_TICK
from dexndm_control.settings import setting
from dexndm_control.transitions import Episode, write_shard
from dexndm_sim import PHYSICS_THREADS_HELP
from dexndm_sim.hand_batch import HandBatch
from dexndm_sim.profiles import get_profile
from dexndm_sim.scene import ChaosBox, SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import wrist_quaternion

EPISODES_PER_SHARD = 500  # as `dexndm dataset build`


@dataclass(frozen=True)
class ChaosReplayConfig(EpisodePlanConfig):
    """The collector's planning settings (EpisodePlanConfig) and the simulated hands."""

    out: str = setting("", help="directory for the transition shards and report.json")
    episodes: int = setting(64, help="episodes 0..N-1 of the plan")
    profile: str = setting("real", help="the hands' hardware profile (name, NAME:key=value "
                                        "or a profile file)")
    wrist: str = setting("palm_down", help="the hands' wrist orientation (a canonical name)")
    balls: int = setting(ChaosBox.balls, help="soft balls in each box")
    hands: int = setting(8, help="hands stepped together (2 threads: 8 measured best)")
    settle_s: float = setting(1.0, help="the hands hold still while the balls settle, once")
    threads: int = setting(0, help=PHYSICS_THREADS_HELP)
    preset: str = "fast"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.episodes < 1 or self.hands < 1 or self.balls < 0 or self.settle_s < 0:
            raise DexndmError("need --episodes >= 1, --hands >= 1, --balls >= 0, --settle-s >= 0")


def encoder_reading(q: np.ndarray, quantize: bool) -> np.ndarray:
    """What the driver reports: whole encoder ticks when the motors quantise."""
    return np.round(q / RAD_PER_TICK) * RAD_PER_TICK if quantize else q


def chaos_hands(config: ChaosReplayConfig, count: int) -> list[SimHand]:
    profile = get_profile(config.profile)
    wrist = tuple(wrist_quaternion(config.wrist, np.random.default_rng(config.seed)))
    hands = []
    for h in range(count):
        hand = SimHand(SceneConfig(wrist, profile, config.preset, None,
                                   ChaosBox(balls=config.balls, seed=config.seed + h),
                                   state_sensors=True))
        hand.reset(np.zeros(16))  # as the virtual hand starts
        hands.append(hand)
    return hands


def chaos_replay(config: ChaosReplayConfig, progress: bool = False) -> dict:
    """Replay episodes 0..config.episodes-1 and write them as shards to config.out."""
    from tqdm import tqdm

    if not config.out:
        raise DexndmError("give --out DIR for the shards")
    started = time.perf_counter()
    planner = EpisodePlanner(config)
    count = min(config.hands, config.episodes)
    hands = chaos_hands(config, count)
    quantize = hands[0].profile.quantize
    batch = HandBatch(hands, config.threads)
    episodes: list[Episode] = []
    rounds = math.ceil(config.episodes / count)
    bar = tqdm(total=config.episodes, desc="chaos box", unit="episode", disable=not progress)
    try:
        hold = batch.targets.copy()
        for _ in range(int(round(config.settle_s / CONTROL_DT))):
            batch.step(hold)
        for round_index in range(rounds):
            plans = [planner.plan(round_index * count + h) for h in range(count)]
            start = encoder_reading(batch.q, quantize)
            initial = np.stack([p.initial_q for p in plans])
            for tick in range(1, planner.ramp_ticks + 1):
                batch.step(planner.ramp(start, initial, tick))
            targets = np.stack([p.targets for p in plans], axis=1)  # [T, hands, 16]
            readings = [encoder_reading(batch.q, quantize)]
            for command in targets:
                batch.step(command)
                readings.append(encoder_reading(batch.q, quantize))
            q = np.stack(readings, axis=1)  # [hands, T + 1, 16]
            t = np.arange(len(targets) + 1) * CONTROL_DT
            for h, plan in enumerate(plans):
                if plan.index >= config.episodes:
                    continue  # the last round's spare hands
                meta = {"bag": "in_process", "episode_index": plan.index,
                        "trajectory_id": plan.trajectory_id, "wrist_label": plan.wrist_label,
                        "noise_enabled": plan.noise_enabled, "noise_sigma": plan.noise_sigma,
                        "seed": plan.seed, "first_step": 0, "hand": h,
                        "hand_wrist": config.wrist, "profile": config.profile}
                episodes.append(Episode(q[h], targets[:, h], t, meta))
                bar.update()
    finally:
        bar.close()
        batch.close()
    episodes.sort(key=lambda e: e.meta["episode_index"])
    out = Path(config.out)
    shards = [str(write_shard(out / f"shard_{k:04d}.npz", episodes[i:i + EPISODES_PER_SHARD],
                              f"sim:{config.profile}"))
              for k, i in enumerate(range(0, len(episodes), EPISODES_PER_SHARD))]
    report = {"config": asdict(config), "episodes": len(episodes),
              "transitions": int(sum(len(e.a) for e in episodes)), "shards": shards,
              "seconds": round(time.perf_counter() - started, 1)}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
