"""A teacher stored for policies/: networks without optimizer, fp16 acting like the original."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dexndm_control.errors import DexndmError
from dexndm_learning.ppo.config import ppo_env
from dexndm_learning.ppo.specialist import Specialist
from dexndm_learning.ppo.storage import _actor_output, store_checkpoint
from dexndm_learning.ppo.train import PPOTrainConfig, train_ppo

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "store_teacher.py"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("teacher") / "run"
    env = ppo_env("small_cylinders", num_envs=4, objects=("small_cylinders_000",),
                  grasps_per_object=2)
    return Path(train_ppo(PPOTrainConfig(category="small_cylinders", out=str(out), iterations=1,
                                         env=env, steps_per_env=2))["checkpoint"])


def test_fp16_teacher_keeps_both_networks_drops_the_optimizer_and_acts_alike(trained, tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), str(trained), "--out",
                             str(tmp_path / "kept"), "--precision", "fp16"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    stored = tmp_path / "kept" / trained.name
    assert (tmp_path / "kept" / "env.yaml").read_text() == (trained.parent / "env.yaml").read_text()
    assert (tmp_path / "kept" / "run.yaml").is_file()
    saved = torch.load(stored, weights_only=False)
    assert "optimizer_state_dict" not in saved and saved["iter"] == 0
    assert {t.dtype for t in saved["critic_state_dict"].values()} == {torch.float16}
    assert stored.stat().st_size < 0.2 * trained.stat().st_size  # optimizer moments, then half
    original, kept = Specialist(trained, critic=True), Specialist(stored, critic=True)
    try:
        observations = original.env.get_observations()
        acted = original.act(observations)
        # the report's actor is the network rsl-rl runs
        mean = _actor_output(torch.load(trained, weights_only=False)["actor_state_dict"],
                             observations["policy"])
        assert torch.allclose(mean, acted, atol=1e-5)
        difference = (acted - kept.act(observations)).abs().max()
        assert 0 < float(difference) < 0.01  # the report's number is of the same order
        with torch.no_grad():
            values = (original.runner.alg.critic(observations)
                      - kept.runner.alg.critic(observations)).abs().max()
        assert float(values) < 0.01
    finally:
        original.close()
        kept.close()


def test_fp32_storage_is_exact_and_bad_input_is_refused(trained, tmp_path):
    report = store_checkpoint(trained, tmp_path / "exact")
    assert report["max_abs_action_difference"] == 0.0 and report["precision"] == "fp32"
    assert report["bytes"] < 0.4 * report["source_bytes"]
    with pytest.raises(DexndmError, match="choose fp32 or fp16"):
        store_checkpoint(trained, tmp_path / "x", "int8")
    lone = tmp_path / "lone" / trained.name
    lone.parent.mkdir()
    lone.write_bytes(trained.read_bytes())
    with pytest.raises(DexndmError, match="lacks env.yaml or run.yaml"):
        store_checkpoint(lone, tmp_path / "y")
    torch.save({"actor_state_dict": {}}, lone)
    with pytest.raises(DexndmError, match="no critic_state_dict"):
        store_checkpoint(lone, tmp_path / "z")
