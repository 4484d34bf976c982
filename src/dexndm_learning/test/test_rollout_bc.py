"""Rollouts -> libraries and shards; BC export runs identically in the controller's runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_control.trajectory_library import load_library
from dexndm_control.transitions import read_shard
from dexndm_learning.bc import BCConfig, bc_batch, load_base_policy, train_bc
from dexndm_learning.data import Windows, load_episodes
from dexndm_learning.rollout import RolloutConfig, rollout


def test_rollouts_bc_and_runtime_agree(tmp_path):
    rollout(RolloutConfig(episodes=3, steps=40, category="small_cylinders", wrists=("palm_up",),
                          library=str(tmp_path / "lib.npz"), shards=str(tmp_path / "shards")))
    library = load_library(tmp_path / "lib.npz")
    shard = read_shard(next((tmp_path / "shards").glob("*.npz")))
    assert library.actions.shape == (3, 40, 16) and len(shard.episodes) == 3
    # the library's actions are exactly the targets the rollout sent
    assert np.allclose(library.actions[1], shard.episodes[1].a, atol=1e-6)
    train_bc(BCConfig(data=[str(tmp_path / "shards")], out=str(tmp_path / "bc"), history=4,
                      width=32, blocks=1, epochs=2, batch_size=32, device="cpu",
                      progress=False))
    policy, info = load_base_policy(tmp_path / "bc" / "best")
    runtime = PolicyRuntime(tmp_path / "bc" / "best", max_step=10.0)
    # same inputs through the training code and the deployed runtime: same actions
    loaded = load_episodes([str(tmp_path / "shards")])
    windows = Windows(loaded.episodes, 1, loaded.control_dt, history=4)
    index = torch.arange(5)
    obs, _ = bc_batch(windows, index, runtime.layout, info["action_scale"])
    with torch.no_grad():
        trained = policy(obs).numpy()
    q_span, a_span = windows.span(index, 5)
    for k in range(5):
        runtime.q_history[:] = q_span[k, :4].numpy()  # step() appends q_k itself
        runtime.target_history[:] = a_span[k, :4].numpy()
        runtime.base_target = a_span[k, 3].numpy().astype(float)
        episode = int(windows.episode[index[k]])
        step = runtime.step(q_span[k, 4].numpy(), windows.wrist[episode].numpy(),
                            windows.axis[episode].numpy())
        assert np.allclose(step.observation, obs[k].numpy(), atol=1e-6)
        assert np.allclose(step.base_delta, trained[k], atol=1e-5)
    # and a rollout can be driven by the exported policy itself
    rollout(RolloutConfig(episodes=1, steps=10, category="small_cylinders", wrists=("palm_up",),
                          policy=str(tmp_path / "bc" / "best"),
                          library=str(tmp_path / "lib2.npz")))
    assert load_library(tmp_path / "lib2.npz").actions.shape == (1, 10, 16)


def test_bc_reproduces_a_proprioceptive_teacher_on_held_out_episodes(tmp_path):
    """The teacher is the shipped test base policy (it sees what the student sees), so BC can
    reproduce it: stated error, on held-out episodes, under a quarter of a constant guess's."""
    teacher = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"
    rollout(RolloutConfig(episodes=16, steps=40, category="small_cylinders", wrists=("palm_up",),
                          policy=str(teacher), shards=str(tmp_path / "shards")))
    shard = read_shard(tmp_path / "shards" / "rollout_0.npz")
    deltas = np.concatenate([np.clip(np.diff(e.a, axis=0) * 24, -1, 1) for e in shard.episodes])
    baseline = float(np.abs(deltas - deltas.mean(0)).mean())
    result = train_bc(BCConfig(data=[str(tmp_path / "shards")], out=str(tmp_path / "bc"),
                               width=128, blocks=2, epochs=30, batch_size=64, lr=1e-3,
                               eval_fraction=0.25, device="cpu", progress=False))
    assert result["best_eval_action_mae"] < 0.25 * baseline, (result, baseline)
