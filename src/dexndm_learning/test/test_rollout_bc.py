"""Rollouts -> libraries and shards; BC export runs identically in the controller's runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.observation import ObservationLayout
from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_control.trajectory_library import load_library
from dexndm_control.transitions import INITIAL_TARGET, Episode, read_shard
from dexndm_learning.bc import (
    BCConfig,
    bc_batch,
    load_base_policy,
    policy_windows,
    train_bc,
    with_start_history,
)
from dexndm_learning.data import load_episodes
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
    # palm up about +-z: the wrist quaternion and the axis's x and y are constant in the data
    # and enter at unit scale (another wrist or axis stays in range); the rest is standardised
    groups = ObservationLayout(history=4).slices()
    std = policy.obs_norm.std
    torch.testing.assert_close(std[groups["wrist_quat"]], torch.ones(4))
    torch.testing.assert_close(std[groups["rotation_axis"]][:2], torch.ones(2))
    assert 0.5 < std[groups["rotation_axis"]][2] < 1.5  # +-z: +-1
    assert bool((std[groups["joint_positions"]] != 1).all())
    runtime = PolicyRuntime(tmp_path / "bc" / "best", max_step=10.0)
    # same inputs through the training code and the deployed runtime: same actions, from the
    # episode's first step on
    loaded = load_episodes([str(tmp_path / "shards")])
    windows = policy_windows(loaded.episodes, 4, loaded.control_dt)
    assert len(windows) == 3 * 40  # a window for every step, the first four included
    index = torch.arange(5)
    obs, _ = bc_batch(windows, index, runtime.layout, info["action_scale"])
    with torch.no_grad():
        trained = policy(obs).numpy()
    first = loaded.episodes[0]
    runtime.reset(first.q[0], np.array(first.meta[INITIAL_TARGET]))
    start = runtime.step(first.q[0], windows.wrist[0].numpy(), windows.axis[0].numpy())
    assert np.allclose(start.observation, obs[0].numpy(), atol=1e-6)
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


def test_an_episode_starts_from_its_initial_target_held_at_its_first_reading():
    """Hand-computed: T = 2 steps before the start, the hand at q0 holding the initial target;
    the first window's label is the first action's step away from that target."""
    q = np.array([[0.1] * 16, [0.2] * 16, [0.3] * 16])
    a = np.array([[0.5] * 16, [0.6] * 16])
    episode = Episode(q, a, np.array([1.0, 1.05, 1.1]), {INITIAL_TARGET: [0.45] * 16})
    padded = with_start_history(episode, 2, 0.05)
    assert np.allclose(padded.q[:, 0], [0.1, 0.1, 0.1, 0.2, 0.3])
    assert np.allclose(padded.a[:, 0], [0.45, 0.45, 0.5, 0.6])
    assert np.allclose(padded.t, [0.9, 0.95, 1.0, 1.05, 1.1])
    windows = policy_windows([episode], 2, 0.05)
    q_span, a_span = windows.span(torch.arange(len(windows)), 3)
    assert len(windows) == 2
    assert np.allclose(q_span[0, 1:, 0], [0.1, 0.1]) and np.allclose(a_span[0, :, 0],
                                                                     [0.45, 0.45, 0.5])
    assert np.allclose((a_span[:, -1, 0] - a_span[:, -2, 0]).numpy(), [0.05, 0.1])
    with pytest.raises(DexndmError, match="re-run `dexndm rollout`"):
        with_start_history(Episode(q, a, np.array([1.0, 1.05, 1.1])), 2, 0.05)
