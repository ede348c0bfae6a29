"""Linear baseline: ridge regression of every unit's mean response on the image pixels.

Model: ``rate(image) = sum((image - pixel_mean) * weights) + intercept`` per unit, fitted by ridge
regression on the training images, with the ridge strength chosen per unit on validation images.

One thin SVD of the centred training design ``X = U diag(s) V^T`` serves all units and all
ridge strengths: the ridge weights are ``V diag(s / (s^2 + alpha)) U^T Y`` for the centred
targets Y (n, n_units), so each candidate alpha costs two small matrix products for all units at
once. Design rank is at most n_train - 1 (the centring removes one direction), far below the
5,760 pixels of a 60 x 96 image: without a penalty the fit interpolates the training images.

Downsampling. With ~94 training images and 5,760 pixels the weights are hugely underdetermined;
ridge keeps them finite, but the minimum-norm solution happily uses fine, pixel-level structure
that happens to separate the training images. ``downsample=k`` averages the images over k x k
blocks first (area averaging of :mod:`meiflow.ingest.resize`, exactly block averaging when k divides
the image size; an image side not divisible by k gets ceil(side / k) blocks of equal fractional
width), which restricts the filter to block-constant maps: a low-pass prior that reduces the
variance of the fit (and the cost) at the price of bias for receptive fields finer than k
pixels. Mouse visual receptive fields are coarse compared to the 60 x 96 grid, so k = 2..4 is a
reasonable choice; the default k = 1 leaves the images as they are. The returned weights are
always at full resolution (each block's weight spread evenly over its pixels), so ``predict``
takes full-resolution images and the maps of different ``downsample`` values are comparable.
The alphas are absolute: averaging over blocks shrinks the design's squared singular values by
about k^2 for smooth images (fewer pixels of similar variance; more for fine-grained ones), so the
useful range of alpha shifts with k; check that the chosen alphas are not at the grid's ends.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from meiflow.ingest.resize import area_weights
from meiflow.models.chunks import selected_units
from meiflow.models.training_data import image_targets
from meiflow.ranking.selection import empty_area_reason
from meiflow.stats import pearson

__all__ = ["DEFAULT_ALPHAS", "RidgeFit", "fit_ridge", "linear_dataset"]

log = logging.getLogger(__name__)

#: Default candidate ridge strengths, 1e-2 .. 1e5 (15 values, log-spaced); read-only.
DEFAULT_ALPHAS = np.logspace(-2, 5, 15)
DEFAULT_ALPHAS.flags.writeable = False


@dataclass(frozen=True)
class RidgeFit:
    """A ridge fit of every unit on image pixels.

    Attributes:
        weights: (n_units, H, W) linear filter of each unit at full image resolution.
        intercept: (n_units,) prediction for the mean training image (the mean training target).
        alpha: (n_units,) ridge strength chosen for each unit.
        pixel_mean: (H, W) mean training image, subtracted before the weights are applied.
        validation_correlation: (n_units,) Pearson r of prediction and target across the
            validation images at the chosen alpha (NaN where undefined). Being the best of
            several alphas on the same images, it (slightly) overestimates the correlation on
            new images.
    """

    weights: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray
    pixel_mean: np.ndarray
    validation_correlation: np.ndarray

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Predicted rates (n, n_units) for images (n, H, W) of the training size."""
        images = np.asarray(images, dtype=np.float64)
        if images.ndim != 3 or images.shape[1:] != self.pixel_mean.shape:
            raise ValueError(
                f"images have shape {images.shape}, expected (n, {self.pixel_mean.shape[0]}, "
                f"{self.pixel_mean.shape[1]})"
            )
        centred = (images - self.pixel_mean).reshape(images.shape[0], -1)
        return centred @ self.weights.reshape(self.weights.shape[0], -1).T + self.intercept


def _block_weights(shape: tuple[int, int], downsample: int) -> tuple[np.ndarray, np.ndarray]:
    """Averaging matrices (h_out, H) and (w_out, W) of k x k blocks, k = ``downsample``.

    Identities for k = 1; otherwise ceil(side / k) outputs per side, rows summing to 1.
    """
    return tuple(
        np.eye(n) if downsample == 1 else area_weights(n, -(-n // downsample)) for n in shape
    )


def _check_pair(images: np.ndarray, targets: np.ndarray, name: str) -> tuple[np.ndarray, ...]:
    images = np.asarray(images, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if images.ndim != 3 or targets.ndim != 2 or images.shape[0] != targets.shape[0]:
        raise ValueError(
            f"{name}: expected images (n, H, W) and targets (n, n_units), got {images.shape} and "
            f"{targets.shape}"
        )
    return images, targets


def fit_ridge(
    images_train: np.ndarray,
    targets_train: np.ndarray,
    images_val: np.ndarray,
    targets_val: np.ndarray,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    downsample: int = 1,
    criterion: Literal["correlation", "mse"] = "correlation",
) -> RidgeFit:
    """Ridge regression of every unit's targets on the pixels, alpha chosen per unit.

    The pixels are centred by the training mean image and the targets by their training mean, so
    the intercept is not penalized.

    Selecting by correlation ignores the prediction's scale, which ridge shrinks towards the mean
    by a factor the correlation cannot see: the modulation of the fitted rates can be far off
    (too small at large alphas, too large at small ones), which matters for MSE and FEVE but not
    for the correlation or for an MEI. Worse, for a unit with no linear dependence on the image
    the validation r is noise around 0 at every alpha and flat at both ends of the grid (alpha
    far below the smallest squared singular value: the interpolating fit; far above the largest:
    the training cross-covariance direction), so such units get the smallest or the largest
    alpha about equally often. ``"mse"`` penalizes the variance of a prediction that does not
    help and gives most such units an alpha above the largest squared singular value
    (predictions shrunk towards the training mean; chance covariance with the validation noise
    keeps it from always being the largest alpha), at the cost of favouring shrunken
    predictions for weak but real units. Either way the reported
    ``validation_correlation`` is the best of several tries on the same images and so
    overestimates the correlation on new images (slightly: the r of neighbouring alphas are
    strongly correlated), and with ~24 validation images its noise (about 0.2 for a unit without
    signal) dwarfs that bias: judge units on a separate test set.

    Args:
        images_train: (n_train, H, W) images in [0, 1].
        targets_train: (n_train, n_units) mean count per image of every unit.
        images_val: (n_val, H, W) validation images.
        targets_val: (n_val, n_units) their targets.
        alphas: candidate ridge strengths (> 0), penalty ``alpha * ||w||^2`` on the weights of
            the (downsampled) design in which pixels are in [0, 1] units.
        downsample: block size k of the averaging applied before the fit (see the module
            docstring); 1 fits every pixel.
        criterion: how alpha is chosen per unit on the validation images: ``"correlation"``
            the highest Pearson r between prediction and target (the Sensorium score), ``"mse"``
            the lowest mean squared error.

    Returns:
        RidgeFit. On exact ties the largest alpha wins; where the criterion is undefined for every
        alpha (r of constant validation targets) the largest alpha is taken.
    """
    images_train, targets_train = _check_pair(images_train, targets_train, "training set")
    images_val, targets_val = _check_pair(images_val, targets_val, "validation set")
    if images_val.shape[1:] != images_train.shape[1:]:
        raise ValueError(f"image sizes differ: {images_train.shape[1:]} {images_val.shape[1:]}")
    if targets_val.shape[1] != targets_train.shape[1]:
        raise ValueError("training and validation targets have different numbers of units")
    if int(downsample) != downsample or downsample < 1:
        raise ValueError(f"downsample must be a positive integer, got {downsample}")
    # Largest first, so that argmax takes the strongest regularization on ties.
    alphas = np.sort(np.asarray(alphas, dtype=np.float64).ravel())[::-1]
    if alphas.size == 0 or not np.all(alphas > 0):
        raise ValueError("alphas must be a non-empty sequence of positive numbers")
    if criterion not in ("correlation", "mse"):
        raise ValueError(f"criterion must be 'correlation' or 'mse', got {criterion!r}")

    n_train = images_train.shape[0]
    shape = images_train.shape[1:]
    rows, cols = _block_weights(shape, int(downsample))
    pixel_mean = images_train.mean(axis=0)
    x_train = (rows @ (images_train - pixel_mean) @ cols.T).reshape(n_train, -1)
    x_val = (rows @ (images_val - pixel_mean) @ cols.T).reshape(images_val.shape[0], -1)
    intercept = targets_train.mean(axis=0)

    u, s, vt = np.linalg.svd(x_train, full_matrices=False)  # (n, r), (r,), (r, p)
    projected_targets = u.T @ (targets_train - intercept)  # (r, n_units)
    projected_val = x_val @ vt.T  # (n_val, r)
    shrink = s / (s**2 + alphas[:, None])  # (n_alphas, r)
    predictions = (projected_val * shrink[:, None, :]) @ projected_targets  # (n_alphas, n_val, u)
    r_val = pearson(predictions, np.broadcast_to(targets_val, predictions.shape), axis=1)

    if criterion == "correlation":
        score = r_val
    else:
        score = -np.mean((predictions - (targets_val - intercept)) ** 2, axis=1)
    best = np.argmax(np.where(np.isfinite(score), score, -np.inf), axis=0)  # (n_units,)
    units = np.arange(best.size)
    weights = vt.T @ (shrink[best].T * projected_targets)  # (p, n_units)
    weights = rows.T @ weights.T.reshape(-1, rows.shape[0], cols.shape[0]) @ cols  # (u, H, W)
    return RidgeFit(
        weights=weights,
        intercept=intercept,
        alpha=alphas[best],
        pixel_mean=pixel_mean,
        validation_correlation=r_val[best, units],
    )


def linear_dataset(
    ranking: xr.Dataset,
    images: xr.DataArray,
    split: np.ndarray,
    scenes: xr.Dataset,
    downsample: int,
) -> xr.Dataset:
    """The ridge baseline of an area's selected units (``linear.nc``).

    Args:
        ranking: the area's ranking (``selected`` and ``reason`` on ``unit``, best rank first).
        images: the scenes at model resolution (frame, y, x), in [0, 1].
        split: (n_frames,) ``train``, ``validation`` or ``test`` of each frame.
        scenes: the natural-scene count table (``spike_counts`` (presentation, unit), ``frame``).
        downsample: block-averaging factor of the pixels before the regression.

    Returns:
        ``weights`` (unit, y, x), ``alpha`` and ``validation_correlation`` (unit) and
        ``predicted_rate`` (unit, frame) in spikes per presentation, fitted on the training
        frames with alpha chosen per unit on the validation frames; no unit selected: only the
        coordinates, and ``empty_reason`` in the attributes
        (:func:`meiflow.ranking.selection.empty_area_reason`).
    """
    units = selected_units(ranking)
    frames = images["frame"].to_numpy()
    pixels = images.to_numpy()
    ds = xr.Dataset(
        coords={
            "unit": units,
            "frame": frames,
            "split": ("frame", split),
            "y": images["y"].to_numpy(),
            "x": images["x"].to_numpy(),
        }
    )
    if units.size:
        means, _ = image_targets(scenes, units, frames)
        train, val = split == "train", split == "validation"
        fit = fit_ridge(pixels[train], means[train], pixels[val], means[val], downsample=downsample)
        ds["weights"] = (("unit", "y", "x"), fit.weights)
        ds["alpha"] = ("unit", fit.alpha)
        ds["validation_correlation"] = ("unit", fit.validation_correlation)
        ds["predicted_rate"] = (("unit", "frame"), fit.predict(pixels).T)
        log.info(
            "ridge: median validation r %.3f over %d units",
            np.nanmedian(fit.validation_correlation),
            units.size,
        )
    else:
        ds.attrs["empty_reason"] = empty_area_reason(ranking)
        log.warning("the linear baseline is empty: %s", ds.attrs["empty_reason"])
    ds.attrs["description"] = "ridge regression on pixels, alpha chosen per unit on validation"
    return ds
