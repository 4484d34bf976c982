"""A 2-process CPU (gloo) DDP run under torchrun follows the 1-process run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from conftest import Processes
from dexndm_control.policy.bundle import load_bundle
from dexndm_control.transitions import write_shard
from dexndm_learning.synthetic import make_episodes, sim_plant

# each run takes ~10 s alone and stays under a minute in a loaded full-suite run; a run past
# this is hung, and failing it here (stacks shown, ranks killed) beats pytest-timeout's 300 s
RUN_TIMEOUT_S = 120


def _run(processes: Processes, arguments: list[str], ranks: int
         ) -> subprocess.CompletedProcess:
    command = ["-m", "dexndm_learning.cli", "train", *arguments, "--device", "cpu",
               "--no-progress"]
    if ranks > 1:
        command = ["-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={ranks}", *command]
    return processes.run([sys.executable, *command], RUN_TIMEOUT_S,
                         {**os.environ, "OMP_NUM_THREADS": "1"})


def _one_and_two_processes(processes: Processes, tmp_path, kind: str, arguments: list[str]
                           ) -> tuple[dict, dict]:
    for out, ranks in (("single", 1), ("ddp", 2)):
        result = _run(processes, [*arguments, "--out", str(tmp_path / kind / out)], ranks)
        # a rank's own words come first in stderr, torchrun's summary last
        assert result.returncode == 0, result.stderr[:1500] + " ... " + result.stderr[-800:]
    assert "world_size: 2" in (tmp_path / kind / "ddp" / "run.yaml").read_text()
    return (load_bundle(tmp_path / kind / "single" / "last", kind).state_dict,
            load_bundle(tmp_path / kind / "ddp" / "last", kind).state_dict)


def _assert_same_training(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-4, worst
    assert any((a[k] != 0).any() for k in a)


def _data(tmp_path) -> list[str]:
    write_shard(tmp_path / "data" / "d.npz", make_episodes(sim_plant(), 10, steps=120, seed=5),
                "sim")
    return ["--data", str(tmp_path / "data")]


DYNAMICS = ["dynamics", "--arch", "joint", "--window", "4", "--epochs", "2", "--batch-size",
            "128"]


def test_two_process_gloo_matches_one_process(tmp_path, processes):
    a, b = _one_and_two_processes(processes, tmp_path, "dynamics",
                                  [*DYNAMICS, *_data(tmp_path)])
    _assert_same_training(a, b)
    assert torch.equal(a["q_norm.mean"], b["q_norm.mean"])  # same data statistics


# ~40 s more of process starts: `-m slow`. The loop and its rank handling are the one the
# dynamics test above runs; this checks that the residual and BC commands hand it their ranks
@pytest.mark.slow
def test_residual_and_bc_under_two_processes_match_one_process(tmp_path, processes):
    data = _data(tmp_path)
    dynamics = _run(processes, [*DYNAMICS, *data, "--out", str(tmp_path / "dynamics")], 1)
    assert dynamics.returncode == 0, dynamics.stderr[-1500:]
    _assert_same_training(*_one_and_two_processes(processes, tmp_path, "residual", [
        "residual", "--dynamics", str(tmp_path / "dynamics" / "best"), *data, "--history", "4",
        "--hidden", "32", "32", "--epochs", "2", "--batch-size", "128", "--scale", "0.2"]))
    _assert_same_training(*_one_and_two_processes(processes, tmp_path, "base_policy", [
        "bc", *data, "--history", "4", "--width", "64", "--blocks", "1", "--epochs", "2",
        "--batch-size", "128"]))
