"""rsl-rl-lib adapter: shapes, dtypes, reset semantics; `dexndm train ppo` checkpoints and resumes."""

from __future__ import annotations

import torch
import yaml

from dexndm_learning.ppo.config import env_config
from dexndm_learning.ppo.train import PPOTrainConfig, mean_rotation, train_ppo
from dexndm_learning.ppo.vec_env import RotationVecEnv


def test_adapter_shapes_dtypes_and_time_outs(tmp_path):
    env = RotationVecEnv(env_config("small_cylinders", num_envs=4, grasps_per_object=2,
                                    episode_length=5), tmp_path)
    observations = env.get_observations()
    assert observations["policy"].shape == (4, 204) and observations["policy"].dtype == torch.float32
    assert torch.equal(observations["policy"], observations["critic"])
    dones_seen, timeouts_seen = 0, 0
    for _ in range(6):
        observations, rewards, dones, extras = env.step(torch.zeros(4, 16))
        assert rewards.shape == (4,) and rewards.dtype == torch.float32
        assert dones.dtype == torch.bool and extras["time_outs"].shape == (4,)
        assert torch.all(extras["time_outs"] <= dones)  # a time-out is a kind of done
        dones_seen += int(dones.sum())
        timeouts_seen += int(extras["time_outs"].sum())
    assert dones_seen >= 4  # every env ended once (5-step episodes) and was reset
    assert env.episode_length_buf.max() <= 5
    assert isinstance(mean_rotation(env, steps=2), float)
    env.close()


def test_ppo_runs_checkpoints_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
    config = PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"), iterations=2,
                            num_envs=8, steps_per_env=4)
    first = train_ppo(config)
    assert first["checkpoint"].endswith("model_1.pt")
    assert yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())["config"]["category"] \
        == "small_cylinders"
    resumed = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                       iterations=1, num_envs=8, steps_per_env=4,
                                       resume=first["checkpoint"]))
    assert resumed["iterations"] == 2  # continued from the loaded iteration 1, not from 0
