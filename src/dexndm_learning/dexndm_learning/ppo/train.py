"""`dexndm train ppo`: one PPO specialist per object category with rsl-rl-lib (paper section 3.1).

The run directory holds run.yaml (config, commit), rsl-rl's TensorBoard scalars and checkpoints
(model_<iteration>.pt with optimiser state, for --resume), like rsl-rl's own logger.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path

import torch
import yaml

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import Bundle
from dexndm_control.policy.networks import GeneralistPolicyNet
from dexndm_control.policy.observation import ObservationLayout
from dexndm_control.settings import setting
from dexndm_learning.ppo.config import CATEGORY_ENVS, PPO_DEFAULTS, ppo_config, ppo_env
from dexndm_learning.runs import check_output, pick_device, prepare_output, seed_everything
from dexndm_sim.env import MACHINE_SETTINGS, RotationEnvConfig
from dexndm_sim.rewards import RewardConfig


@dataclass
class PPOTrainConfig:
    category: str = setting(help=", ".join(CATEGORY_ENVS))
    out: str = setting(help="run directory (run.yaml, env.yaml, TensorBoard, model_N.pt)")
    # the full environment; None: ppo_env(category, seed=seed), the category's defaults
    env: RotationEnvConfig | None = None
    iterations: int = 1000
    steps_per_env: int = 32
    seed: int = 0
    save_interval: int = 50
    resume: str | None = setting(None, help="checkpoint model_N.pt to continue from")
    init: str | None = setting(None, help="warm start: a checkpoint whose actor this run starts "
                                          "from (critic, optimiser and iteration count start "
                                          "fresh; shipped checkpoints hold only the actor; "
                                          "with --observe-physics an actor trained without "
                                          "them gets their inputs at zero weight); "
                                          "with --num-envs 512 it keeps the actor's rotation, "
                                          "with 128 it drifted off (docs/base_policy_log.md)")
    critic_warmup: int = setting(0, help="with --init: iterations that train the fresh critic "
                                         "with the actor frozen, before both learn")
    learning_rate: float = setting(PPO_DEFAULTS["algorithm"]["learning_rate"],
                                   help="initial PPO learning rate (lower it to fine-tune; a "
                                        "--resume continues at its checkpoint's rate)")
    desired_kl: float = setting(PPO_DEFAULTS["algorithm"]["desired_kl"],
                                help="target KL of the adaptive learning-rate schedule")
    fall_penalty: float | None = setting(
        None, help="reward lost on the step the object falls (default: the training reward's, "
                   "20; warm starts on harder object sets trade rotation for holding on under "
                   "it: docs/base_policy_log.md)")
    reward: tuple[str, ...] = setting(
        (), help="training reward settings to change, NAME=VALUE each (RewardConfig in "
                 "dexndm_sim/rewards.py: rotation, goal, penalty, goal_gain, goal_bonus, "
                 "rotation_penalty_max, pose, work, ...); env.yaml keeps the reward trained on")
    device: str = setting("auto", help="device of the PPO update: auto (CUDA when torch sees "
                                       "one), cpu, cuda; the MuJoCo environment runs on the CPU")
    overwrite: bool = setting(False, help="replace an existing run directory")
    eval_episodes: int = setting(0, help="evaluate every saved checkpoint deterministically on "
                                         "this many episodes (the same starts each time) and "
                                         "keep the best as OUT/best.pt; 0: off")
    generalist: str | None = setting(
        None, help="fine-tune this base_policy bundle (a BC or DAgger OUT/best) by PPO instead "
                   "of training an oracle actor: the actor is the bundle's network on what the "
                   "controller feeds it, the critic sees the oracle observation; exports the "
                   "best and last actors as bundles OUT/best and OUT/last")
    teacher: str | None = setting(None, help="with --generalist: the specialist (RUN/model_N.pt) "
                                             "whose critic and per-joint action std the "
                                             "fine-tune starts from (not with --resume)")
    init_std: float | None = setting(None, help="with --generalist: the actor's initial "
                                                "action std (default: the --teacher's "
                                                "per-joint std, else 0.15); with --init: "
                                                "every joint's action std in place of the "
                                                "checkpoint's, to explore again from an actor "
                                                "whose std has narrowed (not with "
                                                "--resume: it keeps its checkpoint's)")
    actor_learning_rate: float | None = setting(
        None, help="a fixed learning rate of the actor's own (the critic keeps "
                   "--learning-rate; the adaptive schedule is off; a resume keeps the "
                   "checkpoint's unless this is given): rsl-rl's adaptive rate "
                   "never goes below 1e-5, and its first update from 3e-4 moved every weight of "
                   "a 512-wide generalist by up to 9e-4 and took its rotation from 1.93 to "
                   "0.57 rad (docs/base_policy_log.md)")
    # the fast-rotating object's larger advantages otherwise take the gradient whatever its
    # share of the batch (docs/base_policy_log.md; ppo/advantages.py)
    advantages_per_object: bool = setting(False, help="normalise PPO advantages within each "
                                                      "object's environments rather than over "
                                                      "the batch, so an object's share of the "
                                                      "environments is its share of the "
                                                      "gradient")
    eval_own_physics: bool = setting(False, help="with --eval-episodes: score each object at its "
                                                 "own mass and friction (what `dexndm sim eval` "
                                                 "runs) rather than at the training draws")

    def __post_init__(self) -> None:
        if self.category not in CATEGORY_ENVS:
            raise DexndmError(f"--category must be one of {', '.join(CATEGORY_ENVS)}")
        if self.iterations < 1 or self.steps_per_env < 1:
            raise DexndmError("--iterations and --steps-per-env must be >= 1")
        if self.init and self.resume:
            raise DexndmError("--init starts a new run from an actor, --resume continues one: "
                              "give one of them")
        if self.generalist and self.init:
            raise DexndmError("--init starts from a specialist's actor, --generalist from a "
                              "base_policy bundle: give one of them")
        if self.teacher and not self.generalist:
            raise DexndmError("--teacher gives a --generalist fine-tune its critic: add "
                              "--generalist BUNDLE (or start a specialist with --init)")
        if self.init_std is not None and self.init_std <= 0:
            raise DexndmError("--init-std must be > 0")
        # both act where a run starts; a resume continues from its checkpoint's critic and std
        if self.resume and (self.init_std is not None or self.teacher):
            raise DexndmError("--init-std and --teacher set where a fine-tune starts; --resume "
                              "continues at its checkpoint's action std and critic: drop them "
                              "(to widen the std, start a new run with --init or --generalist)")
        if self.init_std is not None and not (self.init or self.generalist):
            raise DexndmError("--init-std sets the starting action std of a warm-started actor: "
                              "add --init CHECKPOINT or --generalist BUNDLE")
        if self.actor_learning_rate is not None and self.actor_learning_rate <= 0:
            raise DexndmError("--actor-learning-rate must be > 0")
        if self.critic_warmup and not (self.init or self.generalist):
            raise DexndmError("--critic-warmup needs --init or --generalist (a trained actor "
                              "to keep)")
        if self.learning_rate <= 0 or self.desired_kl <= 0:
            raise DexndmError("--learning-rate and --desired-kl must be > 0")
        if not 0 <= self.critic_warmup < self.iterations:
            raise DexndmError("--critic-warmup must be within [0, --iterations)")
        if self.eval_episodes < 0 or self.eval_episodes == 1:
            raise DexndmError("--eval-episodes must be 0 (off) or >= 2")
        if self.eval_own_physics and not self.eval_episodes:
            raise DexndmError("--eval-own-physics needs --eval-episodes (how many to score)")
        if self.fall_penalty is not None and self.fall_penalty < 0:
            raise DexndmError("--fall-penalty must be >= 0 (it is subtracted when the object "
                              "falls)")
        if self.env is None:
            self.env = ppo_env(self.category, seed=self.seed)
        if self.fall_penalty is not None:
            self.env = replace(self.env, reward=replace(self.env.reward,
                                                        fall=float(self.fall_penalty)))
        reward_sets_fall = any(change.startswith("fall=") for change in self.reward)
        if self.fall_penalty is not None and reward_sets_fall:
            raise DexndmError("--fall-penalty and --reward fall=... set the same term: give one")
        if self.reward:
            self.env = replace(self.env, reward=reward_with(self.env.reward, self.reward))
        if self.env.wrist_fall_penalties and (self.fall_penalty is not None or reward_sets_fall):
            raise DexndmError("--wrist-fall-penalties gives every wrist its fall term: leave "
                              "out --fall-penalty and --reward fall=...")
        # --categories widens a run past its category (a generalist fine-tuned on several);
        # the category names the run and its defaults
        if self.category not in self.env.categories:
            raise DexndmError(f"the environment's categories {list(self.env.categories)} do not "
                              f"include --category {self.category}: add it to --categories")


def train_ppo(config: PPOTrainConfig) -> dict:
    from dexndm_learning.ppo.best_checkpoint import CheckpointEvaluation, EvaluatingRunner
    from dexndm_learning.ppo.vec_env import RotationVecEnv
    from dexndm_learning.ppo.warm_start import load_checkpoint

    seed_everything(config.seed)
    out = Path(config.out)
    # resuming may continue in the same directory: its files are kept, run.yaml is rewritten
    same_dir = bool(config.resume) and Path(config.resume).parent.resolve() == out.resolve()
    check_output(out, config.overwrite or same_dir)
    for flag, path in (("--resume", config.resume), ("--init", config.init),
                       ("--teacher", config.teacher)):
        if path and not Path(path).is_file():
            raise DexndmError(f"{flag} {path}: no such checkpoint (give RUN/model_N.pt)")
    resumed = (torch.load(config.resume, weights_only=False, map_location="cpu")
               if config.resume else None)
    if resumed is not None and "optimizer_state_dict" not in resumed:
        raise DexndmError(f"--resume {config.resume}: it holds no optimizer state (a stored or "
                          "averaged teacher): start a new run from it with --init")
    generalist = _generalist(config, resumed)
    actor_rate = _actor_rate(config, resumed)
    environment = config.env
    # plain data (tuples as lists), as env.yaml holds it and the resume check compares it;
    # without the machine's settings, so a run moves between machines of any core count
    environment_data = {key: value for key, value in json.loads(json.dumps(
        asdict(environment))).items() if key not in MACHINE_SETTINGS}
    if same_dir:
        _refuse_changed_environment(out / "env.yaml", environment_data)
    device = pick_device(config.device)
    # grasps are found (or refused) before OUT appears
    env = RotationVecEnv(environment, generalist_layout=generalist.layout if generalist else None)
    prepare_output(out, config, config.overwrite or same_dir)
    # the full environment (reward weights included) travels with the checkpoints, so rollouts
    # and evaluations rebuild exactly what the specialist was trained in
    (out / "env.yaml").write_text(yaml.safe_dump(environment_data, sort_keys=False))
    algorithm = {**PPO_DEFAULTS["algorithm"], "learning_rate": config.learning_rate,
                 "desired_kl": config.desired_kl}
    models = {"actor": generalist.actor_config} if generalist else {}
    runner = EvaluatingRunner(env, ppo_config(num_steps_per_env=config.steps_per_env,
                                              save_interval=config.save_interval,
                                              seed=config.seed, algorithm=algorithm, **models),
                              log_dir=str(out), device=device)
    if config.eval_episodes:
        runner.evaluation = CheckpointEvaluation(
            evaluation_environment(config), config.eval_episodes, out, resumed=same_dir,
            generalist_layout=generalist.layout if generalist else None,
            on_best=generalist.exporter(out / "best", config) if generalist else None)
    if actor_rate:
        _separate_actor_rate(runner.alg, actor_rate)
    if config.advantages_per_object:
        from dexndm_learning.ppo.advantages import normalize_advantages_per_group, object_groups

        normalize_advantages_per_group(runner.alg, object_groups(
            [obj.name for obj in env.env.objects]))
    width = env.get_observations()["policy"].shape[1]
    if config.resume:
        load_checkpoint(runner, config.resume, width, resume=True, loaded=resumed)
        if actor_rate:  # loading the optimizer restored the checkpoint's rates
            runner.alg.optimizer.param_groups[1]["lr"] = actor_rate
    if config.init:
        load_checkpoint(runner, config.init, width, resume=False, map_location=device)
        if config.init_std is not None:
            set_action_std(runner.alg.actor, config.init_std)
    if generalist and not config.resume:
        generalist.start(runner, config.teacher)
    try:
        if config.critic_warmup:
            _learn_critic_only(runner, config.critic_warmup)
        runner.learn(config.iterations - config.critic_warmup)
    finally:
        env.close()
    checkpoints = sorted(out.glob("model_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    if generalist and checkpoints:
        generalist.exporter(out / "last", config)(checkpoints[-1])
    return {"out": str(out), "checkpoint": str(checkpoints[-1]) if checkpoints else None,
            "iterations": runner.current_learning_iteration + 1,
            "best": runner.evaluation.best if runner.evaluation else None,
            "config": asdict(config)}


DEFAULT_GENERALIST_STD = 0.15


def set_action_std(actor, std: float) -> None:
    """Every joint's action std of ``actor`` (PPO_DEFAULTS' Gaussian with a learnt per-joint
    std) to ``std``; the mean, so the deterministic policy, is left as it is."""
    with torch.no_grad():
        actor.distribution.std_param.fill_(std)


def _separate_actor_rate(algorithm, actor_rate: float) -> None:
    """The critic (first group: rsl-rl reads a resumed rate from group 0) at the algorithm's
    rate, the actor at ``actor_rate``; both fixed."""
    algorithm.schedule = "fixed"
    algorithm.optimizer = type(algorithm.optimizer)([
        {"params": algorithm._raw_critic.parameters(), "lr": algorithm.learning_rate},
        {"params": algorithm._raw_actor.parameters(), "lr": actor_rate}])


def _actor_rate(config: PPOTrainConfig, resumed: dict | None) -> float | None:
    """The actor's own rate: --actor-learning-rate, else on a resume the checkpoint's (its
    optimizer's second group), so a resume needs no flag; None: one rate for both."""
    if resumed is None:
        return config.actor_learning_rate
    groups = resumed["optimizer_state_dict"]["param_groups"]
    if len(groups) == 1 and config.actor_learning_rate:
        raise DexndmError(f"--resume {config.resume} trained actor and critic at one rate: "
                          "resume it without --actor-learning-rate")
    return config.actor_learning_rate or (float(groups[1]["lr"]) if len(groups) == 2 else None)


@dataclass
class _Generalist:
    """What a --generalist fine-tune needs besides a specialist run's pieces."""

    source: Bundle
    network: GeneralistPolicyNet
    layout: ObservationLayout
    init_std: float | None

    @property
    def actor_config(self) -> dict:
        from dexndm_learning.ppo.generalist_actor import actor_config

        return actor_config(self.network, self.init_std or DEFAULT_GENERALIST_STD)

    def start(self, runner, teacher: str | None) -> None:
        from dexndm_learning.ppo.generalist_actor import start_from, teacher_start

        start_from(runner.alg.actor, self.network)
        if teacher:
            teacher_start(runner, teacher, action_std=self.init_std is None)

    def exporter(self, bundle_out: Path, config: PPOTrainConfig):
        from dexndm_learning.ppo.generalist_actor import export_generalist

        training = json.loads(json.dumps(asdict(config)))
        return lambda checkpoint: export_generalist(checkpoint, self.source, bundle_out, training)


def _generalist(config: PPOTrainConfig, resumed: dict | None) -> _Generalist | None:
    """The bundle a --generalist run fine-tunes, checked against the environment; a resume
    (``resumed``: the loaded checkpoint) of such a run without --generalist is refused (its actor
    is not an oracle MLP)."""
    if resumed is not None and not config.generalist and any(
            key.startswith("mlp.network.") for key in resumed.get("actor_state_dict", {})):
        raise DexndmError(f"--resume {config.resume} is a generalist fine-tune: resume it "
                          "with the run's --generalist BUNDLE")
    if not config.generalist:
        return None
    from dexndm_learning.ppo.generalist_actor import load_generalist

    network, bundle = load_generalist(config.generalist)
    # as in DAgger: a wrist or axis the bundle's data held constant enters at its own size
    network.obs_norm.unit_scale_constant()
    scale = float(bundle.info["action_scale"])
    if abs(scale - config.env.action_scale) > 1e-12:
        raise DexndmError(f"--generalist {config.generalist} acts at scale {scale}, the "
                          f"environment at {config.env.action_scale}: fine-tune it in the "
                          "environment it was distilled in")
    return _Generalist(bundle, network, ObservationLayout.from_dict(bundle.info["layout"]),
                       config.init_std)


def evaluation_environment(config: PPOTrainConfig) -> RotationEnvConfig:
    """Where checkpoints are scored: the training environment from its searched grasps (not
    from gait states), or with ``eval_own_physics`` the same with every object at its own Table
    14 draw (a run trained over the category's range is then scored on the physics `dexndm sim
    eval` measures)."""
    scored = replace(config.env, gait_states=None)
    if not config.eval_own_physics:
        return scored
    return replace(scored, randomize_physics=False, mass_range=None, friction_range=None)


def _flatten(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def reward_with(reward: RewardConfig, changes: tuple[str, ...]) -> RewardConfig:
    """``reward`` with NAME=VALUE ``changes`` applied (each value in its field's type)."""
    fields = tuple(f.name for f in dataclass_fields(RewardConfig))
    values = {}
    for change in changes:
        name, equals, text = change.partition("=")
        if not equals or name not in fields:
            raise DexndmError(f"--reward {change}: give NAME=VALUE with NAME one of "
                              f"{', '.join(fields)}")
        kind = type(getattr(reward, name))
        try:
            value = kind(text)
        except ValueError:
            raise DexndmError(f"--reward {change}: {name} takes a number ({kind.__name__}), "
                              f"e.g. {name}={getattr(reward, name)}") from None
        if not math.isfinite(value) or value < 0:
            raise DexndmError(f"--reward {change}: weights and gains are finite and >= 0")
        values[name] = value
    return replace(reward, **values)


def _refuse_changed_environment(env_file: Path, environment: dict) -> None:
    """A run resumed in its own directory keeps its environment: env.yaml describes every
    checkpoint there, and a reward or object set changed mid-run would make it wrong for the
    earlier ones (and is rarely what a resume without the run's flags means)."""
    if not env_file.is_file():
        return
    # a setting added after the run was made is absent from its env.yaml: the run had its
    # default, as plain data like the rest (an empty tuple default reads back as [])
    saved = {**_flatten(json.loads(json.dumps(asdict(RotationEnvConfig())))),
             **_flatten(yaml.safe_load(env_file.read_text()) or {})}
    for key in MACHINE_SETTINGS:  # written by runs made before they were left out
        saved.pop(key, None)
    now = _flatten(environment)
    changed = [f"{key} {saved.get(key)!r} -> {now.get(key)!r}"
               for key in sorted(set(saved) | set(now)) if saved.get(key) != now.get(key)]
    if changed:
        raise DexndmError(f"--resume in {env_file.parent}: the environment differs from its "
                          f"env.yaml ({'; '.join(changed)}); give the run's own flags, or "
                          "resume into a new --out to train on")


# Epochs over each warm-up batch: the actor is frozen, so the update is the critic's regression
# alone and costs little next to collecting the batch.
CRITIC_WARMUP_EPOCHS = 20


def _learn_critic_only(runner, iterations: int) -> None:
    """PPO iterations with the actor frozen: a fresh critic learns the warm-started actor's
    values before its advantages may move the actor.

    PPO's clipped value loss lets a value move at most clip_param (0.2) per iteration from its
    last prediction, which keeps a critic that grew with its actor stable but holds a fresh one
    far below returns of 30-50: measured on the reference in its own environment after 30 such
    iterations, mean value 12 against a discounted return of 37, explained variance 0.32 (50
    iterations of this warm-up: 47 against 51, 0.85; docs/base_policy_log.md). The warm-up
    therefore regresses the values unclipped and for more epochs. The adaptive learning rate
    must not drift while the frozen actor's KL stays 0, so it is restored afterwards."""
    algorithm = runner.alg
    actor = algorithm._raw_actor
    kept = (algorithm.learning_rate, algorithm.use_clipped_value_loss,
            algorithm.num_learning_epochs)
    rates = [group["lr"] for group in algorithm.optimizer.param_groups]
    for parameter in actor.parameters():
        parameter.requires_grad_(False)
    algorithm.use_clipped_value_loss = False
    algorithm.num_learning_epochs = CRITIC_WARMUP_EPOCHS
    try:
        runner.learn(iterations)
        runner.current_learning_iteration += 1  # learn() leaves it at its last iteration
    finally:
        for parameter in actor.parameters():
            parameter.requires_grad_(True)
        (algorithm.learning_rate, algorithm.use_clipped_value_loss,
         algorithm.num_learning_epochs) = kept
        for group, rate in zip(algorithm.optimizer.param_groups, rates, strict=True):
            group["lr"] = rate


@torch.no_grad()
def mean_rotation(env, policy=None, steps: int = 100) -> float:
    """Mean per-step rotation reward term of a policy (random actions if None)."""
    observations = env.get_observations()
    total = 0.0
    for _ in range(steps):
        if policy is None:
            actions = torch.rand(env.num_envs, env.num_actions) * 2 - 1
        else:
            actions = policy(observations)
        observations, _, _, _ = env.step(actions)
        total += float(env.last_terms.rotation.mean())
    return total / steps
