"""scripts/label_conflict_probe.py on a known answer: two categories whose observations
are the same and whose labels are opposite can only be told apart with the category appended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from dexndm_control.hand import ACTION_SCALE
from dexndm_control.transitions import INITIAL_TARGET, Episode, write_shard

ROOT = Path(__file__).resolve().parents[3]
STEP = 0.5  # |delta_a| of every label; a policy that cannot tell the categories apart errs by it


def _shards(directory: Path) -> Path:
    """One-step episodes from one rest pose: every observation is that pose held, the label
    +STEP for `alpha` objects and -STEP for `beta` ones."""
    pose = np.linspace(0.2, 0.8, 16, dtype=np.float32)
    episodes = []
    for index in range(96):
        sign, name = (1.0, "alpha_000") if index % 2 else (-1.0, "beta_000")
        episodes.append(Episode(np.stack([pose, pose]), (pose + sign * STEP * ACTION_SCALE)[None],
                                np.array([0.0, 0.05]),
                                {"object": name, "wrist_quat": [0.0, 1.0, 0.0, 0.0],
                                 "axis": [0.0, 0.0, -1.0], INITIAL_TARGET: pose.tolist()}))
    return write_shard(directory / "probe.npz", episodes, "sim")


def _probe(tmp_path: Path, name: str, *flags: str) -> dict:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    subprocess.run([sys.executable, str(ROOT / "scripts" / "label_conflict_probe.py"), "--data",
                    str(_shards(tmp_path / "data")), "--out", str(tmp_path / name), "--width",
                    "32", "--blocks", "1", "--epochs", "200", "--lr", "3e-3", *flags],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return json.loads((tmp_path / name / "probe.json").read_text())


def test_the_category_as_input_resolves_opposite_labels_on_alike_observations(tmp_path):
    blind = _probe(tmp_path, "blind")
    told = _probe(tmp_path, "told", "--identity")
    assert blind["train_windows"] == told["train_windows"] == 72  # 3 : 1 by episode, one each
    for category in ("alpha", "beta"):
        assert blind["held_out_mae"][category] > 0.9 * STEP, blind
        assert told["held_out_mae"][category] < 0.1 * STEP, told


def test_only_the_named_categories_are_trained_on(tmp_path):
    result = _probe(tmp_path, "alpha", "--categories", "alpha")
    assert result["trained_on"] == ["alpha"]
    assert result["train_windows"] == 36
    assert set(result["held_out_mae"]) == {"alpha", "beta"}


def test_a_category_the_data_does_not_hold_is_refused(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "label_conflict_probe.py"),
                          "--data", str(_shards(tmp_path / "data")), "--out",
                          str(tmp_path / "gamma"), "--categories", "gamma"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2
    assert "--categories gamma: not in the data, which holds alpha beta" in run.stderr
    assert not (tmp_path / "gamma").exists()
