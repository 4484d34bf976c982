"""`dexndm average`: a weighted average of base policies fine-tuned from one start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import load_bundle, save_bundle
from dexndm_control.policy.precision import convert_base_bundle
from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_learning.weight_average import AverageConfig, average_bundles

START = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"
_SOURCE_ONLY = ("format", "version", "kind", "joint_names", "config", "created", "git_commit")


def _fine_tuned(out: Path, shift: float, source: Path = START, **changes) -> Path:
    """``source`` with every weight moved by ``shift`` (its normaliser kept, as distillation
    keeps it), saved as a bundle."""
    bundle = load_bundle(source, "base_policy")
    state = {name: value.clone() if name.startswith("obs_norm.") else value + shift
             for name, value in bundle.state_dict.items()}
    info = {k: v for k, v in bundle.info.items() if k not in _SOURCE_ONLY}
    save_bundle(out, "base_policy", {**bundle.config, **changes.pop("config", {})}, state,
                {**info, **changes})
    return out


def test_the_average_is_the_weighted_sum_and_runs_in_the_controller(tmp_path):
    up, down = _fine_tuned(tmp_path / "up", 0.01), _fine_tuned(tmp_path / "down", -0.03)
    result = average_bundles(AverageConfig(bundles=(str(up), str(down)), weights=(3.0, 1.0),
                                           out=str(tmp_path / "avg")))
    assert [s["weight"] for s in result["averaged_from"]] == [0.75, 0.25]
    start = load_bundle(START, "base_policy").state_dict
    averaged = load_bundle(tmp_path / "avg", "base_policy")
    for name, value in start.items():
        # 0.75 * (w + 0.01) + 0.25 * (w - 0.03) = w: the two shifts cancel by hand
        assert torch.allclose(averaged.state_dict[name], value, atol=1e-6), name
    assert averaged.info["averaged_from"][1]["bundle"] == str(down)
    assert averaged.start_pose == load_bundle(START, "base_policy").start_pose
    assert "metrics" not in averaged.info and "training" not in averaged.info
    obs = torch.zeros(1, 327)
    runtime = PolicyRuntime(tmp_path / "avg", max_step=1.0)
    reference = PolicyRuntime(START, max_step=1.0)
    with torch.no_grad():
        assert torch.allclose(runtime.base(obs), reference.base(obs), atol=1e-5)
    # equal weights by default; an end on its own gives that end back
    average_bundles(AverageConfig(bundles=(str(up), str(down)), weights=(1.0, 0.0),
                                  out=str(tmp_path / "end")))
    end = load_bundle(tmp_path / "end", "base_policy").state_dict
    assert all(torch.equal(end[k], v) for k, v in load_bundle(up, "base_policy")
               .state_dict.items())
    assert AverageConfig(bundles=("a", "b", "c"), out="x").normalised_weights() == [1 / 3] * 3
    # --overwrite replaces a bundle whole: nothing of the old one stays beside the new
    (tmp_path / "end" / "training_state.pt").write_bytes(b"stale")
    average_bundles(AverageConfig(bundles=(str(up), str(down)), out=str(tmp_path / "end"),
                                  overwrite=True))
    assert sorted(p.name for p in (tmp_path / "end").iterdir()) == ["bundle.yaml", "weights.pt"]


def test_an_fp16_bundle_is_averaged_as_the_float32_values_it_runs_as(tmp_path):
    # a shipped bundle is stored fp16; a network fine-tuned from it averages with it as the
    # float32 network the controller runs, and the average is written fp32 (not a copy of the
    # source's precision records)
    up = _fine_tuned(tmp_path / "up", 0.01)
    convert_base_bundle(up, tmp_path / "up16", "fp16_weights", samples=8)
    down = _fine_tuned(tmp_path / "down", -0.03)
    average_bundles(AverageConfig(bundles=(str(tmp_path / "up16"), str(down)), weights=(3.0, 1.0),
                                  out=str(tmp_path / "avg")))
    stored = load_bundle(tmp_path / "up16", "base_policy").state_dict
    averaged = load_bundle(tmp_path / "avg", "base_policy")
    assert "precision" not in averaged.info and "precision_check" not in averaged.info
    down_state = load_bundle(down, "base_policy").state_dict
    for name, value in averaged.state_dict.items():
        assert value.dtype == torch.float32, name
        if name.startswith("obs_norm."):
            assert torch.equal(value, stored[name]), name
        else:
            expected = 0.75 * stored[name].double() + 0.25 * down_state[name].double()
            assert torch.allclose(value.double(), expected, atol=1e-7), name
    assert any(v.dtype == torch.float16 for v in stored.values())


def test_what_cannot_be_averaged_is_refused_by_name(tmp_path):
    up = _fine_tuned(tmp_path / "up", 0.01)
    other_norm = tmp_path / "other_norm"
    _fine_tuned(other_norm, 0.0)
    bundle = load_bundle(other_norm, "base_policy")
    bundle.state_dict["obs_norm.mean"] += 1.0
    save_bundle(other_norm, "base_policy", bundle.config, bundle.state_dict,
                {k: v for k, v in bundle.info.items() if k not in _SOURCE_ONLY})
    with pytest.raises(DexndmError, match="observation normaliser differs"):
        average_bundles(AverageConfig(bundles=(str(up), str(other_norm)), out=str(tmp_path / "a")))
    other_scale = _fine_tuned(tmp_path / "scale", 0.0, action_scale=0.5)
    with pytest.raises(DexndmError, match="another action_scale"):
        average_bundles(AverageConfig(bundles=(str(up), str(other_scale)), out=str(tmp_path / "b")))
    convert_base_bundle(up, tmp_path / "int8", "int8_dynamic", samples=8)
    with pytest.raises(DexndmError, match="int8_dynamic weights: average the fp32 bundles"):
        average_bundles(AverageConfig(bundles=(str(up), str(tmp_path / "int8")),
                                      out=str(tmp_path / "c")))
    with pytest.raises(DexndmError, match="exists"):
        average_bundles(AverageConfig(bundles=(str(up), str(up)), out=str(other_norm)))
    (tmp_path / "not_a_bundle").mkdir()
    (tmp_path / "not_a_bundle" / "keep.txt").write_text("mine")
    with pytest.raises(DexndmError, match="not a bundle"):
        average_bundles(AverageConfig(bundles=(str(up), str(up)),
                                      out=str(tmp_path / "not_a_bundle"), overwrite=True))
    assert (tmp_path / "not_a_bundle" / "keep.txt").read_text() == "mine"
    with pytest.raises(DexndmError, match="gives 1 weights for 2 bundles"):
        AverageConfig(bundles=("a", "b"), weights=(1.0,), out="x")
    with pytest.raises(DexndmError, match="positive sum"):
        AverageConfig(bundles=("a", "b"), weights=(0.0, 0.0), out="x")
    with pytest.raises(DexndmError, match="at least two"):
        AverageConfig(bundles=("a",), out="x")
    assert not any((tmp_path / name).exists() for name in "abc")


def _fine_tuning_checkpoint(run: Path, iteration: int, shift: float) -> Path:
    """model_N.pt of a `train ppo --generalist` run from START: its actor is START's network
    (under the fine-tune's prefix) with every weight moved by ``shift``."""
    run.mkdir(exist_ok=True)
    (run / "run.yaml").write_text(yaml.safe_dump({"config": {"generalist": str(START)}}))
    start = load_bundle(START, "base_policy").state_dict
    actor = {f"mlp.network.{name}": value.clone() if name.startswith("obs_norm.") else
             value + shift for name, value in start.items()}
    actor["distribution.std_param"] = torch.full((16,), 0.03)
    torch.save({"actor_state_dict": actor, "iter": iteration}, run / f"model_{iteration}.pt")
    return run / f"model_{iteration}.pt"


def test_checkpoints_of_a_generalist_fine_tune_are_averaged_as_their_actors(tmp_path):
    early = _fine_tuning_checkpoint(tmp_path / "ft", 5, 0.02)
    late = _fine_tuning_checkpoint(tmp_path / "ft", 10, -0.02)
    bundle = _fine_tuned(tmp_path / "bundle", 0.03)
    result = average_bundles(AverageConfig(bundles=(str(early), str(late), str(bundle)),
                                           weights=(1.0, 2.0, 1.0), out=str(tmp_path / "swa")))
    assert [s["bundle"] for s in result["averaged_from"]] == [str(early), str(late), str(bundle)]
    averaged = load_bundle(tmp_path / "swa", "base_policy")
    start = load_bundle(START, "base_policy")
    for name, value in start.state_dict.items():
        # (0.02 - 2 * 0.02 + 0.03) / 4 = 0.0025 by hand; the normaliser is START's
        shift = 0.0 if name.startswith("obs_norm.") else 0.0025
        assert torch.allclose(averaged.state_dict[name], value + shift, atol=1e-6), name
    assert averaged.start_pose == start.start_pose
    assert averaged.info["layout"] == start.info["layout"]
    assert "fine_tuning_checkpoint" not in averaged.info  # each source is in averaged_from
    oracle = tmp_path / "oracle"
    oracle.mkdir()
    torch.save({"actor_state_dict": {}}, oracle / "model_1.pt")
    with pytest.raises(DexndmError, match="not a checkpoint of a `train ppo --generalist` run"):
        average_bundles(AverageConfig(bundles=(str(early), str(oracle / "model_1.pt")),
                                      out=str(tmp_path / "refused")))
    assert not (tmp_path / "refused").exists()


def test_the_command_line_writes_the_average(tmp_path):
    up, down = _fine_tuned(tmp_path / "up", 0.01), _fine_tuned(tmp_path / "down", -0.01)
    done = subprocess.run([sys.executable, "-m", "dexndm_control.cli", "average", str(up),
                           str(down), "--out", str(tmp_path / "avg")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "avg" / "weights.pt").is_file()
    refused = subprocess.run([sys.executable, "-m", "dexndm_control.cli", "average", str(up),
                              "--out", str(tmp_path / "one")],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "at least two" in refused.stderr
    assert not (tmp_path / "one").exists()
