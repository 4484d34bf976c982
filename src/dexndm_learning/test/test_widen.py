"""dexndm_learning.widen: a grown generalist acts as the original, and with the original frozen
an optimiser step moves only the added units."""

from __future__ import annotations

import pytest
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.networks import GeneralistPolicyNet
from dexndm_learning.widen import freeze_original, widened


def _trained_looking(obs_size: int = 12, width: int = 16, blocks: int = 2) -> GeneralistPolicyNet:
    torch.manual_seed(3)
    net = GeneralistPolicyNet(obs_size, width=width, blocks=blocks)
    net.obs_norm.set(torch.randn(obs_size), torch.rand(obs_size) + 0.5)
    with torch.no_grad():  # biases away from zero, as after training
        for parameter in net.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return net.eval()


def test_a_widened_network_gives_the_original_actions():
    old = _trained_looking()
    new = widened(old, 40).eval()
    assert (new.width, new.blocks) == (40, 2)
    obs = torch.randn(256, 12) * 3
    with torch.no_grad():
        assert torch.allclose(new.unclamped(obs), old.unclamped(obs), atol=1e-5)


def test_with_the_original_frozen_only_the_added_units_move():
    old = _trained_looking()
    new = widened(old, 24)
    freeze_original(new, 16)
    before = {name: value.clone() for name, value in new.state_dict().items()}
    optimiser = torch.optim.Adam(new.parameters(), lr=1e-2)
    for _ in range(3):
        loss = (new.unclamped(torch.randn(64, 12)) - 1.0).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = new.state_dict()
    assert torch.equal(after["input.weight"][:16], before["input.weight"][:16])
    assert torch.equal(after["body.1.nn3.weight"][:16], before["body.1.nn3.weight"][:16])
    assert torch.equal(after["body.0.nn2.bias"][:16], before["body.0.nn2.bias"][:16])
    assert torch.equal(after["output.weight"][:, :16], before["output.weight"][:, :16])
    assert torch.equal(after["output.bias"], before["output.bias"])
    assert not torch.equal(after["input.weight"][16:], before["input.weight"][16:])
    assert not torch.equal(after["output.weight"][:, 16:], before["output.weight"][:, 16:])


def test_a_network_is_only_grown():
    with pytest.raises(DexndmError, match="at least as large"):
        widened(_trained_looking(), 8)
