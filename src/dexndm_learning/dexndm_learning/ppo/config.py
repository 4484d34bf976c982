"""PPO settings (rsl-rl-lib 5.5.1) and per-category environment configurations.

The defaults follow the setup that learned in-hand rotation on a 2-core CPU
(docs/notes/rl_feasibility.md): 128 envs x 32 steps, 5 epochs x 2 mini-batches, lr 3e-4
with an adaptive schedule at desired KL 0.02, entropy 0, actor/critic MLP 256-256-128 ELU,
Gaussian init std 0.7; gamma is 0.995 instead of 0.99 (see TRAINING_REWARD). A paper-scale run
(30,000-50,000 envs) needs a GPU simulator backend.
"""

from __future__ import annotations

import copy

from dexndm_sim.env import RotationEnvConfig
from dexndm_sim.rewards import RewardConfig

# The paper's reward terms with the penalty weights that learned on this CPU budget
# (docs/notes/rl_feasibility.md), a fall penalty and a heavier linear-velocity weight.
# Measured shortcuts these answer: with the paper-form weights an exploring policy (action std
# 0.7) pays ~0.17 per step in pose/work penalties, so it learned to drop the object within ~20
# steps; with a fall penalty of 2 and gamma 0.99 (a ~100-step horizon) it learned to spin the
# object at the reward clip for ~90 steps and let it go (2.0 rad per episode, 0 of 150 episodes
# held 400 steps). A fall now costs about what 40 steps of clipped rotation earn, and gamma
# 0.995 (below, PPO_DEFAULTS) looks ~200 steps ahead.
TRAINING_REWARD = RewardConfig(pose=0.02, work=0.1, torque=0.005, fall=20.0, linear_velocity=2.0)
TRAINING_FALL_DISTANCE = 0.06

PPO_DEFAULTS: dict = {
    "num_steps_per_env": 32,
    "save_interval": 50,
    "obs_groups": {"actor": ["policy"], "critic": ["critic"]},
    "algorithm": {"class_name": "PPO", "num_learning_epochs": 5, "num_mini_batches": 2,
                  "clip_param": 0.2, "gamma": 0.995, "lam": 0.95, "value_loss_coef": 1.0,
                  "entropy_coef": 0.0, "learning_rate": 3e-4, "max_grad_norm": 1.0,
                  "schedule": "adaptive", "desired_kl": 0.02, "use_clipped_value_loss": True},
    "actor": {"class_name": "MLPModel", "hidden_dims": [256, 256, 128], "activation": "elu",
              "obs_normalization": False,
              "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.7}},
    "critic": {"class_name": "MLPModel", "hidden_dims": [256, 256, 128], "activation": "elu",
               "obs_normalization": False},
    "logger": "tensorboard",
    "seed": 0,
}

# One specialist per object category (paper Table 14); wrists and axes are resampled per reset.
CATEGORY_ENVS: dict[str, dict] = {
    "cylinders": {"categories": ("cylinders",)},
    "cuboids": {"categories": ("cuboids",)},
    "long_cuboids": {"categories": ("long_cuboids",)},
    "small_cylinders": {"categories": ("small_cylinders",)},
    "irregular": {"categories": ("irregular",)},
}


# The environment settings `dexndm train ppo` takes on its command line (flags derived from
# RotationEnvConfig); the rest come from the category (CATEGORY_ENVS, TRAINING_REWARD).
PPO_ENV_OPTIONS = ("num_envs", "categories", "category_shares", "wrists",
                   "wrist_fall_penalties", "axes", "profile",
                   "objects", "object_shares", "randomize_physics",
                   "observe_physics", "mass_range", "friction_range", "grasp_wrist",
                   "grasps_per_object", "grasp_seeds", "min_grasp_hold", "gait_states",
                   "gait_state_share", "threads")
PPO_ENV_DEFAULTS = {"num_envs": 128}


def default_grasp_wrist(wrists: tuple[str, ...]) -> str:
    """Where grasps are searched: the training wrist when there is one canonical wrist (its own
    grasps settle best), else palm_down (the hardest; its grasps hold at every wrist)."""
    return wrists[0] if len(wrists) == 1 and wrists[0] != "random" else "palm_down"


def ppo_env(category: str, grasp_wrist: str | None = None, **overrides) -> RotationEnvConfig:
    """The environment a PPO specialist of ``category`` trains in."""
    values = {**PPO_ENV_DEFAULTS, **overrides}
    wrists = tuple(values.get("wrists", RotationEnvConfig.wrists))
    return env_config(category, grasp_wrist=grasp_wrist or default_grasp_wrist(wrists), **values)


def env_config(category: str, **overrides) -> RotationEnvConfig:
    if category not in CATEGORY_ENVS:
        raise ValueError(f"unknown category '{category}'; choose {', '.join(CATEGORY_ENVS)}")
    values = {"reward": TRAINING_REWARD, "fall_distance": TRAINING_FALL_DISTANCE,
              **CATEGORY_ENVS[category], **overrides}
    return RotationEnvConfig(**values)


def ppo_config(**overrides) -> dict:
    config = copy.deepcopy(PPO_DEFAULTS)
    config.update(overrides)
    return config
