"""A 2-process CPU (gloo) DDP run under torchrun follows the 1-process run."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from dexndm_control.policy.bundle import load_bundle
from dexndm_control.transitions import write_shard
from dexndm_learning.synthetic import make_episodes, sim_plant


def _train(tmp_path, out: str, processes: int) -> subprocess.CompletedProcess:
    command = ["-m", "dexndm_learning.cli", "train", "dynamics", "--arch", "joint", "--data",
               str(tmp_path / "data"), "--out", str(tmp_path / out), "--window", "4",
               "--epochs", "2", "--batch-size", "128", "--device", "cpu", "--no-progress"]
    if processes > 1:
        command = ["-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={processes}", *command]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *command], capture_output=True, text=True,
                          timeout=300, env=env)


def test_two_process_gloo_matches_one_process(tmp_path):
    write_shard(tmp_path / "data" / "d.npz", make_episodes(sim_plant(), 10, steps=120, seed=5),
                "sim")
    single = _train(tmp_path, "single", 1)
    assert single.returncode == 0, single.stderr[-2000:]
    double = _train(tmp_path, "ddp", 2)
    assert double.returncode == 0, double.stderr[-2000:]
    a = load_bundle(tmp_path / "single" / "last", "dynamics").state_dict
    b = load_bundle(tmp_path / "ddp" / "last", "dynamics").state_dict
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-4, worst
    assert any((a[k] != 0).any() for k in a)
    assert torch.equal(a["q_norm.mean"], b["q_norm.mean"])  # same data statistics
    assert "world_size: 2" in (tmp_path / "ddp" / "run.yaml").read_text()
