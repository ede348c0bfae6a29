"""Spatial receptive fields from the Allen 'gabors' stimulus: maps, significance, centre and size.

The Allen receptive-field mapping stimulus shows a 20 deg drifting Gabor (one full drift cycle
per 250 ms presentation) at 9 x 9 positions and 3 orientations. As in AllenSDK's
``ReceptiveFieldMapping`` analysis, a unit's map is its response at each position, pooled over
orientations; its significance is a chi-square-like statistic of the position map tested against
maps with shuffled position labels; its centre and size come from the map. Here all of it is
vectorized over units (and positions); only the shuffles run in chunks, for memory.

Differences from AllenSDK (``receptive_field_mapping.py`` / ``chisquare_categorical.py``):

- the map is the mean count per trial (Allen: the summed count), so unequal repeats don't bias it;
- the shuffles are permutations of the position labels (Allen: a bootstrap of the trials) and the
  p-value is the permutation p-value (1 + #shuffles >= observed) / (1 + n_shuffles), exact and
  never 0, instead of Allen's #shuffles > observed / n_shuffles;
- the centre and size come from one fit of an isotropic 2-D Gaussian plus baseline to the map (by
  exhaustive search over a bank of templates, see :func:`rf_center_and_size`) instead of the
  centre of mass of Allen's thresholded, smoothed map (grid-bound) and a separate per-unit
  ``leastsq`` Gaussian fit for the width;
- an incomplete or irregular grid (a position without presentations, one shown less often or off
  the 9 x 9 grid, an orientation missing) is mapped and fitted over the positions shown, and
  reported (:func:`meiflow.stimuli.allen.gabor_grid_state`, the table's ``gabor_*`` attributes).

Conventions: positions are in degrees of visual angle, x to the right and y UP (positive y is the
upper visual field); map rows run along ascending y, so row 0 is the LOWEST position (plot with
``origin="lower"``).
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import xarray as xr

from meiflow.io.netcdf import describe
from meiflow.stimuli.allen import GaborGridState, gabor_grid_state
from meiflow.stimuli.geometry import ScreenGeometry

log = logging.getLogger(__name__)

#: Sds (deg) of the Gaussian templates fitted to the maps (the fitted map sd is one of these).
#: No sd below 4 deg: on the Allen 10 deg grid such a map is a one-position response whose sd (and
#: sub-grid centre) is not resolved; allowing them made centres and sizes worse on simulated data.
TEMPLATE_SIGMAS_DEG = (4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0, 10.0, 12.0, 15.0, 20.0)
#: Step (deg) of the grid of template centres.
TEMPLATE_STEP_DEG = 0.5
#: Shuffles per chunk of the permutation test are capped so that neither the category sums
#: (shuffles x positions x units) nor the shuffled labels (shuffles x trials) exceed this.
_SHUFFLE_CHUNK_ELEMENTS = 4_000_000


def _position_categories(
    x_position: np.ndarray, y_position: np.ndarray, n_trials: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid of positions and each trial's category.

    Returns:
        valid: (n_trials,) bool: finite position.
        category: (n_valid,) int: flat index iy * n_x + ix of each valid trial.
        ys: (n_y,) ascending unique positions in deg.
        xs: (n_x,) ascending unique positions in deg.
    """
    x = np.asarray(x_position, dtype=np.float64)
    y = np.asarray(y_position, dtype=np.float64)
    if x.shape != (n_trials,) or y.shape != (n_trials,):
        raise ValueError(
            f"x_position and y_position must be ({n_trials},) like the counts' trials, "
            f"got {x.shape} and {y.shape}"
        )
    valid = np.isfinite(x) & np.isfinite(y)
    if not valid.any():
        raise ValueError("no trial has a finite position")
    xs, ix = np.unique(x[valid], return_inverse=True)
    ys, iy = np.unique(y[valid], return_inverse=True)
    return valid, iy * xs.size + ix, ys, xs


def _counts_2d(counts: np.ndarray) -> np.ndarray:
    """(n_trials, n_units) float64 view of the counts; a ValueError for other shapes."""
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts must be (n_trials, n_units), got shape {counts.shape}")
    return counts.astype(np.float64, copy=False)


def rf_maps(
    counts: np.ndarray, x_position: np.ndarray, y_position: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean spike count per trial at each stimulus position: the receptive-field maps.

    Trials with a non-finite position (e.g. blanks) are left out.

    Args:
        counts: (n_trials, n_units) spike counts of every presentation (zeros included).
        x_position: (n_trials,) x position of each presentation's Gabor centre in deg.
        y_position: (n_trials,) y position of each presentation's Gabor centre in deg (y up).

    Returns:
        maps: (n_units, n_y, n_x) float64, mean count per trial at each position, pooling the
            trials of all orientations (spikes per presentation); NaN at a grid position that has no
            trial. Row iy is position ys[iy], column ix is xs[ix].
        ys: (n_y,) ascending unique y positions (deg).
        xs: (n_x,) ascending unique x positions (deg).
    """
    counts = _counts_2d(counts)
    valid, category, ys, xs = _position_categories(x_position, y_position, counts.shape[0])
    n_categories = ys.size * xs.size
    sums = _category_sums(counts[valid], category[None], n_categories)[0]  # (n_cat, n_units)
    n_trials = np.bincount(category, minlength=n_categories)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n_trials[:, None]
    return means.T.reshape(counts.shape[1], ys.size, xs.size), ys, xs


def _category_sums(counts: np.ndarray, labels: np.ndarray, n_categories: int) -> np.ndarray:
    """(n_labelings, n_categories, n_units) summed counts of the trials of each category.

    counts: (n_trials, n_units); labels: (n_labelings, n_trials) category of each trial in each
    labeling. One sparse one-hot matrix (n_labelings * n_categories, n_trials) times the counts:
    n_labelings * n_trials * n_units additions, without a (n_labelings, n_trials, n_units) copy.
    """
    n_labelings, n_trials = labels.shape
    rows = np.arange(n_labelings)[:, None] * n_categories + labels  # (n_labelings, n_trials)
    one_hot = sp.csc_matrix(
        (np.ones(rows.size), rows.T.ravel(), np.arange(0, rows.size + 1, n_labelings)),
        shape=(n_labelings * n_categories, n_trials),
    )
    return np.asarray(one_hot @ counts).reshape(n_labelings, n_categories, counts.shape[1])


def _chi_square(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Sum over categories (axis -2) of (O - E)^2 / E, terms with E = 0 counted as 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.square(observed - expected) / expected
    return np.where(expected > 0, terms, 0.0).sum(axis=-2)


def rf_significance(
    counts: np.ndarray,
    x_position: np.ndarray,
    y_position: np.ndarray,
    n_shuffles: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Permutation p-value of each unit's position map (Allen's chi-square shuffle test).

    The statistic is Allen's categorical chi-square over the positions (orientations pooled):
    chi = sum_k (O_k - E_k)^2 / E_k, with O_k the summed count of the trials at position k and
    E_k = n_k * (mean count per trial) what a unit blind to the position would give. It is
    compared with the same statistic after permuting the position labels of the trials (the
    same permutations for every unit); p = (1 + #shuffles with chi >= observed chi) /
    (1 + n_shuffles), a valid (slightly conservative) p-value that is never 0. Ties are counted
    with a relative tolerance of 1e-9, since counts are integers and ties do occur.

    Args:
        counts: (n_trials, n_units) spike counts.
        x_position: (n_trials,) Gabor x positions in deg; non-finite ones are left out.
        y_position: (n_trials,) Gabor y positions in deg; non-finite ones are left out.
        n_shuffles: number of permutations (>= 1); p has a resolution of 1 / (1 + n_shuffles).
        seed: seed of the numpy Generator drawing the permutations: the result is deterministic for
            a seed and does not depend on the other units in ``counts``.

    Returns:
        (n_units,) float64 p-values in (0, 1]; NaN for units without a spike.
    """
    if n_shuffles < 1:
        raise ValueError(f"n_shuffles must be >= 1, got {n_shuffles}")
    counts = _counts_2d(counts)
    valid, category, _, _ = _position_categories(x_position, y_position, counts.shape[0])
    counts = counts[valid]
    n_trials, n_units = counts.shape
    _, labels, per_category = np.unique(category, return_inverse=True, return_counts=True)
    n_categories = per_category.size
    expected = per_category[:, None] * counts.mean(axis=0)  # (n_categories, n_units)
    chi = _chi_square(_category_sums(counts, labels[None], n_categories)[0], expected)

    rng = np.random.default_rng(seed)
    chunk = _SHUFFLE_CHUNK_ELEMENTS // max(1, n_categories * n_units, n_trials)
    chunk = int(np.clip(chunk, 1, n_shuffles))
    exceed = np.zeros(n_units, dtype=np.int64)
    threshold = chi - 1e-9 * np.abs(chi)
    for first in range(0, n_shuffles, chunk):
        size = min(chunk, n_shuffles - first)
        shuffled_labels = rng.permuted(np.tile(labels, (size, 1)), axis=1)
        sums = _category_sums(counts, shuffled_labels, n_categories)
        exceed += (_chi_square(sums, expected) >= threshold).sum(axis=0)
    p_value = (1.0 + exceed) / (1.0 + n_shuffles)
    return np.where(counts.sum(axis=0) > 0, p_value, np.nan)


def _gaussian_profiles(grid: np.ndarray, centers: np.ndarray, sigma: float) -> np.ndarray:
    """(len(grid), len(centers)) exp(-(grid - centre)^2 / (2 sigma^2))."""
    return np.exp(-np.square(grid[:, None] - centers[None, :]) / (2.0 * sigma**2))


def _template_centers(grid: np.ndarray) -> np.ndarray:
    """Candidate centres: the grid's extent plus half a grid step each side, TEMPLATE_STEP_DEG.

    The grid step is the median spacing of ``grid``, so that an extra position off the grid (5 deg
    from its neighbours on a 10 deg grid) does not narrow the margin.
    """
    half_step = np.median(np.diff(grid)) / 2 if grid.size > 1 else 0.0
    lo, hi = grid[0] - half_step, grid[-1] + half_step
    n = int(np.floor((hi - lo) / TEMPLATE_STEP_DEG + 1e-9)) + 1
    return lo + TEMPLATE_STEP_DEG * np.arange(n)


def _template_sums(mask: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """(n_cy, n_cx) sum over the positions of ``mask`` of the templates gy[iy, cy] * gx[ix, cx].

    mask: (n_y, n_x) bool; gy: (n_y, n_cy); gx: (n_x, n_cx). Separable on a full grid.
    """
    if mask.all():
        return np.outer(gy.sum(axis=0), gx.sum(axis=0))
    return gy.T @ mask.astype(np.float64) @ gx


def _fit_templates(
    maps: np.ndarray, mask: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    """(n_units, 5) best template (x0, y0, s, A, b) of maps that share the positions ``mask``.

    maps: (n_units, n_y, n_x), finite where ``mask`` (n_y, n_x) is; the fit of
    :func:`rf_center_and_size` over those positions only. NaN rows for units whose map is flat
    there or correlates with no template positively, and for an empty ``mask``.
    """
    n_units = maps.shape[0]
    best = np.full((n_units, 5), np.nan)
    n_positions = int(mask.sum())
    if n_positions == 0:
        return best
    safe = np.where(mask, maps, 0.0)
    mean = safe.sum(axis=(1, 2)) / n_positions  # over the positions with trials
    centred = np.where(mask, safe - mean[:, None, None], 0.0)
    cx, cy = _template_centers(xs), _template_centers(ys)
    best_score = np.zeros(n_units)
    for sigma in TEMPLATE_SIGMAS_DEG:
        gx, gy = _gaussian_profiles(xs, cx, sigma), _gaussian_profiles(ys, cy, sigma)
        # <m_c, g> for every centre: (n_units, n_cy, n_cx); <m_c, g_c> = <m_c, g> as sum m_c = 0.
        along_x = (centred.reshape(-1, xs.size) @ gx).reshape(n_units, ys.size, cx.size)
        cross = np.matmul(gy.T, along_x)  # (n_units, n_cy, n_cx), C-contiguous
        g_sum = _template_sums(mask, gy, gx)
        g_sq = _template_sums(mask, np.square(gy), np.square(gx))
        g_var = g_sq - np.square(g_sum) / n_positions  # ||g - mean(g)||^2 (n_cy, n_cx)
        with np.errstate(divide="ignore", invalid="ignore"):  # g_var = 0 only for 1-point grids
            score = np.where(g_var > 0, cross / np.sqrt(g_var), 0.0)
        flat_index = score.reshape(n_units, -1).argmax(axis=1)
        top = score.reshape(n_units, -1)[np.arange(n_units), flat_index]
        better = top > best_score
        iy, ix = np.unravel_index(flat_index, g_var.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            amplitude = cross[np.arange(n_units), iy, ix] / g_var[iy, ix]
        baseline = mean - amplitude * g_sum[iy, ix] / n_positions
        candidate = np.stack([cx[ix], cy[iy], np.full(n_units, sigma), amplitude, baseline], axis=1)
        best = np.where(better[:, None], candidate, best)
        best_score = np.where(better, top, best_score)
    found = best_score > 1e-12 * (1.0 + np.abs(safe).max(axis=(1, 2)))
    best[~found] = np.nan
    return best


def rf_center_and_size(maps: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> dict[str, np.ndarray]:
    """Centre and size of each map by a least-squares fit of an isotropic 2-D Gaussian.

    Model: map(x, y) = b + A * exp(-((x - x0)^2 + (y - y0)^2) / (2 s^2)), A > 0 (an excitatory
    field), fitted by least squares over the positions where the map is finite: those with
    trials (a grid position without trials, NaN in :func:`rf_maps`, is left out of the fit, not
    the unit). The fit is an exhaustive search over a bank of templates: centres (x0, y0) on a
    TEMPLATE_STEP_DEG (0.5 deg) grid spanning the stimulus grid plus half a grid step on each
    side, and s in TEMPLATE_SIGMAS_DEG (4 .. 20 deg); for each template the baseline b and
    amplitude A are solved in closed form, so the best template maximizes
    <m - mean(m), g - mean(g)> / ||g - mean(g)|| (a matched filter), sums and means over the
    fitted positions. Separable templates make this a few matrix products per sd, with no loop
    over units or positions (only over the sets of finite positions, one per count table), and
    no local minima or divergence.

    Args:
        maps: (n_units, n_y, n_x) mean count per position (:func:`rf_maps`), NaN where a
            position has no trial; row iy is ys[iy].
        xs: (n_x,) ascending positions in deg (not necessarily evenly spaced).
        ys: (n_y,) ascending positions in deg.

    Returns:
        dict of (n_units,) float64 arrays:
            ``center_x_deg``, ``center_y_deg``: fitted centre (x0, y0) in deg (y up), 0.5 deg steps;
            ``size_deg``: 2 * s, twice the fitted sd of the map in deg, i.e. the full width of the
            response profile over Gabor positions at exp(-1/2) = 61 % of its peak. This is the size
            of the map (the receptive field as seen through the 20 deg Gabor and the unit's
            nonlinearity), not of the unit's linear filter. Its floor is 8 deg: a narrower map (one
            responding position of the 10 deg grid) is not resolved and gets s = 4 deg;
            ``amplitude``: A, the fitted peak above baseline (count per trial);
            ``baseline``: b, the fitted baseline (count per trial).
        All NaN for a unit whose map is flat (no position above the others), has no finite
        value, or correlates with no template positively.
    """
    maps = np.asarray(maps, dtype=np.float64)
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[1:] != (ys.size, xs.size):
        raise ValueError(
            f"maps must be (n_units, {ys.size}, {xs.size}) for these ys, xs; got {maps.shape}"
        )
    n_units = maps.shape[0]
    shown = np.isfinite(maps).reshape(n_units, -1)
    patterns, group = np.unique(shown, axis=0, return_inverse=True)
    group = group.ravel()
    best = np.full((n_units, 5), np.nan)  # x0, y0, s, A, b
    for k, pattern in enumerate(patterns):  # the positions with trials: one set per count table
        members = group == k
        best[members] = _fit_templates(maps[members], pattern.reshape(ys.size, xs.size), xs, ys)
    return {
        "center_x_deg": best[:, 0],
        "center_y_deg": best[:, 1],
        "size_deg": 2.0 * best[:, 2],
        "amplitude": best[:, 3],
        "baseline": best[:, 4],
    }


def receptive_field_table(
    gabors: xr.Dataset,
    geometry: ScreenGeometry,
    height: int,
    width: int,
    n_shuffles: int = 1000,
    seed: int = 0,
    alpha: float = 0.01,
) -> xr.Dataset:
    """Receptive fields of every unit of a gabors count table.

    Args:
        gabors: count table of the 'gabors' stimulus (:func:`meiflow.ingest.counts.count_table`):
            ``spike_counts`` (presentation, unit) with ``orientation``, ``x_position``,
            ``y_position`` (deg, y up) on ``presentation``. Its grid may be incomplete or
            irregular (positions without presentations, with fewer presentations than the others,
            off the Allen grid, an orientation missing): the maps hold every position with
            presentations, NaN at a (y, x) of the map without any, and the centres are fitted
            over the positions with presentations.
        geometry: the screen geometry of the model images.
        height: their height in pixels.
        width: their width in pixels.
        n_shuffles: of the permutation test (:func:`rf_significance`).
        seed: of the permutation test (:func:`rf_significance`).
        alpha: significance level; ``rf_significant`` is ``rf_p_value < alpha``.

    Returns:
        Dataset on ``unit`` (the gabors' unit coordinate only) with ``rf_map`` (unit, rf_y, rf_x)
        mean count per trial (coordinates rf_y, rf_x in deg, ascending: row 0 is the lowest
        position), ``rf_center_x``, ``rf_center_y`` (deg), ``rf_center_col``, ``rf_center_row``
        (float model pixels at height x width, :meth:`ScreenGeometry.deg_to_pixel`), ``rf_size``
        (deg, 2 x fitted map sd), ``rf_p_value`` and ``rf_significant`` (bool). Centres and sizes
        are given for every unit with a non-flat map, significant or not. The attributes say how
        the presentations cover the Allen grid (:func:`grid_attrs`); an incomplete or irregular
        grid is also logged as a warning.
    """
    spike_counts = gabors["spike_counts"].transpose("presentation", "unit")
    counts = spike_counts.to_numpy()
    x_position = gabors["x_position"].to_numpy().astype(np.float64)
    y_position = gabors["y_position"].to_numpy().astype(np.float64)
    grid = gabor_grid_state(gabors["orientation"].to_numpy(), x_position, y_position)
    if grid.complete:
        log.info(grid.summary())
    else:
        log.warning("%s; receptive fields are fitted over the positions shown", grid.summary())
    maps, ys, xs = rf_maps(counts, x_position, y_position)
    p_value = rf_significance(counts, x_position, y_position, n_shuffles=n_shuffles, seed=seed)
    fit = rf_center_and_size(maps, xs, ys)
    col, row = geometry.deg_to_pixel(fit["center_x_deg"], fit["center_y_deg"], height, width)
    ds = xr.Dataset(
        {
            "rf_map": (("unit", "rf_y", "rf_x"), maps),
            "rf_center_x": ("unit", fit["center_x_deg"]),
            "rf_center_y": ("unit", fit["center_y_deg"]),
            "rf_center_col": ("unit", np.asarray(col, dtype=np.float64)),
            "rf_center_row": ("unit", np.asarray(row, dtype=np.float64)),
            "rf_size": ("unit", fit["size_deg"]),
            "rf_p_value": ("unit", p_value),
            "rf_significant": ("unit", np.nan_to_num(p_value, nan=1.0) < alpha),
        },
        coords={"unit": gabors["unit"].to_numpy(), "rf_y": ys, "rf_x": xs},
    )
    ds["unit"].attrs = dict(gabors["unit"].attrs) or {"long_name": "unit id"}
    ds["rf_y"].attrs = {"long_name": "Gabor centre elevation (y up)", "units": "deg"}
    ds["rf_x"].attrs = {"long_name": "Gabor centre azimuth (x right)", "units": "deg"}
    attrs = {
        "rf_map": (
            "mean spike count per presentation at each Gabor position, all orientations",
            "spikes",
        ),
        "rf_center_x": ("receptive-field centre x (Gaussian fit to rf_map)", "deg"),
        "rf_center_y": ("receptive-field centre y, up (Gaussian fit to rf_map)", "deg"),
        "rf_center_col": (
            f"receptive-field centre column in {height}x{width} model pixels",
            "pixel",
        ),
        "rf_center_row": (f"receptive-field centre row in {height}x{width} model pixels", "pixel"),
        "rf_size": ("receptive-field size: 2 x sd of the Gaussian fitted to rf_map", "deg"),
        "rf_p_value": (
            "permutation p-value of the chi-square statistic of rf_map over positions",
            "1",
        ),
        "rf_significant": (f"1 if rf_p_value < {alpha}", "1"),
    }
    describe(ds, attrs)
    ds.attrs = {
        "title": "receptive fields from the gabors stimulus",
        "rf_n_shuffles": int(n_shuffles),
        "rf_seed": int(seed),
        "rf_alpha": float(alpha),
        "model_height": int(height),
        "model_width": int(width),
        "screen_width_deg": float(geometry.width_deg),
        "screen_height_deg": float(geometry.height_deg),
        **grid_attrs(grid),
    }
    return ds


def grid_attrs(grid: GaborGridState) -> dict:
    """NetCDF attributes of how the gabors presentations cover the Allen grid.

    ``gabor_grid_complete`` (1: every position and orientation of the design shown, nothing else,
    the same number of times per position; else 0), ``gabor_grid`` (the log's line), and
    ``gabor_trials_per_position`` (the most common number of presentations per position); the
    positions as x and y arrays (deg), empty when none: ``gabor_missing_x_position`` /
    ``_y_position`` (design positions without presentations), ``gabor_off_grid_x_position`` /
    ``_y_position`` (positions with presentations off the design), ``gabor_uneven_x_position`` /
    ``_y_position`` with ``gabor_uneven_trials`` (positions shown another number of times); and
    ``gabor_missing_orientation`` and ``gabor_off_grid_orientation`` (deg).
    """
    positions = {
        "missing": grid.missing_positions,
        "off_grid": grid.off_grid_positions,
        "uneven": grid.uneven_positions,
    }
    return {
        "gabor_grid_complete": int(grid.complete),
        "gabor_grid": grid.summary(),
        "gabor_trials_per_position": int(grid.trials_per_position),
        **{
            f"gabor_{kind}_{axis}_position": xy[:, k].astype(np.float64)
            for kind, xy in positions.items()
            for k, axis in enumerate("xy")
        },
        "gabor_uneven_trials": grid.uneven_trials.astype(np.int64),
        "gabor_missing_orientation": grid.missing_orientations.astype(np.float64),
        "gabor_off_grid_orientation": grid.off_grid_orientations.astype(np.float64),
    }
