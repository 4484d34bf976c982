"""The policy's observation normaliser: a feature its data held constant keeps unit scale."""

from __future__ import annotations

import torch

from dexndm_control.policy.networks import Normalizer


def test_features_constant_in_the_fit_take_unit_scale_and_the_fitted_data_maps_as_before():
    # columns: a wrist-quaternion component fixed at 0, one fixed at 1, a joint that moves
    data = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 4.0]])
    norm = Normalizer(3)
    norm.set(data.mean(0), data.std(0))
    torch.testing.assert_close(norm.std, torch.tensor([1e-3, 1e-3, 2.0 ** 0.5]))
    fitted = norm(data)
    # another wrist before the rule: 1000 standard deviations out on both components
    torch.testing.assert_close(norm(torch.tensor([[1.0, 0.0, 3.0]])),
                               torch.tensor([[1000.0, -1000.0, 0.0]]))
    assert norm.unit_scale_constant() == 2
    torch.testing.assert_close(norm.std, torch.tensor([1.0, 1.0, 2.0 ** 0.5]))
    torch.testing.assert_close(norm(data), fitted)  # the fitted data maps as before
    torch.testing.assert_close(norm(torch.tensor([[1.0, 0.0, 3.0]])),
                               torch.tensor([[1.0, -1.0, 0.0]]))
    assert norm.unit_scale_constant() == 0  # nothing left at the floor
