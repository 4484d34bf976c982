"""`dexndm eval dynamics`: ID on each model's held-out episodes, OOD, table, JSON, PNGs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from dexndm_control.transitions import write_shard
from dexndm_learning.synthetic import make_episodes, real_plant

DEXNDM = str(Path(sys.executable).parent / "dexndm")


def test_eval_compares_checkpoints_in_and_out_of_distribution(tmp_path):
    write_shard(tmp_path / "chaos.npz", make_episodes(real_plant(), 10, steps=100, seed=1,
                                                      noise=0.03), "real")
    write_shard(tmp_path / "task.npz", make_episodes(real_plant(), 3, steps=100, seed=2), "real")
    for arch in ("joint", "whole"):
        done = subprocess.run([DEXNDM, "train", "dynamics", "--arch", arch, "--data",
                               str(tmp_path / "chaos.npz"), "--out", str(tmp_path / arch),
                               "--epochs", "3", "--batch-size", "128", "--no-progress"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-1500:]
    result = subprocess.run([DEXNDM, "eval", "dynamics", str(tmp_path / "joint" / "best"),
                             str(tmp_path / "whole" / "best"), "--data",
                             str(tmp_path / "chaos.npz"), "--ood", str(tmp_path / "task.npz"),
                             "--out", str(tmp_path / "eval")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-1500:]
    assert "out-of-distribution: mean absolute error" in result.stdout
    assert "th_ipl" in result.stdout
    report = json.loads((tmp_path / "eval" / "dynamics_eval.json").read_text())
    assert set(report) == {"joint", "whole"}
    for entry in report.values():
        assert len(entry["id_mae"]) == 16 and len(entry["ood_mae"]) == 16
        assert entry["id_source"] == "held-out episodes of training"
    for picture in ("per_joint_error.png", "traces.png"):
        data = (tmp_path / "eval" / picture).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_action_sensitivity_reads_each_target_of_the_window():
    """A plant that answers the previous target (one step of latency) and a little against the
    current one: d q_(t+1) / d a is 0.3 at a_(t-1), -0.1 at a_t, 0 elsewhere."""
    import torch

    from dexndm_control.transitions import Episode
    from dexndm_learning.data import Windows
    from dexndm_learning.dynamics.evaluate import action_sensitivity

    class LatePlant(torch.nn.Module):
        def forward(self, q_hist, a_hist):
            return q_hist[:, -1] + 0.3 * a_hist[:, -2] - 0.1 * a_hist[:, -1]

    rng = np.random.default_rng(0)
    episodes = [Episode(rng.normal(size=(41, 16)), rng.normal(size=(40, 16)),
                        np.arange(41) * 0.05) for _ in range(3)]
    sensitivity = action_sensitivity(LatePlant(), Windows(episodes, 10, 0.05))
    assert sensitivity.shape == (16, 10)
    assert np.allclose(sensitivity[:, -1], -0.1) and np.allclose(sensitivity[:, -2], 0.3)
    assert np.allclose(sensitivity[:, :-2], 0.0)


def test_open_loop_error_compounds_a_model_bias_and_vanishes_for_the_true_plant():
    import torch

    from dexndm_learning.dynamics.evaluate import open_loop_error
    from dexndm_learning.synthetic import sim_plant

    plant = sim_plant()

    class TruePlant(torch.nn.Module):
        window = 3

        def forward(self, q_hist, a_hist):
            alpha, beta = torch.tensor(plant.alpha), torch.tensor(plant.beta)
            q, q_prev = q_hist[:, -1], q_hist[:, -2]
            return q + alpha * (a_hist[:, -1] - q) + beta * (q - q_prev)

    class Biased(TruePlant):
        def forward(self, q_hist, a_hist):  # every prediction 1 mrad high
            return super().forward(q_hist, a_hist) + 0.001

    episodes = make_episodes(plant, 3, steps=60, seed=9)
    exact = open_loop_error(TruePlant(), episodes, 0.05, steps=10)
    assert exact.shape == (16,) and exact.max() < 1e-5
    # the bias re-enters through q_t and (1 + beta) q_t - beta q_(t-1), (1 - alpha) q_t:
    # e_(k+1) = (1 - alpha + beta) e_k - beta e_(k-1) + 0.001, with alpha 0.5, beta 0.3
    errors = [0.0, 0.0]
    for _ in range(10):
        errors.append(0.8 * errors[-1] - 0.3 * errors[-2] + 0.001)
    biased = open_loop_error(Biased(), episodes, 0.05, steps=10)
    assert np.allclose(biased, errors[-1], atol=1e-6), (biased[:3], errors[-1])
