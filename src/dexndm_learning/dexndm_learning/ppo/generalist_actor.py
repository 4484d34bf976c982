"""PPO fine-tuning of a distilled generalist (`train ppo --generalist BUNDLE`).

Distillation leaves the proprioceptive student well short of its oracle teacher: it cannot tell
apart, from joint readings alone, states where the teacher acts differently, and imitation
averages over them (docs/base_policy_log.md). Here the student itself becomes the PPO actor, so the
reward, not the teacher's labels, decides what to do where it cannot see: an asymmetric
actor-critic, the actor on exactly what the controller feeds the base policy (T steps of joint
readings and previous targets, wrist, axis), the critic on the oracle observation. The critic and
the per-joint action noise can start from the teacher (``--teacher``), whose critic already
values the oracle states of this task.

The actor is the bundle's own network (input layer, residual blocks, output) with rsl-rl's
Gaussian on top; its mean is the network's output before the deployed network's clamp to
[-1, 1] (the environment clips actions the same way, and a clamp would cut the gradient).
Checkpoints are ordinary rsl-rl ones; ``export_generalist`` writes their actor as a base_policy
bundle the controller runs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from rsl_rl.models import MLPModel
from tensordict import TensorDict
from torch import nn

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import Bundle, load_network, save_bundle
from dexndm_control.policy.networks import GeneralistPolicyNet
from dexndm_control.policy.precision import FLOAT32_NETWORK

BUNDLE_KIND = "base_policy"


class UnclampedGeneralist(nn.Module):
    """A GeneralistPolicyNet's output before its clamp: the Gaussian's mean."""

    def __init__(self, network: GeneralistPolicyNet) -> None:
        super().__init__()
        self.network = network

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.network.unclamped(obs)


class GeneralistActor(MLPModel):
    """rsl-rl actor model whose MLP is a generalist network (``width`` x ``blocks``)."""

    def __init__(self, obs: TensorDict, obs_groups: dict[str, list[str]], obs_set: str,
                 output_dim: int, width: int = 512, blocks: int = 3,
                 distribution_cfg: dict | None = None) -> None:
        # the parent builds a throwaway one-layer MLP, replaced here by the generalist's network
        super().__init__(obs, obs_groups, obs_set, output_dim, hidden_dims=[1],
                         distribution_cfg=distribution_cfg)
        self.mlp = UnclampedGeneralist(GeneralistPolicyNet(self.obs_dim, output_dim, width,
                                                           blocks))

    @property
    def network(self) -> GeneralistPolicyNet:
        return self.mlp.network


def load_generalist(bundle: str | Path) -> tuple[GeneralistPolicyNet, Bundle]:
    """The bundle's network in float32, refused when its weights cannot be trained."""
    network, loaded = load_network(bundle, BUNDLE_KIND)
    precision = loaded.info.get("precision", "fp32")
    if precision not in FLOAT32_NETWORK:
        raise DexndmError(f"{bundle} holds {precision} weights, which PPO cannot train: "
                          "fine-tune the fp32 bundle its training run exported (OUT/best)")
    return network, loaded


def actor_config(network: GeneralistPolicyNet, init_std: float) -> dict:
    """The ``actor`` entry of an rsl-rl config that builds a GeneralistActor like ``network``."""
    # a name, not the class: rsl-rl's config is logged as plain data
    return {"class_name": f"{__name__}:GeneralistActor", "width": network.width,
            "blocks": network.blocks,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": init_std}}


def start_from(actor: GeneralistActor, network: GeneralistPolicyNet) -> None:
    """The actor's mean becomes ``network``'s output (weights and normaliser)."""
    if network.config() != actor.network.config():
        raise DexndmError(f"the actor is {actor.network.config()}, the bundle "
                          f"{network.config()}: the environment's observation does not fit "
                          "the bundle's layout")
    actor.network.load_state_dict(network.state_dict())


def teacher_start(runner, teacher: str | Path, action_std: bool = True) -> None:
    """The teacher's critic, and with ``action_std`` its per-joint action std, into ``runner``
    (its actor is not used)."""
    loaded = torch.load(teacher, weights_only=False, map_location="cpu")
    if "critic_state_dict" not in loaded:
        raise DexndmError(f"--teacher {teacher} holds no critic (shipped checkpoints keep only "
                          "the actor): give a model_N.pt of the specialist's `dexndm train "
                          "ppo` run")
    try:
        runner.alg.critic.load_state_dict(loaded["critic_state_dict"])
    except RuntimeError as error:
        raise DexndmError(f"--teacher {teacher}: its critic does not fit this run's oracle "
                          f"observation ({str(error).splitlines()[0]}); give the specialist "
                          "trained with the same --observe-physics setting") from None
    std = loaded["actor_state_dict"].get("distribution.std_param")
    if action_std and std is not None:
        with torch.no_grad():
            runner.alg.actor.distribution.std_param.copy_(std)


def export_generalist(checkpoint: str | Path, source: Bundle, out: str | Path,
                      training: dict | None = None) -> Path:
    """A fine-tuning checkpoint's actor as a base_policy bundle: the layout, action scale and
    start pose of ``source`` (the bundle it was fine-tuned from), that bundle's path, the
    checkpoint and the run's ``training`` config."""
    state = torch.load(checkpoint, weights_only=False, map_location="cpu")["actor_state_dict"]
    prefix = "mlp.network."
    weights = {key.removeprefix(prefix): value for key, value in state.items()
               if key.startswith(prefix)}
    if not weights:
        raise DexndmError(f"{checkpoint} is not a generalist fine-tuning checkpoint (no "
                          f"{prefix}* weights): export model_N.pt of a `train ppo --generalist` "
                          "run")
    kept = {key: value for key, value in source.info.items()
            if key in ("layout", "action_scale", "distilled_from")}
    kept.update(source.start_pose)
    return save_bundle(out, BUNDLE_KIND, source.config, weights,
                       {**kept, "fine_tuned_from": str(source.path),
                        "fine_tuning_checkpoint": str(checkpoint), "training": training or {}})
