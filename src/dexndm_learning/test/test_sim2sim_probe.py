"""scripts/sim2sim_probe.py: the replay starts where the rollout started and, under the same
profile without noise, reproduces it exactly (open-loop targets, deterministic physics)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from dexndm_control.transitions import read_shard

ROOT = Path(__file__).resolve().parents[3]


def test_noise_free_replay_under_the_same_profile_reproduces_the_rollout(tmp_path):
    env = {"DEXNDM_CACHE": str(tmp_path / "cache"), "PATH": str(Path(sys.executable).parent)}
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
