"""The true neurons' optimum and best Gabor on the stimulus budget, against an independent
optimizer (scipy's L-BFGS-B from random starts) and against the natural scenes."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import minimize

from meiflow.ingest.scene_images import model_images
from meiflow.simulation.natural_scenes import natural_scenes
from meiflow.simulation.neurons import TrueNeurons
from meiflow.simulation.optima import optimal_images, true_best_gabors
from meiflow.stimuli.budget import StimulusBudget
from meiflow.stimuli.geometry import ScreenGeometry

GEOM = ScreenGeometry()
H, W = 30, 48
TYPES = ["simple", "complex", "center_surround", "conjunction"]


@pytest.fixture(scope="module")
def searched():
    n = len(TYPES)
    params = pd.DataFrame(
        {
            "cell_type": TYPES,
            "center_x_deg": [-10.0, 15.0, 0.0, 5.0],
            "center_y_deg": [5.0, -10.0, 0.0, 5.0],
            "orientation_deg": [30.0, 100.0, 0.0, 60.0],
            "sf_cpd": [0.06, 0.05, 0.05, 0.06],
            "sigma_deg": [7.0, 8.0, 8.0, 5.0],
            "phase_rad": [0.5, 0.0, 0.0, 0.0],
            "angle_deg": [90.0] * n,
            "polarity": [1.0, 1.0, -1.0, 1.0],
            "surround_weight": [1.0] * n,
            "normalization": [0.1] * n,
            "spontaneous_rate_hz": [2.0] * n,
            "peak_rate_hz": [20.0] * n,
            "modulation": [1.0] * n,
            "exponent": [2.0] * n,
            "semi_saturation": [1.5] * n,
        }
    )
    scenes = model_images(natural_scenes(2, 30), H, W)
    budget = StimulusBudget.from_scenes(scenes)
    neurons = TrueNeurons(params, GEOM, H, W)
    optimum, drive = optimal_images(neurons, budget)
    return neurons, budget, scenes, optimum, drive


def independent_optimum(neurons, budget, unit: int, starts: int = 20) -> float:
    """The best drive of ``unit`` that L-BFGS-B finds from random starts in [0, 1] (the box as
    bounds, mean and contrast as quadratic penalties), each result projected onto the budget."""
    rng = np.random.default_rng(unit)

    def single(x: torch.Tensor) -> torch.Tensor:
        return neurons.drive(x.view(1, H, W))[unit, 0]

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.as_tensor(flat).requires_grad_(True)
        penalty = (x.mean() - budget.mean) ** 2 + torch.relu(
            x.var(correction=0) - budget.contrast**2
        ) ** 2
        value = -single(x) + 1e4 * penalty
        (gradient,) = torch.autograd.grad(value, x)
        return value.item(), gradient.numpy()

    best = -np.inf
    for _ in range(starts):
        result = minimize(
            objective,
            rng.random(H * W),
            jac=True,
            method="L-BFGS-B",
            bounds=[(0, 1)] * (H * W),
            options={"maxiter": 300},
        )
        projected = budget.project(torch.as_tensor(result.x).view(1, H, W))
        with torch.no_grad():
            best = max(best, single(projected[0]).item())
    return best


@pytest.mark.slow
@pytest.mark.parametrize("unit", range(len(TYPES)), ids=TYPES)
def test_no_independent_optimizer_beats_the_stored_optimum(searched, unit):
    neurons, budget, _, optimum, drive = searched
    assert budget.holds(torch.as_tensor(optimum), tolerance=1e-9).all()
    assert independent_optimum(neurons, budget, unit) <= 1.01 * drive[unit]


def test_the_optimum_beats_every_scene_on_the_budget(searched):
    neurons, budget, scenes, _, drive = searched
    with torch.no_grad():
        scene_drive = neurons.drive(budget.project(torch.as_tensor(scenes))).numpy()
    assert (scene_drive.max(axis=1) < drive).all()


def test_the_best_gabor_is_on_the_budget_and_only_simple_cells_reach_the_optimum(searched):
    neurons, budget, _, _, drive = searched
    params_centers = np.array([[-10.0, 5.0], [15.0, -10.0], [0.0, 0.0], [5.0, 5.0]])
    images, gabor_drive = true_best_gabors(neurons, budget, GEOM, params_centers, window=(2, 2))
    assert budget.holds(torch.as_tensor(images), tolerance=1e-9).all()
    ratio = gabor_drive / drive
    assert (ratio <= 1.0 + 1e-6).all()
    assert ratio[0] >= 0.9  # a simple cell's optimum is a Gabor patch (on a coarse grid here)
    assert ratio[3] < 0.8  # a corner is not
