"""Synthetic per-joint plants for tests, benchmarks and sanity checks of the learning code.

q_{t+1} = q_t + alpha_i * (a_{t-d} - q_t) + beta_i * (q_t - q_{t-1}) per joint i: a discrete
position-controlled joint with gain alpha, momentum beta and a command delay of d steps. A "sim"
plant and a "real" plant (other gains, a delay) make a known, controllable reality gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexndm_control.hand import ACTION_SCALE, LOWER, NUM_JOINTS, UPPER
from dexndm_control.transitions import INITIAL_TARGET, Episode


@dataclass(frozen=True)
class LinearJointPlant:
    alpha: np.ndarray  # [16]
    beta: np.ndarray  # [16]
    delay: int = 0

    def step(self, q: np.ndarray, q_prev: np.ndarray, delayed_target: np.ndarray) -> np.ndarray:
        return q + self.alpha * (delayed_target - q) + self.beta * (q - q_prev)

    def rollout(self, q0: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Joint positions [T+1, 16] under targets [T, 16] (earlier targets = q0)."""
        q = [q0.copy(), q0.copy()]  # q_{-1} = q_0
        for t in range(len(targets)):
            command = targets[t - self.delay] if t >= self.delay else q0
            q.append(self.step(q[-1], q[-2], command))
        return np.array(q[1:])

    def next_state(self, q_hist: np.ndarray, a_hist: np.ndarray) -> np.ndarray:
        """q_{t+1} from windows [B, W, 16] (W > delay)."""
        return self.step(q_hist[:, -1], q_hist[:, -2], a_hist[:, -1 - self.delay])


def sim_plant() -> LinearJointPlant:
    return LinearJointPlant(np.full(NUM_JOINTS, 0.5), np.full(NUM_JOINTS, 0.3), 0)


def real_plant(seed: int = 1) -> LinearJointPlant:
    """Weaker, varied gains and one step of latency: the gap a residual must close."""
    rng = np.random.default_rng(seed)
    return LinearJointPlant(rng.uniform(0.25, 0.45, NUM_JOINTS),
                            rng.uniform(0.2, 0.4, NUM_JOINTS), 1)


def random_targets(rng: np.random.Generator, steps: int, start: np.ndarray,
                   noise: float = 0.0) -> np.ndarray:
    """Policy-like targets: a_t = a_{t-1} + delta/24 with smooth random delta in [-1, 1]."""
    phase = rng.uniform(0, 2 * np.pi, (3, NUM_JOINTS))
    freq = rng.uniform(0.02, 0.2, (3, NUM_JOINTS))
    t = np.arange(steps)[:, None]
    delta = sum(np.sin(freq[k] * t * 2 * np.pi + phase[k]) for k in range(3)) / 3
    targets = np.clip(start + np.cumsum(delta * ACTION_SCALE, axis=0), LOWER, UPPER)
    if noise:
        targets = targets + rng.normal(0, noise, targets.shape)
    return targets


def make_episodes(plant: LinearJointPlant, count: int, steps: int = 400, seed: int = 0,
                  noise: float = 0.0, control_dt: float = 0.05) -> list[Episode]:
    rng = np.random.default_rng(seed)
    episodes = []
    for number in range(count):
        q0 = rng.uniform(LOWER * 0.5, UPPER * 0.5)
        targets = random_targets(rng, steps, q0, noise)
        q = plant.rollout(q0, targets)
        axis = rng.normal(size=3)
        episodes.append(Episode(q, targets, np.arange(steps + 1) * control_dt,
                                {"trajectory_id": f"synthetic:{seed}:{number}",
                                 "wrist_quat": [1.0, 0.0, 0.0, 0.0],
                                 "axis": (axis / np.linalg.norm(axis)).tolist(),
                                 # at rest at q0 holding q0: the targets grow from there
                                 INITIAL_TARGET: q0.tolist()}))
    return episodes
