"""What the encoding models learn from: a seeded split of the scenes, per-image targets, and
where each model's readout starts."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

from meiflow.geometry import ScreenGeometry
from meiflow.images import BLANK_FRAME
from meiflow.reliability import image_means

SPLITS = ("train", "validation", "test")


def split_scenes(frames: np.ndarray, validation: float, test: float, seed: int) -> np.ndarray:
    """Assign every frame to ``train``, ``validation`` or ``test``; (n_frames,) str.

    The scenes (frames >= 0) are shuffled with ``seed`` and the first ``round(test * n)`` go to
    test, the next ``round(validation * n)`` to validation; the blank is always a training image.
    The split depends on the set of frames and the seed only, so every unit and every chunk of an
    area (and every area) shares it.
    """
    frames = np.asarray(frames)
    scenes = np.sort(frames[frames != BLANK_FRAME])
    order = np.random.default_rng(seed).permutation(scenes)
    n_test, n_val = round(test * scenes.size), round(validation * scenes.size)
    if scenes.size - n_test - n_val < 2 or n_val < 2 or n_test < 2:
        raise ValueError(
            f"cannot split {scenes.size} scenes into validation {validation} and test {test}: "
            "each part needs at least 2 scenes"
        )
    split = dict.fromkeys(order[:n_test].tolist(), "test")
    split |= dict.fromkeys(order[n_test : n_test + n_val].tolist(), "validation")
    return np.array([split.get(int(f), "train") for f in frames])


def frames_of(ds: xr.Dataset, split: str) -> np.ndarray:
    """The frames of ``ds`` whose ``split`` coordinate is ``split``, in the dataset's order."""
    return ds["frame"].to_numpy()[ds["split"].to_numpy() == split]


def image_targets(counts: xr.Dataset, units: np.ndarray, frames: np.ndarray) -> tuple:
    """Mean count per image of ``units`` for ``frames``, and the trials per image.

    Returns ``means`` (n_frames, n_units) float64 and ``repeats`` (n_frames,) int, in the order
    of ``frames``; a frame that was never shown is an error.
    """
    c = counts["spike_counts"].sel(unit=units).transpose("presentation", "unit").to_numpy()
    means, repeats, ids = image_means(c, counts["frame"].to_numpy().astype(np.int64))
    missing = np.setdiff1d(frames, ids)
    if missing.size:
        raise ValueError(f"frames {missing.tolist()} have no presentation in the count table")
    rows = np.searchsorted(ids, frames)
    return means[rows], repeats[rows]


def pixel_to_grid(
    col: np.ndarray, row: np.ndarray, height: int, width: int, pool: int
) -> np.ndarray:
    """Image pixel coordinates -> (n, 2) (x, y) grid_sample coordinates on the pooled feature
    map (align_corners=True: -1 and 1 are the centres of its first and last pixels), clipped."""
    fx = (np.asarray(col, float) - (pool - 1) / 2) / pool
    fy = (np.asarray(row, float) - (pool - 1) / 2) / pool
    x = fx / (width // pool - 1) * 2 - 1
    y = fy / (height // pool - 1) * 2 - 1
    return np.clip(np.stack([x, y], axis=-1), -1.0, 1.0)


def grid_to_pixel(grid: np.ndarray, height: int, width: int, pool: int) -> np.ndarray:
    """(n, 2) (x, y) grid_sample coordinates -> (n, 2) image pixel (col, row); inverse of
    :func:`pixel_to_grid` inside the feature map."""
    grid = np.asarray(grid, float)
    fx = (grid[:, 0] + 1) / 2 * (width // pool - 1)
    fy = (grid[:, 1] + 1) / 2 * (height // pool - 1)
    return np.stack([fx * pool + (pool - 1) / 2, fy * pool + (pool - 1) / 2], axis=-1)


def filter_peak(weights: np.ndarray, sigma_px: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(col, row) of the peak of the smoothed energy of linear filters (n, H, W)."""
    energy = gaussian_filter(np.asarray(weights, float) ** 2, sigma=(0, sigma_px, sigma_px))
    flat = energy.reshape(len(energy), -1).argmax(axis=1)
    row, col = np.unravel_index(flat, energy.shape[1:])
    return col.astype(float), row.astype(float)


def readout_candidates(
    ranking: xr.Dataset,
    units: np.ndarray,
    ridge_weights: np.ndarray,
    geometry: ScreenGeometry,
    height: int,
    width: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate readout start positions (in image pixels) for every unit.

    A unit with a significant gabor receptive field has one candidate, the fitted centre. The
    others have three: the energy peak of their ridge-regression filter, the peak of their
    (non-significant) gabor map, and the image centre; the caller keeps the candidate whose
    model validates best.

    Returns ``unit_index`` (n_candidates,) into ``units`` and ``pixels`` (n_candidates, 2) as
    (col, row).
    """
    r = ranking.sel(unit=units)
    significant = r["rf_significant"].to_numpy().astype(bool)
    ridge_col, ridge_row = filter_peak(ridge_weights)
    maps = r["rf_map"].to_numpy()
    flat = np.nan_to_num(maps, nan=-np.inf).reshape(len(units), -1).argmax(axis=1)
    iy, ix = np.unravel_index(flat, maps.shape[1:])
    fit_col, fit_row = r["rf_center_col"].to_numpy(), r["rf_center_row"].to_numpy()
    peak_col, peak_row = geometry.deg_to_pixel(
        r["rf_x"].to_numpy()[ix], r["rf_y"].to_numpy()[iy], height, width
    )
    index, pixels = [], []
    for k in range(len(units)):  # a handful of candidates per unit
        if significant[k] and np.isfinite(fit_col[k]):
            options = [(fit_col[k], fit_row[k])]
        else:
            options = [
                (ridge_col[k], ridge_row[k]),
                (peak_col[k], peak_row[k]),
                ((width - 1) / 2, (height - 1) / 2),
            ]
        index += [k] * len(options)
        pixels += options
    return np.array(index), np.array(pixels, dtype=float)
