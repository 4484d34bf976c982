"""`dexndm average` of an oracle teacher's checkpoints: a teacher checkpoint that acts as the
weighted sum of its sources' weights, continued with --init and refused by --resume."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dexndm_control.errors import DexndmError
from dexndm_learning.ppo.config import ppo_env
from dexndm_learning.ppo.specialist import Specialist
from dexndm_learning.ppo.storage import NETWORKS, _actor_output, store_checkpoint
from dexndm_learning.ppo.train import PPOTrainConfig, train_ppo
from dexndm_learning.weight_average import AverageConfig, average_bundles

TEST_BUNDLE = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"


def _config(out: Path, **settings) -> PPOTrainConfig:
    env = ppo_env("small_cylinders", num_envs=4, objects=("small_cylinders_000",),
                  grasps_per_object=2)
    return PPOTrainConfig(category="small_cylinders", out=str(out), env=env, steps_per_env=2,
                          **settings)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("teacher") / "run"
    train_ppo(_config(out, iterations=3, save_interval=1))
    return out


def _loaded(path: Path) -> dict:
    return torch.load(path, weights_only=False, map_location="cpu")


def test_the_average_is_the_weighted_sum_and_acts_as_a_teacher(run, tmp_path):
    first, last = run / "model_0.pt", run / "model_2.pt"
    result = average_bundles(AverageConfig(bundles=(str(first), str(last)), weights=(3.0, 1.0),
                                           out=str(tmp_path / "swa")))
    averaged = tmp_path / "swa" / "model_2.pt"  # named by the newest source's iteration
    assert result["out"] == str(averaged)
    sources = result["averaged_from"]
    assert [(s["weight"], s["iteration"]) for s in sources] == [(0.75, 0), (0.25, 2)]
    assert yaml.safe_load((tmp_path / "swa" / "averaged_from.yaml").read_text()) == {
        "averaged_from": sources}
    assert (tmp_path / "swa" / "env.yaml").read_text() == (run / "env.yaml").read_text()
    saved, a, b = _loaded(averaged), _loaded(first), _loaded(last)
    assert "optimizer_state_dict" not in saved and saved["iter"] == 2
    moved = 0.0
    for key in NETWORKS:
        for name, value in saved[key].items():
            expected = 0.75 * a[key][name] + 0.25 * b[key][name]
            assert value.dtype == torch.float32
            assert torch.allclose(value, expected, atol=1e-7), name
            moved = max(moved, float((a[key][name] - b[key][name]).abs().max()))
    assert moved > 1e-4  # two PPO updates moved the weights: the average is not a copy
    stored = store_checkpoint(averaged, tmp_path / "kept", "fp16")  # the record goes with it
    assert (tmp_path / "kept" / "averaged_from.yaml").read_text() == (
        tmp_path / "swa" / "averaged_from.yaml").read_text()
    assert stored["max_abs_action_difference"] < 0.01
    store_checkpoint(first, tmp_path / "kept")  # a plain checkpoint stored over it: no record
    assert not (tmp_path / "kept" / "averaged_from.yaml").exists()
    teacher = Specialist(averaged)
    try:
        observations = teacher.env.get_observations()
        expected = _actor_output(saved["actor_state_dict"], observations["policy"])
        assert torch.allclose(teacher.act(observations), expected, atol=1e-5)
    finally:
        teacher.close()


def test_an_average_continues_with_init_and_refuses_resume(run, tmp_path):
    average_bundles(AverageConfig(bundles=(str(run / "model_1.pt"), str(run / "model_2.pt")),
                                  out=str(tmp_path / "swa")))
    averaged = tmp_path / "swa" / "model_2.pt"
    with pytest.raises(DexndmError, match="no optimizer state .* with --init"):
        train_ppo(_config(tmp_path / "resumed", iterations=1, resume=str(averaged)))
    assert not (tmp_path / "resumed").exists()
    continued = train_ppo(_config(tmp_path / "continued", iterations=1, init=str(averaged)))
    assert Path(continued["checkpoint"]).is_file()


def test_what_cannot_be_averaged_is_refused_by_name(run, tmp_path):
    sources = (str(run / "model_0.pt"), str(run / "model_1.pt"))
    other = tmp_path / "other"
    shutil.copytree(run, other)
    env = yaml.safe_load((other / "env.yaml").read_text())
    (other / "env.yaml").write_text(yaml.safe_dump({**env, "axes": "x"}, sort_keys=False))
    with pytest.raises(DexndmError, match="trained in another environment"):
        average_bundles(AverageConfig(bundles=(sources[0], str(other / "model_1.pt")),
                                      out=str(tmp_path / "refused")))
    with pytest.raises(DexndmError, match="oracle teacher's checkpoint and the others are base"):
        average_bundles(AverageConfig(bundles=(sources[0], str(TEST_BUNDLE)),
                                      out=str(tmp_path / "refused")))
    assert not (tmp_path / "refused").exists()
    (tmp_path / "taken").mkdir()
    with pytest.raises(DexndmError, match="exists; choose a new --out"):
        average_bundles(AverageConfig(bundles=sources, out=str(tmp_path / "taken")))
    with pytest.raises(DexndmError, match="not an averaged teacher"):
        average_bundles(AverageConfig(bundles=sources, out=str(tmp_path / "taken"),
                                      overwrite=True))
    average_bundles(AverageConfig(bundles=sources, out=str(tmp_path / "swa")))
    average_bundles(AverageConfig(bundles=sources[:1] * 2, out=str(tmp_path / "swa"),
                                  overwrite=True))
    assert sorted(p.name for p in (tmp_path / "swa").iterdir()) == [
        "averaged_from.yaml", "env.yaml", "model_0.pt", "run.yaml"]  # model_1.pt went with it


def test_the_command_line_averages_a_teachers_checkpoints(run, tmp_path):
    done = subprocess.run([sys.executable, "-m", "dexndm_control.cli", "average",
                           str(run / "model_1.pt"), str(run / "model_2.pt"),
                           "--out", str(tmp_path / "swa")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "swa" / "model_2.pt").is_file()
