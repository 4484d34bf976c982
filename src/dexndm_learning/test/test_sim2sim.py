"""`dexndm experiment sim2sim --quick`: every stage's outputs and a table with every row."""

import json
from pathlib import Path

import numpy as np
import pytest

from dexndm_control.errors import DexndmError
from dexndm_control.trajectory_library import load_library
from dexndm_control.transitions import read_shard
from dexndm_learning.sim2sim import ABLATIONS, ARCHITECTURES, Sim2Sim, load_config
from dexndm_learning.sim2sim_report import summarise

QUICK = Path(__file__).resolve().parents[3] / "config" / "experiments" / "sim2sim_quick.yaml"


def test_quick_experiment_produces_every_stage_and_row(tmp_path):
    config = load_config(QUICK)
    messages: list[str] = []
    report = Sim2Sim(config, tmp_path).run(progress=messages.append)

    library = load_library(tmp_path / "sim" / "library.npz")
    rollouts = read_shard(tmp_path / "sim" / "shards" / "rollout.npz").episodes
    survivors = [e for e in rollouts if len(e.a) == 400]
    # the library holds the episodes that kept the object (the paper's rule), whole
    assert report["data"]["sim"]["survived"] == len(survivors) == len(library) > 0
    assert library.actions.shape[1:] == (400, 16)
    assert np.array_equal(library.actions, np.stack([e.a for e in survivors]))
    for wrist in config.chaos_wrists:
        chaos = [e for s in (tmp_path / "chaos" / wrist).glob("*.npz")
                 for e in read_shard(s).episodes]
        assert len(chaos) == config.chaos_episodes // 2
        assert all(len(e.a) == config.chaos_steps for e in chaos)
        assert all(e.meta["trajectory_id"].startswith("library:") for e in chaos)
    waves = [e for s in (tmp_path / "waves").rglob("*.npz") for e in read_shard(s).episodes]
    assert len(waves) == config.wave_episodes
    assert all(e.meta["trajectory_id"].startswith("wave:") for e in waves)
    for sigma in config.sigma_ablation:
        noisy = [e for s in (tmp_path / "sigma" / f"sigma_{sigma:g}").rglob("*.npz")
                 for e in read_shard(s).episodes]
        assert len(noisy) == config.chaos_episodes
    variants = (*ARCHITECTURES, *ABLATIONS, *(f"joint_sigma_{s:g}" for s in config.sigma_ablation))
    for name in variants:
        assert (tmp_path / "dynamics" / name / "best" / "bundle.yaml").is_file()
        for seed in config.residual_seeds:
            assert (tmp_path / "residual" / name / f"seed_{seed}" / "best" / "bundle.yaml"
                    ).is_file()
        entry = report["dynamics"][name]
        assert 0 < entry["chaos_mae_rad"] < 0.5 and 0 < entry["ood_mae_rad"] < 0.5
        assert 0 < entry["ood_open_loop_mae_rad"] < 1.0
        assert entry["ood_is_training_data"] == (name == "joint_task_ceiling")
    rows = report["rows"]
    assert set(rows) == {"no_gap", "direct", "direct_test_base_policy",
                         *(f"dexndm_{name}" for name in variants)}
    draws = len(config.residual_seeds)
    for name, row in rows.items():  # residual rows pool one evaluation per training seed
        pooled = draws if name.startswith("dexndm_") else 1
        assert row["episodes"] == config.eval_episodes * pooled
        assert len(row["draw_radians"]) == pooled
        assert np.isclose(np.mean(row["draw_radians"]), row["radians"][0])
        assert len(row["radians_per_episode"]) == row["episodes"]
        assert np.isclose(np.mean(row["radians_per_episode"]), row["radians"][0])
    assert rows["direct"]["paired_vs_direct"] == [0.0, 0.0]
    assert rows["direct_test_base_policy"]["base"] == "policies/test_base_policy"
    assert rows["direct"]["base"] == rows["dexndm_joint"]["base"] == config.base
    curves = report["efficiency"]["ood_mae_rad"]
    assert set(curves) == {"joint", "whole"}
    assert all(set(c) == {"3", str(config.chaos_episodes)} for c in curves.values())
    for picture in (tmp_path / "rotation.png", tmp_path / "efficiency" / "efficiency.png"):
        assert picture.read_bytes().startswith(b"\x89PNG")
    assert rows["no_gap"]["profile"] == "nominal" and rows["direct"]["profile"] == "real"
    assert rows["direct"]["ratio_to_direct"] == 1.0
    for row in rows.values():  # torque at the cap: some under `real`'s 550 mA, a share
        assert len(row["saturation_per_joint"]) == 16 and 0 <= row["saturation"] <= 1
    assert rows["direct"]["saturation"] > 0
    table = (tmp_path / "report.md").read_text()
    assert all(f"| {name} |" in table for name in rows)
    assert json.loads((tmp_path / "report.json").read_text())["rows"] == rows

    messages.clear()  # nothing changed: every stage is skipped, the report is the same
    again = Sim2Sim(config, tmp_path).run(progress=messages.append)
    assert all("skipped" in m for m in messages) and again["rows"] == rows


def test_gap_closed_and_ratio_are_computed_from_the_direct_and_ceiling_rows():
    def row(rotation):
        return {"radians": [rotation, 1.0]}
    rows = summarise({"no_gap": row(10.0), "direct": row(4.0), "dexndm_joint": row(7.0)})
    assert np.isclose(rows["dexndm_joint"]["gap_closed"], 0.5)
    assert np.isclose(rows["dexndm_joint"]["ratio_to_direct"], 1.75)
    assert np.isclose(rows["no_gap"]["gap_closed"], 1.0) and rows["direct"]["gap_closed"] == 0.0
    assert "paired_vs_direct" not in rows["dexndm_joint"]  # rows of runs before per-episode


def test_paired_difference_to_direct_averages_a_rows_draws_per_start():
    direct = {"radians": [2.0, 1.0], "radians_per_episode": [1.0, 2.0, 3.0]}
    # two residual draws on the same three starts: per start (2, 4, 3) and (4, 2, 5) -> 3, 3, 4
    residual = {"radians": [10 / 3, 1.0], "radians_per_episode": [2.0, 4.0, 3.0, 4.0, 2.0, 5.0]}
    rows = summarise({"no_gap": {"radians": [5.0, 1.0]}, "direct": direct,
                      "dexndm_joint": residual})
    # differences 2, 1, 1: mean 4/3, sample std sqrt(1/3), standard error sqrt(1/3) / sqrt(3)
    mean, error = rows["dexndm_joint"]["paired_vs_direct"]
    assert np.isclose(mean, 4 / 3) and np.isclose(error, 1 / 3)
    assert "paired_vs_direct" not in rows["no_gap"]


HALF_KP = QUICK.parents[1] / "profiles" / "nominal_half_kp.yaml"


def test_the_training_profile_drives_the_sim_stage_and_the_ceiling_row(tmp_path):
    """The autotune rows' experiment: the base's episodes (the residual's targets, the chaos
    box's trajectories) come from the profile it was trained in, not from `nominal`; a nominal
    experiment keeps the digests of the experiments run before the setting existed."""
    nominal = load_config(QUICK, sim_episodes=2)
    half_kp = load_config(QUICK, sim_episodes=2, train_profile=str(HALF_KP))
    stages = {}
    for name, config in (("nominal", nominal), ("half_kp", half_kp)):
        experiment = Sim2Sim(config, tmp_path / name)
        stages[name] = {stage.name: stage for stage in experiment.stages()}
        experiment._sim(tmp_path / name, {})
    # what goes into the stage digests
    assert "train_profile" not in stages["nominal"]["sim"].settings
    assert "train_profile" not in stages["nominal"]["evaluate"].settings
    assert stages["half_kp"]["sim"].settings["train_profile"] == str(HALF_KP)
    assert stages["half_kp"]["evaluate"].settings["train_profile"] == str(HALF_KP)
    shards = {name: read_shard(tmp_path / name / "shards" / "rollout.npz")
              for name in ("nominal", "half_kp")}
    assert shards["nominal"].source == "sim:nominal"
    assert shards["half_kp"].source == f"sim:{HALF_KP}"
    first = [shards[name].episodes[0] for name in ("nominal", "half_kp")]
    # the same grasp (settled under each profile) and nearly the same first target; half the
    # gain moves the joints less on the first step
    assert np.abs(first[0].q[0] - first[1].q[0]).max() < 0.01
    assert np.abs(first[0].a[0] - first[1].a[0]).max() < 0.02
    step = [np.abs(e.q[1] - e.q[0]).sum() for e in first]
    assert step[1] < 0.8 * step[0], step
    with pytest.raises(DexndmError, match="nominl"):
        Sim2Sim(load_config(QUICK, train_profile="nominl"), tmp_path / "bad")
    with pytest.raises(DexndmError, match="no_such_bundle"):
        Sim2Sim(load_config(QUICK, other_bases=["policies/no_such_bundle"]), tmp_path / "bad")
    with pytest.raises(DexndmError, match="different names"):
        Sim2Sim(load_config(QUICK, other_bases=["policies/reference_student",
                                                      "./policies/reference_student"]),
                tmp_path / "bad")


@pytest.mark.parametrize("path", sorted(QUICK.parent.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_experiment_configuration_loads(path):
    """Each configuration docs/sim2sim.md reruns loads and points at bundles and checkpoints
    that ship, or at a run's output that a script the file names writes (the autotune base)."""
    config = load_config(path)  # unknown keys or invalid values raise
    assert config.eval_episodes >= 2 and "joint" in config.architectures
    repo = QUICK.parents[2]
    for bundle in (config.base, *config.other_bases):
        if bundle.startswith("runs/"):
            assert "written by scripts/" in path.read_text(), bundle
        else:
            assert (repo / bundle / "bundle.yaml").is_file(), bundle
    assert (repo / config.environment).is_file(), config.environment
