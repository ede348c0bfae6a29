"""The true model neurons' best images on the stimulus budget: optimum and best Gabor.

Both searches run the project's own code on the true neurons (:class:`TrueNeurons`), so the
truth is found the way the pipeline finds its MEIs and Gabor controls, only on the real neuron:

- the best Gabor: :func:`meiflow.mei.gabor_search.best_gabors` (Walker et al.'s grid of
  shapes at the grid position nearest the true receptive-field centre, then refinement of the
  best candidates, position included), every candidate matched to the budget's mean luminance and
  contrast, the result projected onto the budget;
- the optimum: :func:`meiflow.mei.synthesis.synthesize` (Walker et al.'s normalized,
  Fourier-preconditioned gradient ascent, with a light blur that decays to none) on the budget
  from several starts, the unit's best Gabor among them, the best start kept and polished with
  exact projections onto the budget.

Both maximize the drive (the rate is an increasing function of it); units and starts are batch
dimensions.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from meiflow.mei.gabor_search import GaborGrid, best_gabors
from meiflow.mei.settings import POLISH, MEISettings
from meiflow.mei.synthesis import initial_images, synthesize
from meiflow.simulation.neurons import TrueNeurons
from meiflow.stimuli.budget import StimulusBudget
from meiflow.stimuli.geometry import ScreenGeometry

__all__ = ["OPTIMUM_SEARCH", "optimal_images", "true_best_gabors"]

log = logging.getLogger(__name__)

#: The optimum search: walker steps on the budget, blur from 1 px to none, two starts (and the
#: unit's best Gabor, see optimal_images) ...
OPTIMUM_SEARCH = MEISettings(
    method="walker",
    steps=100,
    step_size=1.0,
    final_step_size=0.02,
    step_gain=0.1,
    blur_sigma=1.0,
    final_blur_sigma=0.01,
    initializations=("gray:0", "noise:0"),
    polish=False,  # optimal_images polishes the best start only
)
#: ... then a polish of the best start: the MEI stage's (meiflow.mei.settings.POLISH).


def optimal_images(
    neurons: TrueNeurons,
    budget: StimulusBudget,
    settings: MEISettings = OPTIMUM_SEARCH,
    polish: tuple[MEISettings, ...] = POLISH,
    starts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's most exciting image on the budget.

    Args:
        neurons: the units to search (n_units; drives only, calibration not needed).
        budget: the stimulus budget.
        settings: the gradient ascent and its starts (``initializations``, ``seed``).
        polish: the step schedules, run one after the other from the best start, with exact
            projections (``exact_budget``).
        starts: optional (n_units, k, H, W) further starting images of each unit, e.g. its
            true best Gabor, so that the optimum is never worse than that image.

    Returns:
        (n_units, H, W) float64 images on the budget and (n_units,) their drive; the best of
        the starts per unit.
    """
    n_units = len(neurons.cell_type)
    start = initial_images(
        n_units,
        neurons.height,
        neurons.width,
        settings.initializations,
        settings.seed,
        dtype=torch.float64,
    )
    if starts is not None:
        start = torch.cat((start, torch.as_tensor(starts, dtype=torch.float64)), dim=1)
    result = synthesize(neurons.search_objective, start, settings, budget.contrast, budget=budget)
    best = result.response.argmax(dim=1)
    images = result.images[torch.arange(n_units), best]
    for schedule in polish:
        images = synthesize(
            neurons.search_objective,
            images[:, None],
            schedule,
            budget.contrast,
            budget=budget,
            exact_budget=True,
        ).images[:, 0]
    with torch.no_grad():
        drive = neurons.drive(images[:, None]).squeeze(1)
        if starts is not None:  # never worse than a given start
            given = budget.project(torch.as_tensor(starts, dtype=torch.float64))
            given_drive = neurons.drive(given)
            best_given = given_drive.argmax(dim=1)
            units = torch.arange(n_units)
            better = given_drive[units, best_given] > drive
            images = torch.where(better[:, None, None], given[units, best_given], images)
            drive = torch.maximum(drive, given_drive[units, best_given])
    log.info("optimum search: %d units x %d starts", n_units, start.shape[1])
    return images.numpy(), drive.numpy()


def true_best_gabors(
    neurons: TrueNeurons,
    budget: StimulusBudget,
    geometry: ScreenGeometry,
    centers_deg: np.ndarray,
    *,
    window: tuple[int, int] = (1, 1),
    top_k: int = 8,
    refine_steps: int = 100,
    batch_size: int = 256,
    dtype: torch.dtype = torch.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's best Gabor patch on the budget (Walker et al.'s grid plus refinement).

    Args:
        neurons: the units to search (n_units).
        budget: the stimulus budget: every candidate is matched to its mean luminance and
            contrast (:func:`meiflow.mei.gabor_search.match_mean_std`).
        geometry: the screen the neurons were rendered for.
        centers_deg: (n_units, 2) (x, y) deg: each unit's receptive-field centre.
        window: (rows, columns) of grid positions nearest each centre that the grid tries.
        top_k: grid candidates refined per unit.
        refine_steps: refinement steps of each.
        batch_size: candidates per unit per call.
        dtype: of the search (the images' final projection and drive are in float64).

    Returns:
        (n_units, H, W) float64 images, projected onto the budget, and (n_units,) their drive.
    """
    n_units = len(neurons.cell_type)
    level = torch.full((n_units,), budget.mean, dtype=dtype)
    contrast = torch.full((n_units,), budget.contrast, dtype=dtype)
    found = best_gabors(
        neurons.search_objective,
        n_units,
        level,
        contrast,
        neurons.height,
        neurons.width,
        geometry,
        GaborGrid.walker(neurons.height, neurons.width),
        top_k=top_k,
        batch_size=batch_size,
        refine_steps=refine_steps,
        centers_deg=centers_deg,
        window=window,
    )
    images = budget.project(found.images.double())
    with torch.no_grad():
        drive = neurons.drive(images[:, None]).squeeze(1)
    return images.numpy(), drive.numpy()
