"""Loading a checkpoint into a runner whose observation may be wider than the checkpoint's.

A specialist trained before the oracle saw the object's physics (``observe_physics``) has an
actor of 204 inputs; a run that adds the physics has 209, the new ones last. ``--init`` starts
such a run from the old actor by giving the new inputs zero weight, so the warm start acts
exactly as the old actor did until PPO learns what the physics are worth. ``--resume`` continues
one run and so needs the same width (the critic and optimiser state come with it).
"""

from __future__ import annotations

from pathlib import Path

import torch

from dexndm_control.errors import DexndmError


def first_layer_key(state_dict: dict[str, torch.Tensor]) -> str:
    """The name of the first linear layer's weight (an MLP's input layer)."""
    for key, value in state_dict.items():
        if key.endswith(".weight") and value.ndim == 2:
            return key
    raise DexndmError("the checkpoint's actor has no linear layer: give a model_N.pt of a "
                      "`dexndm train ppo` run")


def input_width(state_dict: dict[str, torch.Tensor]) -> int:
    return int(state_dict[first_layer_key(state_dict)].shape[1])


def widen_inputs(state_dict: dict[str, torch.Tensor], width: int) -> dict[str, torch.Tensor]:
    """A copy of ``state_dict`` whose input layer takes ``width`` inputs: the extra ones (last)
    get zero weight, so the network's outputs do not change."""
    key = first_layer_key(state_dict)
    weight = state_dict[key]
    if width < weight.shape[1]:
        raise DexndmError(f"the checkpoint's actor takes {weight.shape[1]} inputs, more than "
                          f"this environment's {width}: train with the observation it had")
    widened = dict(state_dict)
    widened[key] = torch.cat([weight, weight.new_zeros(weight.shape[0],
                                                       width - weight.shape[1])], dim=1)
    return widened


def load_checkpoint(runner, checkpoint: str | Path, observation_width: int, resume: bool,
                    map_location: str | None = None, loaded: dict | None = None) -> None:
    """``--resume`` (everything, same width) or ``--init`` (the actor, widened if need be);
    ``loaded``: the checkpoint when the caller has read it already."""
    if loaded is None:
        loaded = torch.load(checkpoint, weights_only=False, map_location=map_location)
    width = input_width(loaded["actor_state_dict"])
    if resume:
        if width != observation_width:
            raise DexndmError(f"--resume {checkpoint}: its actor takes {width} inputs, this "
                              f"environment gives {observation_width} (--observe-physics adds "
                              "the object's 5): resume with the run's own setting, or start a "
                              "new run from it with --init")
        runner.alg.load(loaded, None, strict=True)  # all of it, as runner.load would
        # model_N holds the actor after update N: the next update is N + 1 (rsl-rl's load would
        # repeat N and save over model_N, which a same-directory resume has already scored)
        runner.current_learning_iteration = loaded["iter"] + 1
        return
    actor = widen_inputs(loaded["actor_state_dict"], observation_width)
    runner.alg.load({**loaded, "actor_state_dict": actor}, {"actor": True}, strict=True)
