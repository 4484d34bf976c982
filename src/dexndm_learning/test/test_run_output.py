"""A training run that cannot start leaves nothing behind, so the corrected retry runs."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import mujoco
import pytest
import torch
import yaml

from dexndm_control.policy.bundle import load_bundle
from dexndm_control.transitions import write_shard
from dexndm_learning.synthetic import make_episodes, sim_plant

DEXNDM = str(Path(sys.executable).parent / "dexndm")


def _dexndm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([DEXNDM, *args], capture_output=True, text=True, timeout=300,
                          env=None if env is None else {**os.environ, **env})


# Bit-equal floats across processes need deterministic arithmetic: one thread and MKL's
# conditional numerical reproducibility (its kernels may otherwise pick paths by alignment or
# thread split). One full CI run in several saw the resumed weights differ without it.
REPRODUCIBLE = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MKL_CBWR": "COMPATIBLE"}


@pytest.mark.parametrize("what, extra", [
    ("dynamics", ["--init", "no/such/bundle"]),
    ("bc", []),
    ("residual", ["--dynamics", "no/such/bundle"])])
def test_bad_inputs_leave_no_output_directory(tmp_path, what, extra):
    out = tmp_path / "out"
    result = _dexndm("train", what, "--data", str(tmp_path / "missing"), "--out", str(out),
                     "--epochs", "1", *extra)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("dexndm: error:") and not out.exists()


def test_the_corrected_retry_runs_after_a_failed_start(tmp_path):
    out = tmp_path / "out"
    failed = _dexndm("train", "dynamics", "--data", str(tmp_path / "data"), "--out", str(out))
    assert failed.returncode == 2 and not out.exists()
    write_shard(tmp_path / "data" / "s.npz", make_episodes(sim_plant(), 6, steps=40, seed=0),
                "sim")
    retry = _dexndm("train", "dynamics", "--data", str(tmp_path / "data"), "--out", str(out),
                    "--epochs", "1", "--window", "4", "--device", "cpu", "--no-progress")
    assert retry.returncode == 0, retry.stderr[-2000:]
    assert (out / "run.yaml").is_file() and (out / "best").is_dir()
    # where it ran: the commit, the libraries and the processor (chaotic episodes differ by CPU)
    record = yaml.safe_load((out / "run.yaml").read_text())
    assert record["mujoco"] == mujoco.__version__ and record["torch"] == str(torch.__version__)
    assert record["cpu"] and record["machine"] == platform.machine() and record["git_commit"]
    again = _dexndm("train", "dynamics", "--data", str(tmp_path / "data"), "--out", str(out))
    assert again.returncode == 2 and "exists and is not empty" in again.stderr


def test_resume_continues_the_same_optimisation_path(tmp_path):
    write_shard(tmp_path / "data" / "s.npz", make_episodes(sim_plant(), 8, steps=60, seed=1),
                "sim")
    common = ["--data", str(tmp_path / "data"), "--window", "4", "--batch-size", "64",
              "--device", "cpu", "--no-progress"]
    straight = _dexndm("train", "dynamics", *common, "--epochs", "3", "--out",
                       str(tmp_path / "straight"), env=REPRODUCIBLE)
    assert straight.returncode == 0, straight.stderr[-2000:]
    first = _dexndm("train", "dynamics", *common, "--epochs", "1", "--out",
                    str(tmp_path / "split"), env=REPRODUCIBLE)
    assert first.returncode == 0, first.stderr[-2000:]
    resumed = _dexndm("train", "dynamics", *common, "--epochs", "3", "--out",
                      str(tmp_path / "split"), "--resume", str(tmp_path / "split" / "last"),
                      env=REPRODUCIBLE)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = load_bundle(tmp_path / "straight" / "last", "dynamics")
    b = load_bundle(tmp_path / "split" / "last", "dynamics")
    for key, value in a.state_dict.items():  # epochs 2-3 after a restart: the same weights
        assert torch.equal(value, b.state_dict[key]), key
    assert b.info["metrics"]["epoch"] == 3
    missing = _dexndm("train", "dynamics", *common, "--out", str(tmp_path / "other"),
                      "--resume", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "training_state.pt" in missing.stderr
