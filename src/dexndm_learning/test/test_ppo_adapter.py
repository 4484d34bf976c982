"""rsl-rl-lib adapter: shapes, dtypes, reset semantics; `dexndm train ppo` checkpoints and
resumes."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import yaml

from dexndm_control.errors import DexndmError
from dexndm_learning.ppo.config import PPO_DEFAULTS, TRAINING_REWARD, env_config, ppo_env
from dexndm_learning.ppo.train import (
    CRITIC_WARMUP_EPOCHS,
    PPOTrainConfig,
    mean_rotation,
    train_ppo,
)
from dexndm_learning.ppo.vec_env import RotationVecEnv

# the adapter's mechanics, not the category: two objects with two grasps each keep the grasp
# search (~4 s per object and 8 grasps) out of every test's time
SMALL = {"objects": ("small_cylinders_000", "small_cylinders_004"), "grasps_per_object": 2}


def test_adapter_shapes_dtypes_and_time_outs():
    env = RotationVecEnv(env_config("small_cylinders", num_envs=4, episode_length=5,
                                    **SMALL))
    observations = env.get_observations()
    assert observations["policy"].shape == (4, 204)
    assert observations["policy"].dtype == torch.float32
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
    env.close()


def test_mean_rotation_averages_the_rotation_term_over_steps():
    def make() -> RotationVecEnv:
        return RotationVecEnv(env_config("small_cylinders", num_envs=4, episode_length=50,
                                         seed=3, **SMALL))

    def hold(observations: dict) -> torch.Tensor:  # the policy that never moves
        return torch.zeros(4, 16)

    measured, twin = make(), make()
    value = mean_rotation(measured, hold, steps=3)
    per_step = []
    for _ in range(3):  # the same seed and actions by hand: the mean of the per-step means
        twin.step(torch.zeros(4, 16))
        per_step.append(float(twin.last_terms.rotation.mean()))
    assert value == sum(per_step) / 3 and any(v != 0.0 for v in per_step)
    measured.close()
    twin.close()


def test_ppo_runs_checkpoints_and_resumes(tmp_path):
    env = ppo_env("small_cylinders", num_envs=8, **SMALL)
    assert env.grasp_wrist == "palm_up" and env.reward == TRAINING_REWARD  # training wrist's grasps
    config = PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"), iterations=2,
                            env=env, steps_per_env=4)
    first = train_ppo(config)
    assert first["checkpoint"].endswith("model_1.pt")
    assert yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())["config"]["category"] \
        == "small_cylinders"
    # the physics threads are the machine's: not kept, so a run resumes on any core count
    assert "threads" not in yaml.safe_load((tmp_path / "run" / "env.yaml").read_text())
    resumed = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                       iterations=1, env=dataclasses.replace(env, threads=1),
                                       steps_per_env=4, resume=first["checkpoint"]))
    assert resumed["iterations"] == 3  # update 2 followed the loaded update 1 (model_1)
    assert sorted(p.name for p in (tmp_path / "run").glob("model_*.pt")) == [
        "model_0.pt", "model_1.pt", "model_2.pt"]  # the resumed model_1 was not saved over
    saved_env = (tmp_path / "run" / "env.yaml").read_text()
    # resuming in the run's directory without its flags would change its reward mid-run
    with pytest.raises(DexndmError, match=r"reward\.fall 20\.0 -> 5\.0.*run's own flags"):
        train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                 iterations=1, env=env, steps_per_env=4, fall_penalty=5.0,
                                 resume=first["checkpoint"]))
    assert (tmp_path / "run" / "env.yaml").read_text() == saved_env  # nothing rewritten
    # into a new directory the changed environment is a curriculum step, with its own env.yaml
    train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "wider"),
                             iterations=1, env=env, steps_per_env=4, fall_penalty=5.0,
                             resume=first["checkpoint"]))
    assert yaml.safe_load((tmp_path / "wider" / "env.yaml").read_text())["reward"]["fall"] == 5.0
    # a run made before a setting existed resumes: its env.yaml lacks it, the run had its default
    # (a number, or an empty tuple, which plain data holds as [])
    older = yaml.safe_load(saved_env)
    del older["min_grasp_hold"], older["object_shares"]
    (tmp_path / "run" / "env.yaml").write_text(yaml.safe_dump(older))
    train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                             iterations=1, env=env, steps_per_env=4,
                             resume=str(tmp_path / "run" / "model_2.pt")))
    with pytest.raises(DexndmError, match=r"min_grasp_hold 0\.0 -> 5\.0"):
        train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                 iterations=1, env=dataclasses.replace(env, min_grasp_hold=5.0),
                                 steps_per_env=4, resume=str(tmp_path / "run" / "model_3.pt")))


def test_fall_penalty_and_reward_changes_override_only_their_terms_and_travel_in_env_yaml(
        tmp_path):
    env = ppo_env("small_cylinders", num_envs=8, **SMALL)
    config = PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"), iterations=1,
                            env=env, steps_per_env=4, fall_penalty=5,
                            reward=("goal_gain=0", "rotation=2.5", "rotation_penalty_start=5"))
    assert config.env.reward.fall == 5.0 and TRAINING_REWARD.fall == 20.0
    assert config.env.reward == dataclasses.replace(
        TRAINING_REWARD, fall=5.0, goal_gain=0.0, rotation=2.5, rotation_penalty_start=5)
    assert PPOTrainConfig(category="small_cylinders", out="x").env.reward.fall == 20.0
    train_ppo(config)
    saved = yaml.safe_load((tmp_path / "run" / "env.yaml").read_text())
    # rollouts and evaluations rebuild this reward
    assert saved["reward"]["fall"] == 5.0 and saved["reward"]["goal_gain"] == 0.0
    assert saved["reward"]["rotation"] == 2.5 and saved["reward"]["rotation_penalty_start"] == 5
    with pytest.raises(DexndmError, match="--fall-penalty"):
        PPOTrainConfig(category="small_cylinders", out="x", fall_penalty=-1)
    with pytest.raises(DexndmError, match="set the same term"):
        PPOTrainConfig(category="small_cylinders", out="x", fall_penalty=5, reward=("fall=3",))
    two_wrists = ppo_env("small_cylinders", wrists=("palm_up", "palm_down"),
                         wrist_fall_penalties=(20.0, 60.0))
    for changes in ({"fall_penalty": 5}, {"reward": ("fall=3",)}):
        with pytest.raises(DexndmError, match="--wrist-fall-penalties gives every wrist"):
            PPOTrainConfig(category="small_cylinders", out="x", env=two_wrists, **changes)
    for change, message in (("goal_gian=0", "NAME one of rotation, "), ("goal", "NAME=VALUE"),
                            ("goal=abc", r"goal takes a number \(float\)"),
                            ("rotation_penalty_start=2.5", r"takes a number \(int\)"),
                            ("goal=-1", ">= 0"), ("goal=inf", "finite")):
        with pytest.raises(DexndmError, match=message):
            PPOTrainConfig(category="small_cylinders", out="x", reward=(change,))


def test_a_warm_start_keeps_the_actor_while_the_fresh_critic_warms_up(tmp_path, monkeypatch):
    from rsl_rl.runners import OnPolicyRunner

    env = ppo_env("small_cylinders", num_envs=8, **SMALL)
    first = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "a"),
                                     iterations=1, env=env, steps_per_env=4))
    learn, phases = OnPolicyRunner.learn, []

    def recording_learn(runner, *args, **kwargs):
        phases.append((runner.alg.use_clipped_value_loss, runner.alg.num_learning_epochs))
        return learn(runner, *args, **kwargs)

    monkeypatch.setattr(OnPolicyRunner, "learn", recording_learn)
    warm = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "b"),
                                    iterations=3, env=env, steps_per_env=4, save_interval=1,
                                    init=first["checkpoint"], critic_warmup=2))
    start = torch.load(first["checkpoint"], weights_only=False)["actor_state_dict"]
    saved = {int(p.stem.split("_")[1]): torch.load(p, weights_only=False)
             for p in (tmp_path / "b").glob("model_*.pt")}
    assert warm["iterations"] == 3 and sorted(saved) == [0, 1, 2]
    after_warmup = saved[1]["actor_state_dict"]
    assert all(torch.equal(start[k], after_warmup[k]) for k in start)  # frozen, critic learnt
    assert not torch.equal(saved[1]["critic_state_dict"]["mlp.0.weight"],
                           saved[0]["critic_state_dict"]["mlp.0.weight"])
    assert any(not torch.equal(start[k], saved[2]["actor_state_dict"][k]) for k in start)
    # the warm-up regresses the values unclipped for more epochs; PPO proper gets its defaults
    assert phases == [(False, CRITIC_WARMUP_EPOCHS),
                      (True, PPO_DEFAULTS["algorithm"]["num_learning_epochs"])]
    with pytest.raises(DexndmError, match="needs --init"):
        PPOTrainConfig(category="small_cylinders", out="x", critic_warmup=1)

    # --init-std: the same actor, exploring at a wider std on every joint from the first batch
    monkeypatch.setattr(OnPolicyRunner, "learn", learn)
    wide = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "c"),
                                    iterations=2, env=env, steps_per_env=4, save_interval=1,
                                    init=first["checkpoint"], critic_warmup=1, init_std=0.45))
    widened = torch.load(tmp_path / "c" / "model_0.pt", weights_only=False)["actor_state_dict"]
    assert wide["iterations"] == 2
    assert torch.equal(widened["distribution.std_param"], torch.full((16,), 0.45))
    assert not torch.allclose(start["distribution.std_param"], torch.full((16,), 0.45))
    assert all(torch.equal(start[k], widened[k]) for k in start if k.startswith("mlp."))
    with pytest.raises(DexndmError, match="--init-std.*add --init CHECKPOINT or --generalist"):
        PPOTrainConfig(category="small_cylinders", out="x", init_std=0.45)
    # a resume restores the checkpoint's std and critic: neither flag would act on it
    for starting_flag in ({"init_std": 0.45}, {"teacher": "run/model_1.pt"}):
        with pytest.raises(DexndmError, match="--resume continues at its checkpoint's action std"):
            PPOTrainConfig(category="small_cylinders", out="x", resume="run/model_1.pt",
                           generalist="policies/base_policy", **starting_flag)


def test_specialist_rollouts_keep_survivors_with_hand_frame_axes(tmp_path):
    import numpy as np

    from dexndm_control.hand import ACTION_SCALE
    from dexndm_control.trajectory_library import load_library
    from dexndm_control.transitions import read_shard
    from dexndm_learning.bc import BCConfig, train_bc
    from dexndm_learning.rollout import RolloutConfig, rollout

    run = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                   iterations=2,
                                   env=ppo_env("small_cylinders", num_envs=8, **SMALL),
                                   steps_per_env=8))
    env_file = yaml.safe_load((tmp_path / "run" / "env.yaml").read_text())
    assert env_file["categories"] == ["small_cylinders"]
    assert env_file["reward"]["fall"] == TRAINING_REWARD.fall
    result = rollout(RolloutConfig(policy=run["checkpoint"], episodes=24, steps=30,
                                   library=str(tmp_path / "lib.npz"),
                                   shards=str(tmp_path / "shards")))
    assert result["episodes"] == 24 and 0 < result["survival_rate"] <= 1
    library = load_library(tmp_path / "lib.npz")
    shard = read_shard(tmp_path / "shards" / "rollout_0.npz")
    objects = np.load(tmp_path / "shards" / "rollout_0.object_poses")
    assert library.actions.shape == (24, 30, 16) and objects["object_pose"].shape == (24, 31, 7)
    assert np.allclose(library.actions[2], shard.episodes[2].a, atol=1e-6)
    # palm up is 180 degrees about x: a world +-z axis is -+z in the hand frame
    world = np.array([e.meta["axis_world"] for e in shard.episodes])
    assert np.allclose(np.abs(world[:, 2]), 1.0)
    assert np.allclose(library.axis, world * [1.0, -1.0, -1.0], atol=1e-6)
    assert all(e.meta["policy"] == "specialist" for e in shard.episodes)
    # each episode's first target is one action step at most from the target it started holding
    first_steps = np.array([e.a[0] - e.meta["initial_target"] for e in shard.episodes])
    assert np.abs(first_steps).max() <= ACTION_SCALE + 1e-6 and np.abs(first_steps).max() > 0
    # prefixes of a weaker teacher: the first 10 steps of every episode that lasted 10
    prefixes = rollout(RolloutConfig(policy=run["checkpoint"], episodes=8, steps=30, keep_steps=10,
                                     shards=str(tmp_path / "prefixes"), seed=3))
    kept = read_shard(tmp_path / "prefixes" / "rollout_3.npz").episodes
    assert prefixes["episodes"] == 8 and all(len(e.a) == 10 for e in kept)
    assert all(isinstance(e.meta["survived"], bool) for e in kept)
    # the shards train a generalist directly
    bc = train_bc(BCConfig(data=[str(tmp_path / "shards")], out=str(tmp_path / "bc"), history=4,
                           width=32, blocks=1, epochs=2, batch_size=64, device="cpu",
                           progress=False))
    assert np.isfinite(bc["best_eval_action_mae"])


@pytest.mark.slow
def test_short_ppo_run_beats_a_random_policy_on_the_rotation_reward(tmp_path):
    """Palm up, z axis, cylinders: 40 iterations x 64 envs x 32 steps (82k env steps, about two
    minutes on 2 cores). Stated margin: the mean per-step rotation term (rad/s, clipped at 0.5)
    of the deterministic policy exceeds random actions' by at least 0.05."""
    from dexndm_learning.ppo.specialist import Specialist

    env = ppo_env("cylinders", num_envs=64, friction_range=(0.8, 2.0))
    run = train_ppo(PPOTrainConfig(category="cylinders", out=str(tmp_path / "run"),
                                   iterations=40, env=env, steps_per_env=32, save_interval=40))
    trained = Specialist(run["checkpoint"], num_envs=32, seed=11)
    torch.manual_seed(0)
    policy_rotation = mean_rotation(trained.env, trained.act, steps=150)
    trained.close()
    baseline = Specialist(run["checkpoint"], num_envs=32, seed=11)
    random_rotation = mean_rotation(baseline.env, None, steps=150)
    baseline.close()
    assert policy_rotation >= random_rotation + 0.05, (policy_rotation, random_rotation)


def test_observed_physics_come_last_and_widen_a_warm_started_actor(tmp_path):
    from dexndm_sim.objects import generate_category

    specs = {o.name: o for o in generate_category("small_cylinders", 0)}
    drawn = RotationVecEnv(env_config("small_cylinders", num_envs=2, observe_physics=True,
                                      mass_range=(0.02, 0.02), friction_range=(0.5, 0.5),
                                      **SMALL))
    physics = drawn.get_observations()["policy"][:, 204:]
    drawn.close()
    # mass 0.02 kg x 20, friction as drawn, extents x 10 (m -> dm), object i % 2 in env i
    for env, name in enumerate(SMALL["objects"]):
        expected = [0.4, 0.5, *(10 * e for e in specs[name].extents)]
        assert physics[env].tolist() == pytest.approx(expected, abs=1e-6)
    own = RotationVecEnv(env_config("small_cylinders", num_envs=1, observe_physics=True,
                                    randomize_physics=False, **SMALL))
    obj = specs[SMALL["objects"][0]]
    assert own.get_observations()["policy"][0, 204:206].tolist() == pytest.approx(
        [20 * obj.mass, obj.friction], abs=1e-6)  # its own Table 14 draw
    own.close()

    blind = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "blind"),
                                     iterations=1, steps_per_env=4,
                                     env=ppo_env("small_cylinders", num_envs=8, **SMALL)))
    seeing = ppo_env("small_cylinders", num_envs=8, observe_physics=True, **SMALL)
    with pytest.raises(DexndmError, match="takes 204 inputs, this environment gives 209.*--init"):
        train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "resumed"),
                                 iterations=1, steps_per_env=4, env=seeing,
                                 resume=blind["checkpoint"]))
    train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "warm"),
                             iterations=2, steps_per_env=4, save_interval=1, env=seeing,
                             init=blind["checkpoint"], critic_warmup=1))
    old = torch.load(blind["checkpoint"], weights_only=False)["actor_state_dict"]["mlp.0.weight"]
    warm = torch.load(tmp_path / "warm" / "model_0.pt",
                      weights_only=False)["actor_state_dict"]["mlp.0.weight"]
    assert warm.shape == (old.shape[0], 209)
    assert torch.equal(warm[:, :204], old) and not warm[:, 204:].any()  # acts as it did
    saved = yaml.safe_load((tmp_path / "warm" / "env.yaml").read_text())
    assert saved["observe_physics"] is True  # rollouts and evaluations rebuild the 209 inputs


def test_a_run_holds_the_objects_of_every_category_it_names(tmp_path):
    """A generalist is fine-tuned on several categories at once: --categories widens the run
    past --category, which names it; the environment travels in env.yaml."""
    from dexndm_learning.ppo.specialist import specialist_env_config
    from dexndm_sim.env import BatchedRotationEnv

    env = ppo_env("small_cylinders", num_envs=4, categories=("small_cylinders", "cylinders"),
                  objects=("small_cylinders_000", "cylinders_000"), grasps_per_object=2)
    assert env.grasp_wrist == "palm_up" and env.reward == TRAINING_REWARD
    result = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(tmp_path / "run"),
                                      iterations=1, env=env, steps_per_env=2))
    saved = specialist_env_config(result["checkpoint"])
    assert saved.categories == ("small_cylinders", "cylinders") and saved == env
    # an older run's env.yaml names its machine's threads: a reader uses this machine's
    env_file = tmp_path / "run" / "env.yaml"
    env_file.write_text(yaml.safe_dump({**yaml.safe_load(env_file.read_text()), "threads": 2}))
    assert specialist_env_config(result["checkpoint"]).threads == 0
    env_file.unlink()  # a checkpoint copied out with its run.yaml only: that holds env: too
    assert specialist_env_config(result["checkpoint"]) == saved
    (tmp_path / "run" / "run.yaml").write_text("config:\n  category: small_cylinders\n")
    with pytest.raises(DexndmError, match="copy the run's env.yaml beside the checkpoint"):
        specialist_env_config(result["checkpoint"])
    built = BatchedRotationEnv(dataclasses.replace(saved, threads=1))
    try:
        assert [o.name for o in built.objects] == ["small_cylinders_000", "cylinders_000"] * 2
    finally:
        built.close()
    with pytest.raises(DexndmError, match="do not include --category irregular"):
        PPOTrainConfig(category="irregular", out=str(tmp_path / "other"), env=env)


def test_category_shares_split_the_batch_and_not_the_evaluation(tmp_path):
    """--category-shares 3 1: three environments in four hold the first category's objects
    (round-robin within it); checkpoint evaluations, rollouts and transfer measurements still
    score every object alike."""
    from dexndm_control.settings import from_mapping
    from dexndm_learning.ppo.best_checkpoint import CheckpointEvaluation
    from dexndm_learning.ppo.specialist import specialist_env_config
    from dexndm_sim.env import BatchedRotationEnv, RotationEnvConfig

    env = ppo_env("small_cylinders", num_envs=8, categories=("small_cylinders", "cylinders"),
                  category_shares=(3.0, 1.0), grasps_per_object=2,
                  objects=("small_cylinders_000", "small_cylinders_001", "cylinders_000"))
    run = tmp_path / "run"
    result = train_ppo(PPOTrainConfig(category="small_cylinders", out=str(run), iterations=1,
                                      env=env, steps_per_env=2))
    saved = from_mapping(RotationEnvConfig, yaml.safe_load((run / "env.yaml").read_text()))
    assert saved.category_shares == (3.0, 1.0) and saved == env
    built = BatchedRotationEnv(dataclasses.replace(saved, threads=1))
    try:
        names = [o.name for o in built.objects]
        assert names == ["small_cylinders_000", "small_cylinders_001"] * 3 + ["cylinders_000"] * 2
    finally:
        built.close()
    assert specialist_env_config(result["checkpoint"]) == env.unweighted()
    evaluation = CheckpointEvaluation(env, 6, tmp_path / "eval")
    assert evaluation.environment.category_shares == () and evaluation.environment.num_envs == 6
    with pytest.raises(DexndmError, match="raise --num-envs or its share"):
        BatchedRotationEnv(dataclasses.replace(saved, threads=1, category_shares=(20.0, 1.0)))
    for shares in ((1.0,), (1.0, 0.0)):
        with pytest.raises(DexndmError, match="--category-shares takes one positive share per"):
            dataclasses.replace(env, category_shares=shares)


def test_object_shares_weight_objects_within_a_category(tmp_path):
    """--object-shares 1 3 over two objects of one category: 2 and 6 of 8 environments (3 and
    2 of 5: the remainder goes to the larger fraction); evaluations score both alike; shares
    that do not match --objects, given with --category-shares, or naming an object no grasp
    holds, are refused."""
    from dexndm_learning.ppo.best_checkpoint import CheckpointEvaluation
    from dexndm_sim.env import BatchedRotationEnv, share_counts

    env = ppo_env("small_cylinders", num_envs=8, grasps_per_object=2, threads=1,
                  objects=("small_cylinders_000", "small_cylinders_001"),
                  object_shares=(1.0, 3.0))
    built = BatchedRotationEnv(env)
    try:
        names = [o.name for o in built.objects]
        assert names == ["small_cylinders_000"] * 2 + ["small_cylinders_001"] * 6
        # a named object that no grasp holds cannot take its share: refused, not dropped
        first_only = [o for o in built.objects if o.name == "small_cylinders_000"][:1]
        with pytest.raises(DexndmError, match="gives small_cylinders_001 environments, but no "
                                              "grasp holds it: leave it out"):
            built._assign_objects(first_only)
    finally:
        built.close()
    assert share_counts((1.0, 3.0), 8).tolist() == [2, 6]
    assert share_counts((1.0, 1.0, 1.0), 5).tolist() == [2, 2, 1]  # 5/3 each: first two +1
    assert share_counts((2.0, 3.0), 5).tolist() == [2, 3]
    evaluation = CheckpointEvaluation(env, 4, tmp_path / "eval")
    assert evaluation.environment.object_shares == ()
    for shares in ((1.0,), (1.0, 0.0), (1.0, 2.0, 3.0)):
        with pytest.raises(DexndmError, match="--object-shares takes one positive share per"):
            dataclasses.replace(env, object_shares=shares)
    with pytest.raises(DexndmError, match="give one of them"):
        dataclasses.replace(env, categories=("small_cylinders", "cylinders"),
                            category_shares=(1.0, 1.0))
    with pytest.raises(DexndmError, match="raise --num-envs or its share"):
        BatchedRotationEnv(dataclasses.replace(env, num_envs=3, object_shares=(1.0, 10.0)))
