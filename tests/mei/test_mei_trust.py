"""The model's own trust signals of an MEI (meiflow.mei.trust) against analytic cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meiflow.mei.trust import ensemble_spread, gradient_energy, init_spread

H, W = 10, 14


def filters(n_units: int = 3) -> torch.Tensor:
    return torch.randn(
        n_units, H, W, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )


def test_a_linear_units_gradient_energy_is_its_filters_magnitude_on_any_scenes():
    f = filters()
    scenes = torch.rand(7, H, W, generator=torch.Generator().manual_seed(1))
    energy = gradient_energy(lambda x: (x * f[:, None].float()).sum((-2, -1)), scenes, 3)
    np.testing.assert_allclose(energy.numpy(), f.abs().numpy(), rtol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 50])
def test_a_quadratic_units_energy_is_the_rms_over_the_scenes_of_its_gradient(batch_size):
    # r = <f, x - 0.5>^2, so dr/dx = 2 <f, x - 0.5> f: energy = 2 |f| sqrt(mean_s <f, x_s - 0.5>^2)
    f = filters(2).float()
    scenes = torch.rand(7, H, W, generator=torch.Generator().manual_seed(2))
    drive = ((scenes[None] - 0.5) * f[:, None]).sum((-2, -1)).double()  # (unit, scene)
    expected = 2 * f.double().abs() * drive.pow(2).mean(1).sqrt()[:, None, None]

    def response(x):
        return ((x - 0.5) * f[:, None]).sum((-2, -1)).pow(2)

    energy = gradient_energy(response, scenes, 2, batch_size=batch_size)
    assert energy.shape == (2, H, W) and energy.dtype == torch.float32
    np.testing.assert_allclose(energy.numpy(), expected.numpy(), rtol=1e-4)


def test_gradient_energy_refuses_bad_scenes_and_batches():
    with pytest.raises(ValueError, match="n_scenes"):
        gradient_energy(lambda x: x.sum((-2, -1)), torch.zeros(0, H, W), 1)
    with pytest.raises(ValueError, match="batch_size"):
        gradient_energy(lambda x: x.sum((-2, -1)), torch.zeros(2, H, W), 1, batch_size=0)


def test_init_spread_is_the_relative_range_across_starts():
    response = torch.tensor([[2.0, 1.5, 1.0], [4.0, 4.0, 4.0], [-1.0, -2.0, -3.0], [5.0, 0.0, 1.0]])
    np.testing.assert_allclose(init_spread(response).numpy(), [0.5, 0.0, np.nan, 1.0])
    assert init_spread(torch.tensor([[3.0]])).item() == 0.0  # one start: nothing to disagree


def test_ensemble_spread_is_the_members_coefficient_of_variation():
    members = torch.tensor([[1.0, 2.0, 1.0], [3.0, 2.0, -1.0], [2.0, 2.0, -3.0]])  # (member, unit)
    expected = members.numpy().std(0) / members.numpy().mean(0)
    expected[2] = np.nan  # the members' mean response is negative
    np.testing.assert_allclose(ensemble_spread(members).numpy(), expected, rtol=1e-6)
    assert torch.isnan(ensemble_spread(members[:1])).all()  # one member: no spread
