"""What the model alone says about how far an MEI can be trusted (no truth needed).

Computed by :func:`meiflow.mei.synthesis.chunk_meis` for every unit and written to ``meis.nc``;
the image-metrics stage turns them into the receptive-field mask and the flag of each MEI
(:mod:`meiflow.metrics.trust`).

- Gradient energy (:func:`gradient_energy`): where the model's response is sensitive to the
  image, the root mean square over the natural scenes of the gradient of the response with
  respect to each pixel. Its mask is the model's receptive field, taken from the model and never
  from the MEI (so it exists for real sessions too).
- Spread across initializations (:func:`init_spread`): the MEIs of one unit from different
  starting images should reach the same predicted response; a large spread says the ascent
  ends in different local optima.
- Spread across ensemble members (:func:`ensemble_spread`, ``models.ensemble`` > 1): members
  trained from different seeds agree on the scenes they were fit to but may disagree on an
  image far from them; a large spread says the MEI exploits one member's extrapolation
  (Walker et al. 2019 averaged an ensemble for this reason).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["ensemble_spread", "gradient_energy", "init_spread"]


def gradient_energy(
    response: Callable[[Tensor], Tensor], scenes: Tensor, n_units: int, batch_size: int = 16
) -> Tensor:
    """Root mean square over the scenes of each unit's response gradient, per pixel.

    Args:
        response: paired response function, images (n_units, n, H, W) -> (n_units, n) (e.g.
            ``meiflow.models.ensemble.Ensemble.response``; unit u sees images[u] only).
        scenes: (n_scenes, H, W) luminance in [0, 1], on the model's device.
        n_units: units of ``response``.
        batch_size: scenes per forward and backward pass (memory).

    Returns:
        (n_units, H, W) float32, spikes per unit of luminance:
        sqrt(mean over scenes of (d response / d pixel)^2).

    Raises:
        ValueError: ``scenes`` is not (n_scenes, H, W) with n_scenes >= 1, or ``batch_size``
            is below 1.
    """
    if scenes.ndim != 3 or scenes.shape[0] < 1:
        raise ValueError(f"scenes must be (n_scenes, H, W) with n_scenes >= 1, got {scenes.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    total = torch.zeros(n_units, *scenes.shape[1:], dtype=torch.float64, device=scenes.device)
    for start in range(0, scenes.shape[0], batch_size):
        batch = scenes[start : start + batch_size].to(torch.float32)
        images = batch.unsqueeze(0).expand(n_units, -1, -1, -1).clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(response(images).sum(), images)
        total += gradient.to(torch.float64).pow(2).sum(1)
    return (total / scenes.shape[0]).sqrt().to(torch.float32)


def init_spread(response: Tensor) -> Tensor:
    """Relative range of each unit's predicted MEI response across initializations.

    Args:
        response: (n_units, n_init) predicted responses to the MEIs from each start (spikes).

    Returns:
        (n_units,) (max - min) / max over the starts, in [0, 1] for positive responses; 0 with
        one start; NaN where the best response is not positive.
    """
    best = response.max(dim=1).values
    spread = (best - response.min(dim=1).values) / best
    return torch.where(best > 0, spread, torch.full_like(spread, torch.nan))


def ensemble_spread(member_response: Tensor) -> Tensor:
    """Coefficient of variation of the members' predicted responses to each unit's MEI.

    Args:
        member_response: (n_members, n_units) every member's predicted response to the unit's
            MEI (spikes; ``meiflow.models.ensemble.Ensemble.member_responses`` at the best start).

    Returns:
        (n_units,) std (ddof 0) / mean over the members; NaN with one member or where the mean
        is not positive.
    """
    if member_response.shape[0] < 2:
        return torch.full_like(member_response[0], torch.nan)
    mean = member_response.mean(0)
    spread = member_response.std(0, correction=0) / mean
    return torch.where(mean > 0, spread, torch.full_like(spread, torch.nan))
