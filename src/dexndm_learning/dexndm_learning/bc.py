"""Behaviour cloning of the generalist (paper section 3.2) from simulated rollouts.

Teacher actions are recovered from the rollouts themselves: delta_a_t = (a_t - a_{t-1}) / scale,
clipped to [-1, 1], where a are the targets the teacher sent. The observation is
ObservationLayout (dexndm_control), exactly what the controller builds at deployment. The
exported bundle (kind "base_policy") carries the layout, action scale, normalisers and the
initial pose the controller ramps to before enabling the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.hand import ACTION_SCALE
from dexndm_control.policy.bundle import load_network
from dexndm_control.policy.networks import GeneralistPolicyNet
from dexndm_control.policy.observation import ObservationLayout
from dexndm_control.settings import setting
from dexndm_control.transitions import INITIAL_TARGET, Episode
from dexndm_learning.data import (
    Windows,
    at_rest_before,
    fingerprint,
    load_episodes,
    split_by_episode,
)
from dexndm_learning.trainer import Evaluation, RunConfig, Task, start_run
from dexndm_learning.trainer import train as train_loop

BUNDLE_KIND = "base_policy"


@dataclass(kw_only=True)
class BCConfig(RunConfig):
    history: int = setting(10, help="T of the observation")
    width: int = setting(1024, help="residual MLP width (paper: 1024)")
    blocks: int = setting(5, help="residual blocks (paper: 5)")
    action_scale: float = setting(ACTION_SCALE, cli=False)  # the controller's convention
    lr: float = 3e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.width < 8 or self.blocks < 0 or self.history < 1:
            raise DexndmError("need --width >= 8, --blocks >= 0, --history >= 1")


def bc_batch(windows: Windows, index: torch.Tensor, layout: ObservationLayout, scale: float):
    """(observations, teacher delta_a) for windows ending at the teacher's step k."""
    T = layout.history
    q_span, a_span = windows.span(index, T + 1)
    episode = windows.episode[index]
    obs = layout.build(q_span[:, 1:], a_span[:, :-1], windows.wrist[episode],
                       windows.axis[episode])
    delta = torch.clamp((a_span[:, -1] - a_span[:, -2]) / scale, -1.0, 1.0)
    return obs, delta


def with_start_history(episode: Episode, history: int, control_dt: float) -> Episode:
    """``episode`` with ``history`` steps before its start in which the hand rests at q[0]
    holding its initial target: what the simulator and the controller fill a policy's history
    with when an episode starts, so the windows of the first ``history`` steps exist too."""
    if INITIAL_TARGET not in episode.meta:
        raise DexndmError(
            f"episode {episode.meta.get('trajectory_id', '?')} has no {INITIAL_TARGET!r}: its "
            f"first {history} steps, where a policy sets up its grasp, could not be trained on; "
            "re-run `dexndm rollout` to rewrite the shards (rollouts record it)")
    return at_rest_before(episode, history, control_dt, episode.meta[INITIAL_TARGET])


def policy_windows(episodes: Sequence[Episode], history: int, control_dt: float) -> Windows:
    """One window per step of every episode, its first step included, for (observation, teacher
    delta_a) pairs (bc_batch)."""
    return Windows([with_start_history(e, history, control_dt) for e in episodes], 1,
                   control_dt, history=history)


def train_bc(config: BCConfig) -> dict:
    device, distributed, out = start_run(config)
    layout = ObservationLayout(history=config.history)
    loaded = load_episodes(config.data)
    train_ids, eval_ids = split_by_episode(loaded.keys, config.eval_fraction, config.seed)
    train = policy_windows([loaded.episodes[i] for i in train_ids], config.history,
                           loaded.control_dt)
    evaluation = policy_windows([loaded.episodes[i] for i in eval_ids], config.history,
                                loaded.control_dt)
    if len(train) == 0:
        raise DexndmError("no rollout step to train on: pass shards with at least one episode")
    policy = GeneralistPolicyNet(layout.size, width=config.width, blocks=config.blocks)
    sample = torch.arange(0, len(train), max(1, len(train) // 50000))
    obs, _ = bc_batch(train, sample, layout, config.action_scale)
    policy.obs_norm.set(obs.mean(0), obs.std(0))
    policy.obs_norm.unit_scale_constant()  # a wrist or axis the data lacks stays in range
    policy.to(device)

    def loss(module: torch.nn.Module, index: torch.Tensor) -> torch.Tensor:
        obs, delta = (t.to(device) for t in bc_batch(train, index, layout, config.action_scale))
        return ((module(obs) - delta) ** 2).mean()

    def assess() -> Evaluation:
        error = evaluate_bc(policy, evaluation if len(evaluation) else train, layout,
                            config.action_scale, device)
        return Evaluation(error, {"eval_action_mae": error}, line=f"eval action MAE {error:.4f}")

    initial = np.mean([e.q[0] for e in loaded.episodes], axis=0)
    recorder = train_loop(Task(
        "bc", BUNDLE_KIND, policy, policy, len(train), loss, assess,
        {"layout": layout.to_dict(), "action_scale": config.action_scale,
         "initial_pose": initial.tolist(), "data_fingerprint": fingerprint(loaded.files),
         "eval_episodes": [loaded.keys[i] for i in eval_ids]},
        lambda: torch.optim.Adam(policy.parameters(), lr=config.lr)),
        config, device, distributed, out)
    return {"best_eval_action_mae": recorder.best, "history": recorder.history, "out": str(out)}


@torch.no_grad()
def evaluate_bc(policy: GeneralistPolicyNet, windows: Windows, layout: ObservationLayout,
                scale: float, device: str) -> float:
    policy.eval()
    total, count = 0.0, 0
    for start in range(0, len(windows), 8192):
        index = torch.arange(start, min(start + 8192, len(windows)))
        obs, delta = bc_batch(windows, index, layout, scale)
        total += (policy(obs.to(device)).cpu() - delta).abs().mean(1).sum().item()
        count += len(index)
    policy.train()
    return total / max(1, count)


def load_base_policy(path: str | Path) -> tuple[GeneralistPolicyNet, dict]:
    policy, bundle = load_network(path, BUNDLE_KIND)
    return policy, bundle.info
