"""The stimulus budget: its exact projection against a general-purpose solver, and its checks."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from meiflow.stimuli.budget import BudgetSettings, StimulusBudget

BUDGET = StimulusBudget(mean=0.48, contrast=0.2)


def images(seed: int, shape=(6, 10, 14), low=-0.4, high=1.5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=generator, dtype=torch.float64)


def slsqp_projection(y: np.ndarray, budget: StimulusBudget) -> np.ndarray:
    """The Euclidean projection of y onto the budget by scipy's SLSQP (constraints as stated)."""
    flat = y.ravel()
    constraints = [
        {"type": "eq", "fun": lambda x: x.mean() - budget.mean},
        {"type": "ineq", "fun": lambda x: budget.contrast**2 - x.var()},
    ]
    result = minimize(
        lambda x: np.square(x - flat).sum(),
        np.full_like(flat, budget.mean),
        jac=lambda x: 2 * (x - flat),
        bounds=[(0.0, 1.0)] * flat.size,
        constraints=constraints,
        method="SLSQP",
        options={"maxiter": 1000, "ftol": 1e-14},
    )
    return result.x.reshape(y.shape)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_projection_matches_a_general_solver(seed):
    y = images(seed, (2, 10, 14))
    projected = BUDGET.project(y)
    assert BUDGET.holds(projected, tolerance=1e-9).all()
    for k in range(2):
        reference = slsqp_projection(y[k].numpy(), BUDGET)
        distance = np.square(projected[k].numpy() - y[k].numpy()).sum()
        assert distance <= np.square(reference - y[k].numpy()).sum() + 1e-7
        np.testing.assert_allclose(projected[k].numpy(), reference, atol=1e-4)


def test_projection_reaches_the_boundary_exactly_from_far_and_near():
    # images far outside (heavy clipping), just outside and inside the ball: the searches end on
    # convergence, so mean and contrast must hold to float64 resolution, not to a loose tolerance
    spread = torch.tensor([0.05, 0.3, 0.5, 3.0, 30.0, 300.0], dtype=torch.float64)[:, None, None]
    generator = torch.Generator().manual_seed(7)
    y = 0.3 + spread * torch.randn(6, 30, 48, generator=generator, dtype=torch.float64)
    projected = BUDGET.project(y)
    mean = projected.mean(dim=(-2, -1))
    std = projected.std(dim=(-2, -1), correction=0)
    np.testing.assert_allclose(mean.numpy(), BUDGET.mean, rtol=0, atol=1e-12)
    assert (std <= BUDGET.contrast * (1 + 1e-12)).all()
    shrunk = std[1:].numpy()  # every image but the faintest needed a < 1 or clipping
    np.testing.assert_allclose(shrunk, BUDGET.contrast, rtol=1e-9)


def test_projection_of_far_away_images_and_refusals():
    # an offset of 1e5 and a spread of 1e5 land on the budget as the same image near 0 does
    generator = torch.Generator().manual_seed(9)
    y = torch.rand(3, 12, 16, generator=generator, dtype=torch.float64)
    near = BUDGET.project(y)
    torch.testing.assert_close(BUDGET.project(y + 1e5), near, atol=1e-9, rtol=0)
    torch.testing.assert_close(BUDGET.project(1e5 * y), BUDGET.project(y * 1e3), atol=1e-6, rtol=0)
    assert BUDGET.holds(BUDGET.project(1e5 * (y - 0.5)), tolerance=1e-9).all()
    for bad, message in (
        (y.long(), "floating point"),
        (torch.where(y > 0.5, float("nan"), y), "NaN or infinite"),
        (1e7 * y, "deviate"),
    ):
        with pytest.raises(ValueError, match=message):
            BUDGET.project(bad)
    assert BUDGET.project(y[:0]).shape == (0, 12, 16)


def test_images_on_the_budget_stay_and_projection_is_idempotent():
    projected = BUDGET.project(images(3))
    torch.testing.assert_close(BUDGET.project(projected), projected, atol=1e-9, rtol=0)
    # a faint image of the right mean is inside the ball: unchanged
    faint = BUDGET.mean + 0.05 * (images(4, low=0, high=1) - 0.5)
    faint = faint - faint.mean(dim=(-2, -1), keepdim=True) + BUDGET.mean
    torch.testing.assert_close(BUDGET.project(faint), faint, atol=1e-9, rtol=0)


def test_projection_keeps_dtype_and_shape():
    y = images(5, (2, 3, 8, 9)).float()
    projected = BUDGET.project(y)
    assert projected.dtype == torch.float32 and projected.shape == y.shape
    assert BUDGET.holds(projected, tolerance=1e-6).all()


def test_the_cheap_step_is_in_range_near_the_mean_and_within_the_contrast():
    stepped = BUDGET.step(images(6))
    assert stepped.min() >= 0 and stepped.max() <= 1
    assert (stepped.std(dim=(-2, -1), correction=0) <= BUDGET.contrast + 1e-12).all()
    # clipping after the mean is set moves the mean a little, not far
    assert ((stepped.mean(dim=(-2, -1)) - BUDGET.mean).abs() < 0.05).all()


def test_holds_names_each_condition():
    on = BUDGET.project(images(7, (4, 10, 14)))
    off = on.clone()
    off[0, 0, 0] = 1.2  # out of range
    off[1] += 0.01  # mean
    # contrast only: an image of the right mean whose deviations are 10 % too large, in range
    faint = (images(8, (10, 14), low=0, high=1) - 0.5) * 2 * BUDGET.contrast
    faint = faint - faint.mean() + BUDGET.mean
    off[2] = BUDGET.mean + (faint - BUDGET.mean) * 1.1 * BUDGET.contrast / faint.std(correction=0)
    assert 0 <= off[2].min() and off[2].max() <= 1
    assert BUDGET.holds(on).all()
    assert BUDGET.holds(off).tolist() == [False, False, False, True]


def test_from_scenes_measures_mean_and_mean_contrast():
    scenes = np.stack([np.full((4, 4), 0.3), np.tile([0.2, 0.8], (4, 2))])
    budget = StimulusBudget.from_scenes(scenes, contrast_scale=2.0)
    assert budget.mean == pytest.approx(0.4)
    assert budget.contrast == pytest.approx(2.0 * (0.0 + 0.3) / 2)


@pytest.mark.parametrize("mean, contrast", [(0.0, 0.2), (1.0, 0.2), (0.5, 0.0), (0.5, np.inf)])
def test_invalid_budgets_raise(mean, contrast):
    with pytest.raises(ValueError):
        StimulusBudget(mean, contrast)


def test_budget_settings_refuse_a_non_positive_scale():
    with pytest.raises(ValueError, match="contrast_scale"):
        BudgetSettings(contrast_scale=0.0)
    with pytest.raises(ValueError, match="n_scenes"):
        StimulusBudget.from_scenes(np.zeros((0, 4, 4)))
