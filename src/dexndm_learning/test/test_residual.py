"""Residual policy through frozen dynamics: closes a known synthetic gap; bundles reload."""

from __future__ import annotations

import numpy as np
import torch

from dexndm_control.transitions import write_shard
from dexndm_learning.data import Windows
from dexndm_learning.dynamics.train import DynamicsTrainConfig, load_dynamics, train_dynamics
from dexndm_learning.residual.train import (
    ResidualObjective,
    ResidualTrainConfig,
    load_residual,
    train_residual,
)
from dexndm_learning.synthetic import make_episodes, real_plant, sim_plant


def test_residual_reduces_the_true_one_step_mismatch(tmp_path):
    real, sim = real_plant(), sim_plant()
    # "chaos box" data from the real plant (noisy targets for coverage), rollouts from the sim
    write_shard(tmp_path / "real" / "r.npz", make_episodes(real, 60, seed=1, noise=0.02), "real")
    write_shard(tmp_path / "sim" / "s.npz", make_episodes(sim, 60, seed=2), "sim")
    train_dynamics(DynamicsTrainConfig(data=[str(tmp_path / "real")], out=str(tmp_path / "dyn"),
                                       arch="joint", window=6, epochs=6, batch_size=256,
                                       device="cpu", progress=False))
    result = train_residual(ResidualTrainConfig(
        dynamics=str(tmp_path / "dyn" / "best"), data=[str(tmp_path / "sim")],
        out=str(tmp_path / "res"), history=4, hidden=(128, 128), scale=0.2, epochs=12,
        batch_size=256, lr=1e-3, device="cpu", progress=False))
    assert result["best_mismatch_rad"] < 0.8 * result["baseline_mismatch_rad"]

    # judge with the TRUE real plant, on sim episodes never seen in training
    residual, layout, _ = load_residual(tmp_path / "res" / "best")
    objective = ResidualObjective(residual, load_dynamics(tmp_path / "dyn" / "best"), layout)
    windows = Windows(make_episodes(sim, 8, seed=77), 6, 0.05, history=4)
    index = torch.arange(len(windows))
    q_span, a_span = windows.span(index, 10)
    _, _, q_next = windows.batch(index)
    episode = windows.episode[index]
    with torch.no_grad():
        corrected = objective.corrected_targets(q_span, a_span, windows.wrist[episode],
                                                windows.axis[episode]).numpy()
    q_hist, a_hist = q_span[:, -6:].numpy(), a_span[:, -6:].numpy()
    without = np.linalg.norm(real.next_state(q_hist, a_hist) - q_next.numpy(), axis=1).mean()
    with_residual = np.linalg.norm(real.next_state(q_hist, corrected) - q_next.numpy(),
                                   axis=1).mean()
    assert with_residual < 0.8 * without, (with_residual, without)
    assert np.abs(corrected - a_span[:, -6:].numpy()).max() <= 0.2 + 1e-6  # bounded


def test_residual_bundle_reloads_identically(tmp_path):
    write_shard(tmp_path / "real.npz", make_episodes(real_plant(), 4, steps=80, seed=1), "real")
    write_shard(tmp_path / "sim.npz", make_episodes(sim_plant(), 4, steps=80, seed=2), "sim")
    train_dynamics(DynamicsTrainConfig(data=[str(tmp_path / "real.npz")],
                                       out=str(tmp_path / "dyn"), window=4, epochs=1,
                                       device="cpu", progress=False))
    train_residual(ResidualTrainConfig(dynamics=str(tmp_path / "dyn" / "best"),
                                       data=[str(tmp_path / "sim.npz")], out=str(tmp_path / "r"),
                                       history=3, epochs=1, batch_size=64, device="cpu",
                                       progress=False))
    first, layout, info = load_residual(tmp_path / "r" / "best")
    second, _, _ = load_residual(tmp_path / "r" / "best")
    obs = torch.randn(7, layout.size)
    base, q_now = torch.randn(7, 16), torch.randn(7, 16)
    assert torch.equal(first(obs, base, q_now), second(obs, base, q_now))
    assert layout.history == 3 and info["layout"]["groups"][0] == ["joint_positions", 48]
