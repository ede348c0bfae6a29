"""The receptive-field mask of each unit's model and the flag of MEIs not to be trusted.

Both come from the model alone (the signals of :mod:`meiflow.mei.trust` in ``meis.nc`` and the
model's scores in ``model_scores.nc``), never from the truth, so they exist for real
sessions too.

- Receptive-field mask (:func:`rf_mask`): the circle around the unit's gradient energy (the root
  mean square over the scenes of the response's gradient per pixel) that holds ``fraction`` of
  its excess over the median of its border (:func:`meiflow.metrics.image_metrics.image_mask` of
  the energy map: a uniform floor of sensitivity does not widen it), so it is taken from the
  model, not from the MEI. :func:`deviation_outside` gives the share of an image's squared
  deviation from its mean luminance outside it: an MEI's artifacts far from the receptive field.
  On the simulator the true optima keep 2-4 % of their deviation outside the default mask
  (``metrics.rf_mask_fraction`` 0.99; README, "Ground truth").
- Flag (:func:`mei_flags`): an MEI is flagged where its predicted response disagrees across
  initializations (``init_spread`` above ``max_init_spread``) or across ensemble members
  (``ensemble_spread`` above ``max_ensemble_spread``), or where the model itself predicts
  held-out scenes poorly (``model_correlation``, the mean of its correlations on the validation
  and on the test scenes, 24 scenes by default, below ``min_model_correlation``; the validation
  scenes also stopped its training and chose its readout candidate, so that half is optimistic):
  an MEI is an extrapolation of its model, and a model that misses held-out scenes is the
  likeliest to extrapolate wrongly. On the simulator the model criterion carries the flag: after
  the polish every start of a unit reaches the same image (the spread across starts stays below
  5 %; it fires for unpolished recipes), and the validation correlation alone (12 scenes) is a
  noisier estimate than the two sets together (README, "Ground truth").
"""

from __future__ import annotations

import numpy as np

from meiflow.metrics.image_metrics import circular_mask, image_mask
from meiflow.metrics.settings import MetricsSettings

__all__ = ["deviation_outside", "mei_flags", "rf_mask"]


def rf_mask(
    energy: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Circle around a model's gradient energy holding ``fraction`` of its excess over the border.

    Args:
        energy: (..., H, W) gradient energy (``meis.nc``'s ``gradient_energy``), >= 0.
        fraction: share of the (smoothed) energy above the median of its border that the
            circle holds, (0, 1].

    Returns:
        (center_y, center_x, radius, inside): the first three (...) float pixels (see
        :func:`meiflow.metrics.image_metrics.image_mask`), ``inside`` the circle's (..., H, W)
        bool mask (:func:`meiflow.metrics.image_metrics.circular_mask`).

    Raises:
        ValueError: ``fraction`` outside (0, 1], or negative or non-finite energy.
    """
    energy = np.asarray(energy, dtype=float)
    if not np.isfinite(energy).all() or (energy < 0).any():
        raise ValueError("the gradient energy must be finite and non-negative")
    center_y, center_x, radius = image_mask(energy, fraction)
    inside = circular_mask(center_y, center_x, radius, *energy.shape[-2:])
    return center_y, center_x, radius, inside


def deviation_outside(images: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Share of each image's squared deviation from its mean luminance outside a mask.

    Args:
        images: (..., H, W) luminance.
        inside: bool mask broadcast with the images (e.g. :func:`rf_mask`'s).

    Returns:
        (...) in [0, 1]: sum over the pixels outside of (image - mean)^2 over the sum over all
        pixels, the mean over the whole image; NaN for a constant image.
    """
    images = np.asarray(images, dtype=float)
    squared = (images - images.mean(axis=(-2, -1), keepdims=True)) ** 2
    total = squared.sum(axis=(-2, -1))
    outside = (squared * ~np.broadcast_to(inside, squared.shape)).sum(axis=(-2, -1))
    varies = np.ptp(images, axis=(-2, -1)) > 0  # a constant image's squares are round-off
    return np.divide(outside, total, out=np.full(total.shape, np.nan), where=varies)


def mei_flags(
    init_spread: np.ndarray,
    ensemble_spread: np.ndarray,
    model_correlation: np.ndarray,
    settings: MetricsSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Which MEIs not to trust, and why (module docstring).

    Args:
        init_spread: (n_units,) relative range of the MEI's predicted response across starts
            (NaN, where the best response is not positive, never flags).
        ensemble_spread: (n_units,) coefficient of variation across ensemble members (NaN with
            one member: never flags).
        model_correlation: (n_units,) the model's correlation on held-out scenes (NaN flags: a
            model without a score is not to be trusted).
        settings: ``max_init_spread``, ``max_ensemble_spread``, ``min_model_correlation``.

    Returns:
        (flagged, reason): (n_units,) bool and (n_units,) str, the reasons joined by "; "
        (empty where not flagged), e.g. "model r 0.41 < 0.60".
    """
    init_spread, ensemble_spread, model_correlation = (
        np.asarray(v, dtype=float) for v in (init_spread, ensemble_spread, model_correlation)
    )
    checks = (
        (init_spread > settings.max_init_spread, "init spread", init_spread, ">",
         settings.max_init_spread),
        (ensemble_spread > settings.max_ensemble_spread, "ensemble spread", ensemble_spread, ">",
         settings.max_ensemble_spread),
        (~(model_correlation >= settings.min_model_correlation), "model r",
         model_correlation, "<", settings.min_model_correlation),
    )  # fmt: skip
    reasons = [
        "; ".join(
            f"{name} {values[k]:.2f} {sign} {limit:.2f}"
            for failed, name, values, sign, limit in checks
            if failed[k]
        )
        for k in range(init_spread.size)
    ]
    flagged = np.array([bool(reason) for reason in reasons], dtype=bool)
    return flagged, np.array(reasons, dtype=str)
