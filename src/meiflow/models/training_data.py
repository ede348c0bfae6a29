"""What the encoding models learn from.

A seeded split of the scenes, per-image targets, and the readout candidates (where readouts start).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

from meiflow.ingest.counts import valid_subsets
from meiflow.ingest.scene_images import BLANK_FRAME
from meiflow.ranking.reliability import image_means
from meiflow.stats import zscore_rows
from meiflow.stimuli.geometry import ScreenGeometry

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

    Each unit's means leave out its invalid trials (the count table's ``valid``).

    Returns:
        means: (n_frames, n_units) float64, in the order of ``frames``.
        repeats: (n_frames,) int, in the order of ``frames``, when the units share their valid
            trials; else (n_frames, n_units), each unit's valid trials per image.

    Raises:
        ValueError: a frame without a (valid) presentation, naming the frames and the units.
    """
    parts = valid_subsets(counts.sel(unit=units))
    if len(parts) == 1:
        return _image_targets(parts[0][1], frames)
    means, repeats = np.empty((len(frames), len(units))), np.empty((len(frames), len(units)), int)
    for columns, part in parts:
        m, r = _image_targets(part, frames)
        means[:, columns], repeats[:, columns] = m, r[:, None]
    return means, repeats


def _image_targets(counts: xr.Dataset, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`image_targets` of a count table whose units share their trials."""
    c = counts["spike_counts"].transpose("presentation", "unit").to_numpy()
    means, repeats, ids = image_means(c, counts["frame"].to_numpy().astype(np.int64))
    missing = np.setdiff1d(frames, ids)
    if missing.size:
        raise ValueError(
            f"frames {missing.tolist()} have no valid presentation in the count table for units "
            f"{counts['unit'].to_numpy().tolist()}"
        )
    rows = np.searchsorted(ids, frames)
    return means[rows], repeats[rows]


def pixel_to_grid(
    col: np.ndarray, row: np.ndarray, height: int, width: int, pool: int
) -> np.ndarray:
    """Image pixel coordinates -> (n, 2) (x, y) grid_sample coordinates, clipped.

    The coordinates are on the pooled feature map (align_corners=True: -1 and 1 are the centres of
    its first and last pixels).
    """
    fx = (np.asarray(col, float) - (pool - 1) / 2) / pool
    fy = (np.asarray(row, float) - (pool - 1) / 2) / pool
    x = fx / (width // pool - 1) * 2 - 1
    y = fy / (height // pool - 1) * 2 - 1
    return np.clip(np.stack([x, y], axis=-1), -1.0, 1.0)


def grid_to_pixel(grid: np.ndarray, height: int, width: int, pool: int) -> np.ndarray:
    """(n, 2) (x, y) grid_sample coordinates -> (n, 2) image pixel (col, row).

    The inverse of :func:`pixel_to_grid` inside the feature map.
    """
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


#: Gaussian sds (deg) of the local contrast energy that locates a receptive field from the
#: scenes (:func:`energy_peak`); the scale whose peak correlates best is kept, per unit.
ENERGY_SCALES_DEG = (3.0, 4.5, 6.0, 8.5, 11.5)


def local_energy(images: np.ndarray, sd_px: tuple[float, float]) -> np.ndarray:
    """(n, H, W) local contrast energy of images (n, H, W).

    The square of each image minus its Gaussian blur of sd ``sd_px`` (along y, along x; pixels),
    pooled by the same Gaussian. A phase-blind detector at every pixel, the receptive field of an
    energy (complex) cell.
    """
    images = np.asarray(images, dtype=float)
    band = images - gaussian_filter(images, sigma=(0, *sd_px))
    return gaussian_filter(band**2, sigma=(0, *sd_px))


def energy_peak(
    images: np.ndarray, responses: np.ndarray, scales_px: list[tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """(col, row) per unit of the pixel whose local contrast energy correlates best with it.

    The pixel whose local contrast energy correlates best with the unit's responses, over every
    scale of ``scales_px`` (the best scale wins, per unit).

    Where a linear filter cannot see a complex cell (its ridge filter is noise), its
    contrast energy still peaks at its receptive field; for simple cells it is a weaker guess.

    Args:
        images: (n_images, H, W) scenes (training scenes only: the result picks a model).
        responses: (n_images, n_units) mean response per image.
        scales_px: (sd along y, sd along x) pixels of each :func:`local_energy` tried.
    """
    y = zscore_rows(np.asarray(responses).T)  # (n_units, n_images)
    best_r = np.full(len(y), -np.inf)
    best_pixel = np.zeros(len(y), dtype=np.int64)
    for sd in scales_px:  # a handful of scales
        energy = zscore_rows(local_energy(images, sd).reshape(len(images), -1).T)
        r = y @ energy.T / len(images)  # (n_units, H * W) Pearson r
        peak = r.argmax(axis=1)
        better = r[np.arange(len(peak)), peak] > best_r
        best_r[better] = r[better, peak[better]]
        best_pixel[better] = peak[better]
    row, col = np.unravel_index(best_pixel, np.shape(images)[1:])
    return col.astype(float), row.astype(float)


def readout_candidates(
    ranking: xr.Dataset,
    units: np.ndarray,
    ridge_weights: np.ndarray,
    geometry: ScreenGeometry,
    train_images: np.ndarray,
    train_responses: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Readout candidates: positions (in image pixels) where a readout starts, for every unit.

    A unit with a significant gabor receptive field has one candidate, the fitted centre. The
    others have three: the energy peak of their ridge-regression filter (simple cells), the
    peak of their (non-significant) gabor map, and the peak of the correlation of their
    responses with the scenes' local contrast energy (:func:`energy_peak`, complex cells); the
    caller keeps the candidate whose model validates best.

    Args:
        ranking: the area's ranking (``rf_significant``, ``rf_center_col``/``_row``,
            ``rf_map`` on ``rf_y``, ``rf_x`` in deg).
        units: (n_units,) unit ids.
        ridge_weights: (n_units, H, W) ridge filters at image resolution.
        geometry: the screen geometry of the images.
        train_images: (n_train, H, W) training scenes.
        train_responses: (n_train, n_units) the units' mean responses to them.

    Returns:
        unit_index: (n_candidates,) into ``units``.
        pixels: (n_candidates, 2) as (col, row).
    """
    height, width = np.shape(train_images)[1:]
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
    ppd_y, ppd_x = geometry.pixels_per_degree(height, width)
    energy_col, energy_row = energy_peak(
        train_images, train_responses, [(sd * ppd_y, sd * ppd_x) for sd in ENERGY_SCALES_DEG]
    )
    index, pixels = [], []
    for k in range(len(units)):  # a handful of candidates per unit
        if significant[k] and np.isfinite(fit_col[k]):
            options = [(fit_col[k], fit_row[k])]
        else:
            options = [
                (ridge_col[k], ridge_row[k]),
                (peak_col[k], peak_row[k]),
                (energy_col[k], energy_row[k]),
            ]
        index += [k] * len(options)
        pixels += options
    return np.array(index), np.array(pixels, dtype=float)
