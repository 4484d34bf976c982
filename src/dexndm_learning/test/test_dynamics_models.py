"""Dynamics models: grouped forward equals separate MLPs, factorisation, bundles, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dexndm_control.hand import FINGERS
from dexndm_control.policy.bundle import BundleError, load_bundle, save_bundle
from dexndm_control.policy.dynamics_model import DynamicsModel, NumpyDynamics, load_dynamics
from dexndm_control.transitions import write_shard
from dexndm_learning.dynamics.train import DynamicsTrainConfig, train_dynamics
from dexndm_learning.synthetic import make_episodes, sim_plant


def _reference_mlp(model: DynamicsModel, group: int) -> nn.Sequential:
    layers = []
    count = len(model.net.weights)
    for index, (weight, bias) in enumerate(zip(model.net.weights, model.net.biases, strict=True)):
        linear = nn.Linear(weight.shape[1], weight.shape[2]).double()
        linear.weight.data = weight[group].T.double().clone()
        linear.bias.data = bias[group, 0].double().clone()
        layers.append(linear)
        if index < count - 1:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


def test_batched_joint_wise_equals_16_separate_mlps():
    torch.manual_seed(0)
    model = DynamicsModel("joint", window=10).double()
    q_hist, a_hist = torch.randn(64, 10, 16).double(), torch.randn(64, 10, 16).double()
    batched = model.predict_dq_normalised(q_hist, a_hist)
    features = model.features(q_hist, a_hist)  # [B, 16, 20]
    for joint in range(16):
        reference = _reference_mlp(model, joint)(features[:, joint])[:, 0]
        assert torch.allclose(batched[:, joint], reference, atol=1e-6)


def test_finger_wise_equals_4_separate_mlps():
    torch.manual_seed(1)
    model = DynamicsModel("finger", window=4).double()
    q_hist, a_hist = torch.randn(32, 4, 16).double(), torch.randn(32, 4, 16).double()
    batched = model.predict_dq_normalised(q_hist, a_hist)
    features = model.features(q_hist, a_hist)
    for group, finger in enumerate(("index", "middle", "ring", "thumb")):
        joints = list(FINGERS[finger])
        reference = _reference_mlp(model, group)(features[:, joints].reshape(32, -1))
        assert torch.allclose(batched[:, joints], reference, atol=1e-6)


@pytest.mark.parametrize("arch,isolated", [("joint", True), ("shared", True),
                                           ("finger", False), ("whole", False)])
def test_perturbing_one_joint_history(arch, isolated):
    torch.manual_seed(2)
    model = DynamicsModel(arch, window=10)
    q_hist, a_hist = torch.randn(8, 10, 16), torch.randn(8, 10, 16)
    before = model(q_hist, a_hist)
    q_changed, a_changed = q_hist.clone(), a_hist.clone()
    q_changed[:, :, 5] += 0.7
    a_changed[:, :, 5] -= 0.4
    after = model(q_changed, a_changed)
    others = [j for j in range(16) if j != 5]
    assert not torch.allclose(before[:, 5], after[:, 5])
    unchanged = torch.allclose(before[:, others], after[:, others], atol=1e-7)
    assert unchanged is isolated
    if arch == "finger":  # only the middle finger (joints 4-7) may change
        assert torch.allclose(before[:, [0, 1, 2, 3, 8, 15]], after[:, [0, 1, 2, 3, 8, 15]])


@pytest.mark.parametrize("arch", ["joint", "shared", "finger", "whole"])
def test_numpy_evaluation_equals_the_torch_model(arch):
    """The gap meter's numpy path: the same next positions as the torch model, each joint's own
    normalisers included, within float32 rounding."""
    torch.manual_seed(4)
    model = DynamicsModel(arch, window=7).eval()
    model.q_norm.set(torch.linspace(-0.5, 0.5, 16), torch.linspace(0.2, 0.9, 16))
    model.a_norm.set(torch.linspace(0.3, -0.3, 16), torch.linspace(0.1, 0.6, 16))
    model.dq_norm.set(torch.linspace(-1e-3, 1e-3, 16), torch.linspace(0.01, 0.05, 16))
    fast = NumpyDynamics(model)
    for _ in range(5):
        q_hist, a_hist = torch.randn(1, 7, 16), torch.randn(1, 7, 16)
        with torch.no_grad():
            expected = model(q_hist, a_hist)[0].double().numpy()
        got = fast(q_hist[0].double().numpy(), a_hist[0].double().numpy())
        assert got.shape == (16,)
        assert np.abs(got - expected).max() < 1e-5
        assert np.abs(got - q_hist[0, -1].double().numpy()).max() > 1e-4  # it predicts motion


def test_no_hidden_layer_is_a_linear_model_per_joint(tmp_path):
    """hidden=() is an ARX model per joint: dq is affine in the joint's own history, and the
    bundle loads back as the same linear model (not the default hidden sizes)."""
    torch.manual_seed(5)
    model = DynamicsModel("joint", window=3, hidden=())
    assert len(model.net.weights) == 1 and model.net.weights[0].shape == (16, 6, 1)
    q_hist, a_hist = torch.randn(4, 3, 16), torch.randn(4, 3, 16)
    with torch.no_grad():
        doubled = model.predict_dq_normalised(2 * q_hist, 2 * a_hist)
        once = model.predict_dq_normalised(q_hist, a_hist)
        zero = model.predict_dq_normalised(0 * q_hist, 0 * a_hist)
    assert torch.allclose(doubled - zero, 2 * (once - zero), atol=1e-5)
    save_bundle(tmp_path / "linear", "dynamics", model.config(), model.state_dict())
    loaded = load_dynamics(tmp_path / "linear")
    assert loaded.hidden == () and torch.equal(loaded(q_hist, a_hist), model(q_hist, a_hist))


def test_bundle_round_trip_and_refusals(tmp_path):
    model = DynamicsModel("joint", window=6)
    model.q_norm.set(torch.arange(16.0), torch.full((16,), 2.0))
    save_bundle(tmp_path / "b", "dynamics", model.config(), model.state_dict())
    loaded = load_dynamics(tmp_path / "b")
    q_hist, a_hist = torch.randn(5, 6, 16), torch.randn(5, 6, 16)
    assert torch.equal(model(q_hist, a_hist), loaded(q_hist, a_hist))
    with pytest.raises(BundleError, match="is a 'dynamics' bundle, expected 'residual'"):
        load_bundle(tmp_path / "b", "residual")
    text = (tmp_path / "b" / "bundle.yaml").read_text().replace("- if_mcp\n- if_rot",
                                                                "- if_rot\n- if_mcp")
    (tmp_path / "b" / "bundle.yaml").write_text(text)
    with pytest.raises(BundleError, match="joint order"):
        load_bundle(tmp_path / "b", "dynamics")


def test_training_recovers_a_known_per_joint_linear_system(tmp_path):
    plant = sim_plant()
    write_shard(tmp_path / "data" / "train.npz", make_episodes(plant, 40, seed=3), "sim")
    result = train_dynamics(DynamicsTrainConfig(
        data=[str(tmp_path / "data")], out=str(tmp_path / "run"), arch="joint", window=4,
        epochs=8, batch_size=256, lr=2e-3, seed=0, device="cpu", progress=False))
    assert result["best_eval_mae_rad"] < 2e-3
    model = load_dynamics(tmp_path / "run" / "best")
    # fresh trajectories of the same system: predictions match the true dynamics
    test = make_episodes(plant, 5, seed=99)
    q = torch.from_numpy(np.stack([e.q[100:104] for e in test]))
    a = torch.from_numpy(np.stack([e.a[100:104] for e in test]))
    truth = plant.next_state(q.numpy(), a.numpy())
    predicted = model(q, a).detach().numpy()
    assert np.abs(predicted - truth).max() < 1e-2
    assert np.sqrt(np.mean((predicted - truth) ** 2)) < 3e-3
    # the run saved its config, commit and data fingerprint
    info = load_bundle(tmp_path / "run" / "best", "dynamics").info
    assert info["data_fingerprint"].startswith("sha256:") and info["git_commit"]
    assert info["training"]["arch"] == "joint" and len(info["eval_episodes"]) == 4
    assert (tmp_path / "run" / "tb").is_dir() and (tmp_path / "run" / "run.yaml").is_file()


def test_training_is_reproducible_with_a_seed(tmp_path):
    write_shard(tmp_path / "d.npz", make_episodes(sim_plant(), 6, steps=60, seed=4), "sim")
    results = [train_dynamics(DynamicsTrainConfig(
        data=[str(tmp_path / "d.npz")], out=str(tmp_path / f"r{k}"), arch="finger", window=4,
        epochs=2, batch_size=64, seed=7, device="cpu", progress=False)) for k in range(2)]
    assert results[0]["history"][-1]["train_loss"] == results[1]["history"][-1]["train_loss"]
