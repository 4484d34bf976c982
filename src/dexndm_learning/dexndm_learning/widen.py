"""A wider generalist that acts exactly as a trained one, to distil more categories into it
without first overwriting what it does.

The new hidden units read the old ones (fresh initialisation) but write nothing to them or to
the output (zero weights), so training starts at the trained policy. ``freeze_original`` keeps
the original weights fixed, so only the added units learn (a progressive-network split).
"""

from __future__ import annotations

import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.networks import GeneralistPolicyNet


def _grow(new: torch.nn.Linear, old: torch.nn.Linear) -> None:
    """``new`` keeps ``old`` in its leading block; what new inputs feed old outputs is zero."""
    rows, columns = old.weight.shape
    with torch.no_grad():
        new.weight[:rows, :columns] = old.weight.float()
        new.weight[:rows, columns:] = 0.0
        new.bias[:rows] = old.bias.float()


def widened(old: GeneralistPolicyNet, width: int) -> GeneralistPolicyNet:
    """``old`` grown to ``width`` hidden units per layer, acting as ``old`` does."""
    if width < old.width:
        raise DexndmError(f"can only grow the network ({old.width} wide): pass a width at "
                          "least as large")
    new = GeneralistPolicyNet(old.obs_size, old.joints, width, old.blocks)
    new.obs_norm.load_state_dict(old.obs_norm.state_dict())
    _grow(new.input, old.input)
    for new_block, old_block in zip(new.body, old.body, strict=True):
        for name in ("nn1", "nn2", "nn3"):
            _grow(getattr(new_block, name), getattr(old_block, name))
    with torch.no_grad():
        new.output.weight.zero_()
        new.output.weight[:, :old.width] = old.output.weight.float()
        new.output.bias.copy_(old.output.bias.float())
    return new


def freeze_original(new: GeneralistPolicyNet, width: int) -> None:
    """Keep what ``widened`` copied from a ``width``-wide network fixed: every weight
    into an original unit (and its bias), and the original units' weights to the output. The
    added units learn, and reach the original ones only through the output. (The gradients of
    the fixed entries are zeroed, and Adam never moves a parameter whose gradient is always
    zero.)"""
    for layer in [new.input, *(getattr(b, n) for b in new.body for n in ("nn1", "nn2", "nn3"))]:
        _zero_gradient(layer.weight, (slice(0, width), slice(None)))
        _zero_gradient(layer.bias, (slice(0, width),))
    _zero_gradient(new.output.weight, (slice(None), slice(0, width)))
    _zero_gradient(new.output.bias, (slice(None),))


def _zero_gradient(parameter: torch.nn.Parameter, fixed: tuple[slice, ...]) -> None:
    mask = torch.ones_like(parameter)
    mask[fixed] = 0.0
    parameter.register_hook(lambda grad: grad * mask)
