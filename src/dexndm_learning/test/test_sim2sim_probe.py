"""scripts/sim2sim_probe.py: the replay starts where the rollout started and, under the same
profile without noise, reproduces it exactly (open-loop targets, deterministic physics)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from dexndm_control.transitions import read_shard

ROOT = Path(__file__).resolve().parents[3]


def test_noise_free_replay_under_the_same_profile_reproduces_the_rollout(tmp_path):
    env = {"DEXNDM_CACHE": os.environ["DEXNDM_CACHE"], "PATH": str(Path(sys.executable).parent)}
    subprocess.run([sys.executable, str(ROOT / "scripts" / "sim2sim_probe.py"), "--out",
                    str(tmp_path / "probe"), "--gap", "nominal", "--envs", "3",
                    "--noise-probability", "0"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    sim = {e.meta["env"]: e for e in read_shard(tmp_path / "probe/sim/rollout.npz").episodes}
    real = read_shard(tmp_path / "probe/real/replay.npz")
    assert real.source == "real" and len(real.episodes) == len(sim) >= 2
    for episode in real.episodes:
        rollout = sim[episode.meta["env"]]
        assert np.array_equal(episode.a, rollout.a) and np.array_equal(episode.q, rollout.q)
        assert episode.meta["axis"] == rollout.meta["axis"]


def test_the_known_answer_profile_is_nominal_with_half_the_gain_and_damping():
    from dataclasses import replace

    from dexndm_sim.profiles import get_profile, nominal

    profile = get_profile(str(ROOT / "config" / "profiles" / "nominal_half_gain.yaml"))
    assert profile == replace(nominal(), name="nominal_half_gain", kp=(1.5,) * 16,
                              kd=(0.05,) * 16)


def test_the_twin_is_exact_under_the_same_profile_and_moved_by_a_correction(tmp_path):
    """scripts/twin_objective.py: a `nominal` twin set to the nominal hand's state lands exactly
    on its next state (0 mrad); a correction moves it away (G = 1 of base - q, > 1 mrad)."""
    env = {"DEXNDM_CACHE": os.environ["DEXNDM_CACHE"], "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "twin_objective.py"),
                             "--gap", "nominal", "--gains", "0", "1", "--envs", "3",
                             "--steps", "15"], cwd=ROOT, env=env, check=True,
                            capture_output=True, text=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["steps"] >= 30
    assert report["results"]["G=0"]["mismatch_mrad"] == 0.0
    assert report["results"]["G=1"]["mismatch_mrad"] > 1.0
