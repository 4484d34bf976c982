"""A training run that cannot start leaves nothing behind, so the corrected retry runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dexndm_control.transitions import write_shard
from dexndm_learning.synthetic import make_episodes, sim_plant

DEXNDM = str(Path(sys.executable).parent / "dexndm")


def _dexndm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DEXNDM, *args], capture_output=True, text=True, timeout=300)


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
    again = _dexndm("train", "dynamics", "--data", str(tmp_path / "data"), "--out", str(out))
    assert again.returncode == 2 and "exists and is not empty" in again.stderr
