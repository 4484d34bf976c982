"""`train ppo --generalist`: PPO fine-tuning of a distilled generalist on the controller's
observation, with the oracle critic (and action std) of its teacher."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import load_bundle, load_network, update_bundle_info
from dexndm_control.policy.observation import ObservationLayout
from dexndm_learning.comparison import GeneralistOnEnv
from dexndm_learning.ppo.config import env_config, ppo_env
from dexndm_learning.ppo.generalist_actor import export_generalist
from dexndm_learning.ppo.train import PPOTrainConfig, train_ppo
from dexndm_learning.ppo.vec_env import RotationVecEnv, oracle_observation

BASE = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"
SMALL = {"objects": ("small_cylinders_000", "small_cylinders_004"), "grasps_per_object": 2}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A one-iteration specialist: a critic and an action std to start from."""
    out = tmp_path_factory.mktemp("teacher") / "run"
    train_ppo(PPOTrainConfig(category="small_cylinders", out=str(out), iterations=1,
                             steps_per_env=4, env=ppo_env("small_cylinders", num_envs=8,
                                                          **SMALL)))
    return out / "model_0.pt"


def test_the_actor_group_is_the_controllers_observation_and_the_critic_the_oracles():
    layout = ObservationLayout.from_dict(load_network(BASE, "base_policy")[1].info["layout"])
    env = RotationVecEnv(env_config("small_cylinders", num_envs=4, episode_length=6, **SMALL),
                         generalist_layout=layout)
    generalist = GeneralistOnEnv(BASE)
    try:
        for _ in range(8):  # past a reset: every environment ends once at 6 steps
            observations = env.get_observations()
            assert observations["policy"].shape == (4, layout.size)
            np.testing.assert_array_equal(observations["policy"].numpy(),
                                          generalist.observation(env.env).astype(np.float32))
            oracle = oracle_observation(env.env.observation_groups(), env.env.q_init)
            np.testing.assert_array_equal(observations["critic"].numpy(), oracle)
            env.step(torch.full((4, 16), 0.3))
    finally:
        env.close()


def test_fine_tune_starts_as_the_bundle_and_the_teacher_and_exports_bundles(tmp_path, teacher):
    out = tmp_path / "fine_tune"
    env = ppo_env("small_cylinders", num_envs=8, **SMALL)
    result = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(out), iterations=3,
                                      steps_per_env=4, env=env, save_interval=1,
                                      critic_warmup=1, eval_episodes=2, generalist=str(BASE),
                                      teacher=str(teacher)))
    assert result["iterations"] == 3
    first = torch.load(out / "model_0.pt", weights_only=False)
    taught = torch.load(teacher, weights_only=False)
    # the critic and the per-joint action std come from the teacher; the warm-up iteration
    # trained the critic with the actor frozen
    assert torch.equal(first["actor_state_dict"]["distribution.std_param"],
                       taught["actor_state_dict"]["distribution.std_param"])
    initial, _ = load_network(BASE, "base_policy")
    # observations like the bundle's data: the features it held constant (a wrist, an axis's
    # x and y) at their value
    constant = initial.obs_norm.std <= 1e-3
    obs = (torch.randn(64, initial.obs_size) * initial.obs_norm.std * ~constant
           + initial.obs_norm.mean)
    warm = export_generalist(out / "model_0.pt", load_bundle(BASE, "base_policy"),
                             tmp_path / "warm")
    after_warmup, _ = load_network(warm, "base_policy")
    assert torch.equal(after_warmup(obs), initial(obs))  # the actor was frozen
    # and those features enter at unit scale: another wrist would be ~1 out, not ~1000
    assert constant.sum() == 4
    assert torch.equal(after_warmup.obs_norm.std[constant], torch.ones(4))
    assert torch.equal(after_warmup.obs_norm.std[~constant], initial.obs_norm.std[~constant])
    # the start pose travels with the grasp it is the target of (the virtual hand needs both)
    grasped = tmp_path / "grasped"
    shutil.copytree(BASE, grasped)
    grasp = {"object": "small_cylinders_004", "grasp_index": 1}
    update_bundle_info(grasped, initial_pose=[0.25] * 16, initial_grasp=grasp)
    exported = load_bundle(export_generalist(out / "model_0.pt", load_bundle(grasped,
                                             "base_policy"), tmp_path / "exported"), "base_policy")
    assert exported.start_pose == {"initial_pose": [0.25] * 16, "initial_grasp": grasp}
    assert "initial_grasp" not in load_bundle(warm, "base_policy").info
    last, bundle = load_network(out / "last", "base_policy")
    assert not torch.allclose(last(obs), initial(obs))  # and then learned
    assert bundle.info["layout"] == load_network(BASE, "base_policy")[1].info["layout"]
    assert bundle.info["fine_tuned_from"] == str(BASE)
    assert bundle.info["training"]["teacher"] == str(teacher)
    # the exported network is the checkpoint's actor mean, clamped as deployed
    final = torch.load(out / "model_2.pt", weights_only=False)["actor_state_dict"]
    torch.testing.assert_close(last(obs), torch.clamp(last.unclamped(obs), -1, 1))
    assert torch.equal(last.output.weight, final["mlp.network.output.weight"])
    best = load_network(out / "best", "base_policy")[1].info["fine_tuning_checkpoint"]
    assert Path(best).name == result["best"]["checkpoint"]  # model_N.pt, scored best
    assert (out / "best.pt").is_file()
    # resuming needs the bundle the run fine-tunes, and keeps its one learning rate
    with pytest.raises(DexndmError, match="without --actor-learning-rate"):
        train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "resumed"),
                                 iterations=1, steps_per_env=4, env=env,
                                 resume=str(out / "model_2.pt"), generalist=str(BASE),
                                 actor_learning_rate=1e-6))
    assert not (tmp_path / "resumed").exists()
    with pytest.raises(DexndmError, match="--generalist BUNDLE"):
        train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "resumed"),
                                 iterations=1, steps_per_env=4, env=env,
                                 resume=str(out / "model_2.pt")))
    resumed = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "resumed"),
                                       iterations=1, steps_per_env=4, env=env,
                                       resume=str(out / "model_2.pt"), generalist=str(BASE)))
    assert resumed["checkpoint"].endswith("model_3.pt")  # one more iteration


def test_fine_tune_options_are_checked(tmp_path, teacher):
    with pytest.raises(DexndmError, match="--teacher gives"):
        PPOTrainConfig(category="cylinders", out="x", teacher=str(teacher))
    with pytest.raises(DexndmError, match="give one of them"):
        PPOTrainConfig(category="cylinders", out="x", init=str(teacher), generalist=str(BASE))
    with pytest.raises(DexndmError, match="--init-std"):
        PPOTrainConfig(category="cylinders", out="x", generalist=str(BASE), init_std=0.0)
    env = ppo_env("small_cylinders", num_envs=4, action_scale=0.05, **SMALL)
    with pytest.raises(DexndmError, match="scale"):
        train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "a"),
                                 iterations=1, env=env, generalist=str(BASE)))
    with pytest.raises(DexndmError, match="not a bundle"):
        train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "b"),
                                 iterations=1, env=env, generalist=str(tmp_path)))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_teacher_start_copies_the_critic_and_the_std(teacher):
    from rsl_rl.models import MLPModel
    from tensordict import TensorDict

    from dexndm_learning.ppo.config import PPO_DEFAULTS
    from dexndm_learning.ppo.generalist_actor import GeneralistActor, teacher_start

    obs = TensorDict({"policy": torch.zeros(2, 327), "critic": torch.zeros(2, 204)},
                     batch_size=[2])
    groups = {"actor": ["policy"], "critic": ["critic"]}
    critic_config = {k: v for k, v in PPO_DEFAULTS["critic"].items() if k != "class_name"}
    critic = MLPModel(obs, groups, "critic", 1, **critic_config)
    actor = GeneralistActor(obs, groups, "actor", 16, width=8, blocks=1,
                            distribution_cfg={"class_name": "GaussianDistribution",
                                              "init_std": 0.5})
    runner = type("Runner", (), {"alg": type("Alg", (), {"critic": critic, "actor": actor})})
    teacher_start(runner, teacher)
    taught = torch.load(teacher, weights_only=False)
    for name, value in critic.state_dict().items():
        assert torch.equal(value, taught["critic_state_dict"][name])
    assert torch.equal(actor.distribution.std_param,
                       taught["actor_state_dict"]["distribution.std_param"])


def test_the_actor_can_learn_at_a_fixed_rate_of_its_own(tmp_path, teacher):
    out = tmp_path / "slow"
    train_ppo(PPOTrainConfig(category="small_cylinders", out=str(out), iterations=3,
                             steps_per_env=4, env=ppo_env("small_cylinders", num_envs=8, **SMALL),
                             save_interval=1, critic_warmup=1, generalist=str(BASE),
                             teacher=str(teacher), init_std=0.05, actor_learning_rate=1e-6))
    for iteration in (0, 2):  # the critic warm-up leaves both rates as they were
        saved = torch.load(out / f"model_{iteration}.pt", weights_only=False)
        critic_group, actor_group = saved["optimizer_state_dict"]["param_groups"]
        assert (critic_group["lr"], actor_group["lr"]) == (3e-4, 1e-6)
    # Adam moves a weight by at most ~3.2 lr a step ((1 - beta1) / sqrt(1 - beta2) when a
    # gradient jumps); PPO takes 5 epochs x 2 mini-batches an iteration, two learning iterations
    bound = 3.2 * 1e-6 * 10
    std = saved["actor_state_dict"]["distribution.std_param"]
    assert float((std - 0.05).abs().max()) <= 2 * bound  # 0.05, not the teacher's std
    first = torch.load(out / "model_1.pt", weights_only=False)["actor_state_dict"]
    step = max(float((saved["actor_state_dict"][k] - first[k]).abs().max()) for k in first)
    assert 0 < step <= bound
    # a resume keeps the actor's rate without the flag (the optimizer's second group)
    train_ppo(PPOTrainConfig(category="small_cylinders", out=str(out), iterations=1,
                             steps_per_env=4, env=ppo_env("small_cylinders", num_envs=8, **SMALL),
                             resume=str(out / "model_2.pt"), generalist=str(BASE)))
    resumed = torch.load(out / "model_3.pt", weights_only=False)["optimizer_state_dict"]
    assert [group["lr"] for group in resumed["param_groups"]] == [3e-4, 1e-6]
    # ... and takes a rate given with it (the optimizer's state would otherwise restore 1e-6)
    train_ppo(PPOTrainConfig(category="small_cylinders", out=str(out), iterations=1,
                             steps_per_env=4, env=ppo_env("small_cylinders", num_envs=8, **SMALL),
                             resume=str(out / "model_3.pt"), generalist=str(BASE),
                             actor_learning_rate=2e-6))
    faster = torch.load(out / "model_4.pt", weights_only=False)["optimizer_state_dict"]
    assert [group["lr"] for group in faster["param_groups"]] == [3e-4, 2e-6]


def test_a_fine_tunes_checkpoint_is_scored_on_the_controllers_observation(tmp_path, teacher):
    from dexndm_learning.ppo.specialist import Specialist
    from dexndm_learning.ppo.transfer import TransferConfig, measure_transfer

    out = tmp_path / "fine_tune"
    train_ppo(PPOTrainConfig(category="small_cylinders", out=str(out), iterations=2,
                             steps_per_env=4, env=ppo_env("small_cylinders", num_envs=8,
                                                          episode_length=20, **SMALL),
                             generalist=str(BASE), teacher=str(teacher), save_interval=1))
    bundle = export_generalist(out / "model_1.pt", load_bundle(BASE, "base_policy"),
                               tmp_path / "bundle")
    network, _ = load_network(bundle, "base_policy")
    specialist = Specialist(out / "model_1.pt", num_envs=4)
    try:
        observations = specialist.env.get_observations()
        # the actor sees what the controller feeds the base policy, and acts as its export
        np.testing.assert_array_equal(observations["policy"].numpy(),
                                      GeneralistOnEnv(bundle).observation(specialist.env.env)
                                      .astype(np.float32))
        torch.testing.assert_close(torch.clamp(specialist.act(observations), -1, 1),
                                   network(observations["policy"]))
    finally:
        specialist.close()
    result = measure_transfer(TransferConfig(str(out / "model_1.pt"), (550.0,), episodes=2),
                              progress=lambda _: None)
    assert [row["episodes"] for row in result["runs"].values()] == [2, 2]
    # the actor's size and layout come from the fine-tuned bundle: a run without it is refused
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    run = (moved / "run.yaml").read_text().replace(str(BASE), str(tmp_path / "gone"))
    (moved / "run.yaml").write_text(run)
    with pytest.raises(DexndmError, match="fine-tunes the generalist"):
        Specialist(moved / "model_1.pt", num_envs=2)
    (moved / "run.yaml").unlink()  # env.yaml alone: the environment, not the actor
    with pytest.raises(DexndmError, match="run.yaml is not beside it"):
        Specialist(moved / "model_1.pt", num_envs=2)
