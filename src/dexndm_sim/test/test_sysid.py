"""System identification recovers what it can see, and `dexndm sysid` writes a usable profile."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from dexndm_control.transitions import Episode, write_shard
from dexndm_sim.commands import SysidConfig, run_sysid
from dexndm_sim.profiles import get_profile, nominal
from dexndm_sim.sysid import (
    PARAMETERS,
    Replayer,
    SysidError,
    load_recordings,
    probing_targets,
    profile_values,
    rms_per_joint,
    search,
    simulate_recordings,
    split_recordings,
)
from dexndm_sim.wrist import CANONICAL

WRISTS = [CANONICAL[w] for w in ("palm_up", "palm_down", "base_up", "thumb_up")]
# measured with this test's budget (12 least-squares iterations on 6 x 100 recorded steps):
# 0.083 and 0.037. With 60 steps per recording kp was not fixed on every joint and the result
# depended on the machine (0.135 on one host, 0.267 on another, the same code)
KP_TOLERANCE, LIMIT_TOLERANCE = 0.25, 0.15
# the firmware-law model (8 least-squares iterations on 6 x 60 steps); measured: 0.041, 0.009
FIRMWARE_KP_TOLERANCE, FIRMWARE_LIMIT_TOLERANCE = 0.1, 0.05


def _truth():
    """A hand inside the search's parameter set: stiffer gains, a lower torque cap, one step
    of latency (what a search with a small budget must find)."""
    base = nominal()
    return replace(base, kp=tuple(np.asarray(base.kp) * 1.6), torque_limit=(0.3,) * 16,
                   latency_steps=1)


# ~2 min on 2 cores: `-m slow`. The default run keeps the firmware-law recovery below (the law
# the `real` stand-in was identified in) and the cheap search-budget and command tests.
@pytest.mark.slow
def test_search_recovers_latency_gains_and_torque_limit_of_a_known_hand():
    truth = _truth()
    recordings = simulate_recordings(truth, probing_targets(8, 100, seed=1),
                                     [WRISTS[i % 4] for i in range(8)])
    fit, held = split_recordings(recordings, 0.25, seed=0)
    replayer = Replayer(nominal(), population=32)
    try:
        result = search(replayer, fit, random_generations=2, refine_generations=12, seed=0)
        base = rms_per_joint(replayer, profile_values(nominal(), replayer), held).mean()
        found = rms_per_joint(replayer, result.best, held).mean()
    finally:
        replayer.close()
    assert result.best.latency == 1
    assert found < base / 10, (base, found)
    kp = result.best.values[:, PARAMETERS.index("kp")]
    limit = result.best.values[:, PARAMETERS.index("torque_limit")]
    assert np.median(np.abs(kp / np.asarray(truth.kp) - 1)) < KP_TOLERANCE
    assert np.median(np.abs(limit / 0.3 - 1)) < LIMIT_TOLERANCE
    assert np.allclose(result.best.values[:, PARAMETERS.index("armature")], nominal().armature)
    assert result.history[0]["stage"] == "random" and result.history[-1]["stage"] == \
        "least_squares"


def test_cma_and_random_refinement_run_on_the_same_budget():
    recordings = simulate_recordings(_truth(), probing_targets(3, 30, seed=4), WRISTS[:3])
    replayer = Replayer(nominal(), population=8)
    try:
        runs = {refine: search(replayer, recordings, 1, 2, refine, seed=0, grouping="joint")
                for refine in ("cma", "random")}
    finally:
        replayer.close()
    for refine, run in runs.items():
        # random, delay scan, 2 refinements, the final check of the assembled set: each steps
        # the whole batch of 8
        assert run.evaluations == 8 * 5, refine
        assert [h["stage"] for h in run.history] == ["random", "delay", refine, refine]
        assert run.history[-1]["best_total_mse"] <= run.history[0]["best_total_mse"]


def test_sysid_command_writes_a_profile_every_command_accepts(tmp_path):
    recordings = simulate_recordings(get_profile("real"), probing_targets(4, 40, seed=2),
                                     WRISTS[:2] * 2)
    episodes = [Episode(r.q, r.a, np.arange(len(r.q)) * 0.05,
                        {"wrist_label": "palm_up" if i % 2 == 0 else "palm_down"})
                for i, r in enumerate(recordings)]
    write_shard(tmp_path / "shards" / "probe.npz", episodes, source="sim")
    out = tmp_path / "identified.yaml"
    report = run_sysid(SysidConfig(data=(str(tmp_path / "shards"),), out=str(out),
                                   population=32, random_generations=1, refine_generations=2,
                                   max_steps=30, progress=False))
    profile = get_profile(str(out))
    assert profile.name == "identified" and profile.actuation == "position"
    assert profile.latency_steps == report["latency_steps"]
    saved = json.loads((tmp_path / "identified" / "report.json").read_text())
    assert saved["recordings"] == {"search": 3, "held_out": 1}
    assert set(saved["held_out_rms_rad"]["identified"]) == set(saved["search_mse_per_joint"])
    assert (tmp_path / "identified" / "traces.png").stat().st_size > 10_000
    # the identified profile drives the environment like a built-in one
    from dexndm_sim.profile_gap import tracking_gap

    gap = tracking_gap(recordings[0].a[:20], recordings[0].q[0], "nominal", str(out))
    assert gap["mean_rms_rad"] > 0


def test_recordings_are_refused_with_the_fix(tmp_path):
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    with pytest.raises(SysidError, match="dexndm dataset build"):
        load_recordings([str(bag)], 100)
    write_shard(tmp_path / "s.npz", [Episode(np.zeros((3, 16)), np.zeros((2, 16)),
                                             np.arange(3) * 0.05, {"wrist_label": "random"})],
                source="sim")
    with pytest.raises(SysidError, match="pass --wrist"):
        load_recordings([str(tmp_path / "s.npz")], 100)
    assert len(load_recordings([str(tmp_path / "s.npz")], 100, wrist="palm_up")) == 1


def test_the_shipped_identified_profile_loads_and_tracks_the_stand_in():
    """config/profiles/real_standin_identified.yaml (benchmarks/sysid.py --save-profile) tracks
    the `real` stand-in's open-loop motion far closer than `nominal` does (measured: 1.6 vs 15.6
    mrad RMS on a probing trajectory it was not identified from)."""
    from pathlib import Path

    from dexndm_sim.profile_gap import tracking_gap

    path = Path(__file__).resolve().parents[3] / "config/profiles/real_standin_identified.yaml"
    profile = get_profile(str(path))
    assert profile.actuation == "position" and profile.latency_steps == 1
    targets = probing_targets(1, 80, seed=7)[0]
    identified = tracking_gap(targets, targets[0], "real", str(path))["mean_rms_rad"]
    untuned = tracking_gap(targets, targets[0], "real", "nominal")["mean_rms_rad"]
    assert identified < untuned / 5, (identified, untuned)


def test_search_in_the_firmware_law_recovers_the_register_gains():
    """With the XC330 law as the model (quantised readings, backlash: real:effects=false), the
    search finds the gains and cap of a hand whose law has exactly that structure, starting
    from Table 16 without the per-joint spread (the truth has it)."""
    truth = get_profile("real:effects=false")  # spread seed 0, one step of latency
    base = get_profile("real:effects=false,spread_seed=null")
    recordings = simulate_recordings(truth, probing_targets(6, 60, seed=2),
                                     [WRISTS[i % 4] for i in range(6)])
    replayer = Replayer(base, population=32)
    try:
        assert replayer.batch.profile.actuation == "xc330"
        result = search(replayer, recordings, random_generations=1, refine_generations=8,
                        seed=0)
        start = rms_per_joint(replayer, profile_values(base, replayer), recordings).mean()
        found = rms_per_joint(replayer, result.best, recordings).mean()
    finally:
        replayer.close()
    assert result.best.latency == 1
    assert found < start / 10, (start, found)  # measured: 11.8 -> 0.42 mrad
    kp = result.best.values[:, PARAMETERS.index("kp")]
    limit = result.best.values[:, PARAMETERS.index("torque_limit")]
    assert np.median(np.abs(kp / np.asarray(truth.kp) - 1)) < FIRMWARE_KP_TOLERANCE
    assert np.median(np.abs(limit / np.asarray(truth.torque_limit) - 1)) < \
        FIRMWARE_LIMIT_TOLERANCE
