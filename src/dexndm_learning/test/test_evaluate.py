"""`dexndm eval dynamics`: ID on each model's held-out episodes, OOD, table, JSON, PNGs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
