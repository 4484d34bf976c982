"""Residual policy through frozen dynamics: closes a known synthetic gap; bundles reload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import save_bundle
from dexndm_control.policy.dynamics_model import load_dynamics
from dexndm_control.policy.networks import ResidualPolicyNet
from dexndm_control.policy.observation import ObservationLayout
from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_control.transitions import Episode, write_shard
from dexndm_learning.data import Windows, at_rest_before
from dexndm_learning.dynamics.train import DynamicsTrainConfig, train_dynamics
from dexndm_learning.residual.train import (
    BaseChain,
    ResidualObjective,
    ResidualTrainConfig,
    load_residual,
    train_residual,
)
from dexndm_learning.synthetic import make_episodes, real_plant, sim_plant

BASE = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"


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
    # the synthetic episodes share one wrist: its quaternion enters at unit scale, so another
    # wrist at deployment stays in range; the joints are standardised
    groups = layout.slices()
    torch.testing.assert_close(first.obs_norm.std[groups["wrist_quat"]], torch.ones(4))
    assert bool((first.obs_norm.std[groups["joint_positions"]] != 1).all())


class _LatePlantModel(torch.nn.Module):
    """A known plant with one step of command latency, in the dynamics models' interface."""

    window = 4

    def __init__(self) -> None:
        super().__init__()
        self.plant = real_plant()

    def forward(self, q_hist: torch.Tensor, a_hist: torch.Tensor) -> torch.Tensor:
        alpha = torch.as_tensor(self.plant.alpha, dtype=q_hist.dtype)
        beta = torch.as_tensor(self.plant.beta, dtype=q_hist.dtype)
        q, q_prev = q_hist[:, -1], q_hist[:, -2]
        return q + alpha * (a_hist[:, -2] - q) + beta * (q - q_prev)


def _nonzero_residual(layout, scale: float = 0.05) -> ResidualPolicyNet:
    torch.manual_seed(3)
    residual = ResidualPolicyNet(layout.size, scale=scale)
    torch.nn.init.normal_(residual.net[-1].weight, std=0.5)
    return residual


def test_multi_step_rollout_is_what_the_runtime_does_on_the_predicted_hand(tmp_path):
    """Training's K-step rollout with the base in the loop, replayed step by step with the
    controller's PolicyRuntime fed the model's predicted joint positions: the same base
    targets, commands and predicted states (the time alignment training relies on)."""
    base = BaseChain(BASE)
    layout = base.layout
    residual = _nonzero_residual(layout)
    save_bundle(tmp_path / "res", "residual", residual.config(), residual.state_dict(),
                {"layout": layout.to_dict()})
    model = _LatePlantModel()
    objective = ResidualObjective(residual, model, layout, base=base)
    horizon, W, T = 5, model.window, layout.history
    windows = Windows(make_episodes(sim_plant(), 2, steps=60, seed=4), W, 0.05,
                      history=T, horizon=horizon)
    index = torch.tensor([0, 17, len(windows) - 1])
    q_span, a_span = windows.span(index, W + T)
    q_future, a_future = windows.future(index, horizon)
    episode = windows.episode[index]
    with torch.no_grad():
        predicted, commands, bases = objective.rollout(
            q_span, a_span, windows.wrist[episode], windows.axis[episode], a_future, horizon)
        first = objective.corrected_targets(q_span, a_span, windows.wrist[episode],
                                            windows.axis[episode])
    assert predicted.shape == (3, horizon, 16) and commands.shape == (3, W + horizon - 1, 16)
    assert torch.allclose(commands[:, :W], first)  # the recorded window, corrected
    assert torch.equal(bases[:, :W], a_span[:, -W:])
    for b in range(3):
        runtime = PolicyRuntime(BASE, tmp_path / "res", max_step=10.0)
        runtime.q_history = q_span[b, -T:].double().numpy()
        runtime.target_history = a_span[b, -T:].double().numpy()  # a_{t-T+1} .. a_t
        runtime.base_target = a_span[b, -1].double().numpy()
        q_seq = list(q_span[b, -W:].double().numpy())
        sent = list(commands[b, :W].double().numpy())
        for k in range(horizon):
            q_next = model.plant.next_state(np.array(q_seq[-W:])[None],
                                            np.array(sent[-W:])[None])[0]
            assert np.allclose(q_next, predicted[b, k].numpy(), atol=1e-5)
            if k == horizon - 1:
                break
            result = runtime.step(q_next, windows.wrist[episode[b]].numpy(),
                                  windows.axis[episode[b]].numpy())
            assert np.allclose(result.base_target, bases[b, W + k].numpy(), atol=1e-5)
            assert np.allclose(result.target, commands[b, W + k].numpy(), atol=1e-5)
            q_seq.append(q_next)
            sent.append(result.target)


def test_one_step_objective_and_teacher_forced_rollout_by_hand():
    """Horizon 1 is the paper's one-step loss; longer horizons without a base feed the recorded
    targets (plus the residual) through the model's own predictions."""
    layout = ObservationLayout(history=3)
    residual = _nonzero_residual(layout)
    model = _LatePlantModel()
    objective = ResidualObjective(residual, model, layout)
    W, T = model.window, layout.history
    windows = Windows(make_episodes(sim_plant(), 2, steps=40, seed=5), W, 0.05, history=T,
                      horizon=3)
    index = torch.arange(len(windows))
    q_span, a_span = windows.span(index, W + T)
    q_future, a_future = windows.future(index, 3)
    wrist, axis = windows.wrist[windows.episode[index]], windows.axis[windows.episode[index]]
    with torch.no_grad():
        corrected = objective.corrected_targets(q_span, a_span, wrist, axis)
        one_step = objective(q_span, a_span, wrist, axis, q_future[:, :1], a_future[:, :0])
        expected = (model(q_span[:, -W:], corrected) - q_future[:, 0]).norm(dim=-1).mean()
        assert torch.allclose(one_step, expected)
        predicted, commands, bases = objective.rollout(q_span, a_span, wrist, axis, a_future, 3)
    assert torch.equal(bases[:, W:], a_future)  # the recorded a_{t+1}, a_{t+2}
    q_hist = torch.cat([q_span[:, -W:], predicted[:, :1]], 1)
    obs = layout.build(q_hist[:, -T:], a_span[:, -T:], wrist, axis)
    with torch.no_grad():
        command = a_future[:, 0] + residual(obs, a_future[:, 0], predicted[:, 0])
    assert torch.allclose(commands[:, W], command)
    assert torch.allclose(predicted[:, 1], model(q_hist[:, -W:], commands[:, 1:W + 1]))


def test_rest_windows_by_hand():
    """at_rest_before + first_of_each_episode: the one window per episode ends on the last rest
    step, its history is the rest, and what follows is the episode from its first state."""
    q = np.arange(6 * 16, dtype=np.float32).reshape(6, 16)
    a = -np.arange(5 * 16, dtype=np.float32).reshape(5, 16) - 1
    episode = Episode(q, a, np.arange(6) * 0.05, {"axis": [0.0, 0.0, 1.0]})
    rested = at_rest_before(episode, 3, 0.05)
    assert rested.q.shape == (9, 16) and rested.a.shape == (8, 16)
    assert np.array_equal(rested.q[:4], np.repeat(q[:1], 4, 0)) and np.array_equal(
        rested.q[3:], q)
    assert np.array_equal(rested.a[:4], np.repeat(a[:1], 4, 0)) and np.allclose(
        np.diff(rested.t), 0.05)
    windows = Windows([rested, at_rest_before(episode, 3, 0.05)], window=2, control_dt=0.05,
                      history=1, horizon=2).first_of_each_episode()
    assert len(windows) == 2 and windows.episode.tolist() == [0, 1]
    q_span, a_span = windows.span(torch.arange(2), 3)
    q_future, a_future = windows.future(torch.arange(2), 2)
    assert torch.equal(q_span, torch.from_numpy(np.repeat(q[None, :1], 3, 1)).repeat(2, 1, 1))
    assert torch.equal(a_span[0], torch.from_numpy(np.repeat(a[:1], 3, 0)))
    assert torch.equal(q_future[0], torch.from_numpy(q[:2]))  # the episode's q_0, q_1
    assert torch.equal(a_future[0, 0], torch.from_numpy(a[0]))  # then its own first target


def test_residual_from_rest_trains_on_one_rollout_per_episode(tmp_path):
    real, sim = real_plant(), sim_plant()
    write_shard(tmp_path / "real" / "r.npz", make_episodes(real, 30, seed=1, noise=0.02), "real")
    write_shard(tmp_path / "sim" / "s.npz", make_episodes(sim, 30, steps=60, seed=2), "sim")
    train_dynamics(DynamicsTrainConfig(data=[str(tmp_path / "real")], out=str(tmp_path / "dyn"),
                                       arch="joint", window=4, epochs=3, batch_size=256,
                                       device="cpu", progress=False))
    with pytest.raises(DexndmError, match="--horizon"):
        ResidualTrainConfig(dynamics="x", data=["y"], out=str(tmp_path / "no"), from_rest=True)
    result = train_residual(ResidualTrainConfig(
        dynamics=str(tmp_path / "dyn" / "best"), data=[str(tmp_path / "sim")],
        out=str(tmp_path / "res"), history=3, hidden=(64,), scale=0.2, epochs=30,
        horizon=12, from_rest=True, lr=3e-3, device="cpu", progress=False))
    # the real plant lags the simulated one: rolled from rest, the correction helps
    assert result["best_mismatch_rad"] < 0.9 * result["baseline_mismatch_rad"], result
    _, _, info = load_residual(tmp_path / "res" / "best")
    assert info["from_rest"] is True and info["horizon"] == 12
