"""Receptive fields from the gabors: maps, shuffle test, centre/size fit and the table."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from meiflow.ranking.receptive_fields import (
    TEMPLATE_STEP_DEG,
    _category_sums,
    _chi_square,
    receptive_field_table,
    rf_center_and_size,
    rf_maps,
    rf_significance,
)
from meiflow.stimuli.geometry import ScreenGeometry

POSITIONS = np.arange(-40.0, 41.0, 10.0)
ORIENTATIONS = (0.0, 45.0, 90.0)


def allen_design(repeats: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(orientation, x, y) of every trial: 3 orientations x 9 x 9 positions x repeats, shuffled."""
    o, y, x = np.meshgrid(ORIENTATIONS, POSITIONS, POSITIONS, indexing="ij")
    order = rng.permutation(np.repeat(np.arange(o.size), repeats))
    return o.ravel()[order], x.ravel()[order], y.ravel()[order]


def gaussian_rate(x, y, cx, cy, sd=5.0, baseline=0.8, amplitude=1.0):
    """Mean count per trial of a unit with a Gaussian map over Gabor positions."""
    return baseline + amplitude * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sd**2))


def gabors_dataset(counts, orientation, x, y, unit_ids) -> xr.Dataset:
    """A count table shaped like meiflow.ingest.counts.count_table's output for the gabors."""
    n = len(x)
    return xr.Dataset(
        {"spike_counts": (("presentation", "unit"), counts.astype(np.int32))},
        coords={
            "presentation": np.arange(n, dtype=np.int64),
            "unit": np.asarray(unit_ids, dtype=np.int64),
            "orientation": ("presentation", orientation),
            "x_position": ("presentation", x),
            "y_position": ("presentation", y),
            "start_time": ("presentation", 0.25 * np.arange(n)),
            "stop_time": ("presentation", 0.25 * np.arange(1, n + 1)),
            "area": ("unit", np.array(["VISp"] * len(unit_ids))),
        },
    )


def test_maps_equal_a_loop_with_unbalanced_trials_blanks_and_a_missing_position():
    rng = np.random.default_rng(0)
    x = rng.choice([-10.0, 0.0, 20.0], 300)
    y = rng.choice([-5.0, 5.0], 300)
    x[(x == 20.0) & (y == 5.0)] = 0.0  # grid position (20, 5) never shown
    x[:4] = np.nan  # blank trials are left out
    counts = rng.poisson(2.0, (300, 5))
    maps, ys, xs = rf_maps(counts, x, y)
    np.testing.assert_array_equal(xs, [-10.0, 0.0, 20.0])
    np.testing.assert_array_equal(ys, [-5.0, 5.0])
    assert maps.shape == (5, 2, 3)
    for u in range(5):
        for iy, yv in enumerate(ys):
            for ix, xv in enumerate(xs):
                trials = (x == xv) & (y == yv)
                expected = counts[trials, u].mean() if trials.any() else np.nan
                np.testing.assert_allclose(maps[u, iy, ix], expected, rtol=1e-12)
    assert np.isnan(maps[:, 1, 2]).all() and np.isfinite(maps[:, 0, 2]).all()


def test_chi_square_statistic_is_allens():
    allen = pytest.importorskip("allensdk.brain_observatory.chisquare_categorical")
    rng = np.random.default_rng(1)
    _, x, y = allen_design(2, rng)
    counts = rng.poisson(1.5, (x.size, 4)).astype(float)
    counts[:, 3] = 0.0  # a silent unit: 0 in both
    category = np.unique(np.stack([x, y], axis=1), axis=0, return_inverse=True)[1].ravel()
    dummy = allen.make_category_dummy(category)
    with np.errstate(divide="ignore", invalid="ignore"):  # Allen's 0 / 0 for the silent unit
        expected_allen = allen.compute_expected(counts, dummy)
        chi_allen = allen.compute_chi(allen.compute_observed(counts, dummy), expected_allen)
    n_cat = dummy.shape[1]
    expected = np.bincount(category)[:, None] * counts.mean(axis=0)
    chi = _chi_square(_category_sums(counts, category[None], n_cat)[0], expected)
    np.testing.assert_allclose(chi, chi_allen, rtol=1e-10)


def test_planted_off_grid_receptive_field_is_recovered_and_significant():
    # The Allen design (45 trials per position), a map of sd 5 deg centred off the grid, peak
    # 2 spikes above a baseline of 0.8 per trial, Poisson noise: 20 independent sessions.
    cx, cy = 13.7, -21.4
    centres, sizes, p_values = [], [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        _, x, y = allen_design(15, rng)
        counts = rng.poisson(gaussian_rate(x, y, cx, cy, sd=5.0, baseline=0.8, amplitude=2.0))
        maps, ys, xs = rf_maps(counts[:, None], x, y)
        fit = rf_center_and_size(maps, xs, ys)
        centres.append([fit["center_x_deg"][0], fit["center_y_deg"][0]])
        sizes.append(fit["size_deg"][0])
        p_values.append(rf_significance(counts[:, None], x, y, n_shuffles=99, seed=seed)[0])
    error = np.array(centres) - [cx, cy]
    radial = np.hypot(*error.T)
    assert np.median(radial) < 2.5 and radial.max() < 6.0
    assert np.all(np.abs(error.mean(axis=0)) < 1.0)  # sub-grid and unbiased, not snapped to grid
    assert 8.0 <= np.median(sizes) < 13.0  # 2 x the planted map sd of 5 deg
    np.testing.assert_array_equal(p_values, 0.01)  # no shuffle reaches the observed statistic


@pytest.mark.parametrize("irregular", [False, True], ids=["full grid", "irregular grid"])
def test_noise_free_maps_give_the_planted_centre_and_size(irregular):
    # irregular: an extra column at x = 5 deg with one position shown, and no trials at the grid
    # positions nearest three of the centres: the fit uses the positions shown
    xs = np.sort(np.append(POSITIONS, 5.0)) if irregular else POSITIONS
    grid_x, grid_y = np.meshgrid(xs, POSITIONS)
    centres = np.array([[13.7, -21.4], [-35.0, 30.5], [0.0, 0.0], [4.5, 26.0]])
    maps = gaussian_rate(grid_x, grid_y, centres[:, :1, None], centres[:, 1:, None], sd=6.0)
    if irregular:
        maps[:, POSITIONS != 0.0, np.flatnonzero(xs == 5.0)[0]] = np.nan
        for iy, ix in ((2, 6), (7, 0), (4, 4)):  # (10, -20), (-40, 30), (0, 0) deg
            maps[:, iy, ix] = np.nan
    fit = rf_center_and_size(maps, xs, POSITIONS)
    # the bank's nearest centre (0.5 deg steps); with positions missing the best template can be
    # the next one (centre 0: 14.0 deg for 13.7), within one step of the planted centre
    step = TEMPLATE_STEP_DEG if irregular else 0.26
    np.testing.assert_allclose(fit["center_x_deg"], centres[:, 0], atol=step)
    np.testing.assert_allclose(fit["center_y_deg"], centres[:, 1], atol=step)
    np.testing.assert_allclose(fit["size_deg"], 12.0)
    np.testing.assert_allclose(fit["amplitude"], 1.0, atol=0.05)
    np.testing.assert_allclose(fit["baseline"], 0.8, atol=0.01)


def test_flat_units_are_not_significant_and_p_is_roughly_uniform():
    rng = np.random.default_rng(4)
    _, x, y = allen_design(2, rng)  # 486 trials
    counts = rng.poisson(1.0, (x.size, 400))
    p = rf_significance(counts, x, y, n_shuffles=199, seed=4)
    assert np.isfinite(p).all()
    assert 0.02 < np.mean(p < 0.05) < 0.09
    assert 0.4 < np.mean(p < 0.5) < 0.6
    assert np.mean(p < 0.01) < 0.03
    np.testing.assert_allclose(p * 200, np.round(p * 200))  # p = (1 + k) / (1 + n_shuffles)


def test_p_value_is_deterministic_for_a_seed_and_independent_of_the_other_units():
    rng = np.random.default_rng(5)
    _, x, y = allen_design(3, rng)
    rate = gaussian_rate(x[:, None], y[:, None], -10.0, 10.0, amplitude=np.linspace(0, 0.6, 8))
    counts = rng.poisson(rate)
    p = rf_significance(counts, x, y, n_shuffles=200, seed=7)
    np.testing.assert_array_equal(p, rf_significance(counts, x, y, n_shuffles=200, seed=7))
    np.testing.assert_array_equal(p[2:5], rf_significance(counts[:, 2:5], x, y, 200, seed=7))
    assert not np.array_equal(p, rf_significance(counts, x, y, n_shuffles=200, seed=8))


def test_silent_unit_gives_nan_p_and_nan_centre_without_warnings():
    rng = np.random.default_rng(6)
    o, x, y = allen_design(1, rng)
    counts = np.stack([np.zeros(x.size, int), rng.poisson(1.0, x.size)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = rf_significance(counts, x, y, n_shuffles=50)
        maps, ys, xs = rf_maps(counts, x, y)
        fit = rf_center_and_size(maps, xs, ys)
        table = receptive_field_table(
            gabors_dataset(counts, o, x, y, [11, 12]), ScreenGeometry(), 60, 96, n_shuffles=50
        )
    assert np.isnan(p[0]) and 0 < p[1] <= 1
    assert np.isnan([fit[k][0] for k in ("center_x_deg", "center_y_deg", "size_deg")]).all()
    assert np.isfinite(fit["center_x_deg"][1])
    assert not table["rf_significant"].values[0]
    assert np.isnan(table["rf_center_col"].values[0])


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="x_position and y_position"):
        rf_maps(np.zeros((5, 2)), np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="n_shuffles"):
        rf_significance(np.zeros((5, 2)), np.zeros(5), np.zeros(5), n_shuffles=0)
    with pytest.raises(ValueError, match="maps must be"):
        rf_center_and_size(np.zeros((2, 3, 3)), POSITIONS, POSITIONS)


def test_receptive_field_table_dims_coords_and_pixel_conversion():
    rng = np.random.default_rng(8)
    o, x, y = allen_design(15, rng)
    centres = np.array([[-22.0, 24.0], [31.0, -8.0], [0.0, 0.0]])
    rate = gaussian_rate(x[:, None], y[:, None], centres[:, 0], centres[:, 1], amplitude=1.5)
    rate[:, 2] = 1.0  # an untuned unit
    counts = rng.poisson(rate)
    units = [950000007, 950000003, 950000011]
    geometry = ScreenGeometry()
    height, width = 36, 64
    rf = receptive_field_table(
        gabors_dataset(counts, o, x, y, units), geometry, height, width, n_shuffles=99, alpha=0.05
    )
    assert rf["rf_map"].dims == ("unit", "rf_y", "rf_x")
    assert rf["rf_map"].shape == (3, 9, 9)
    np.testing.assert_array_equal(rf["unit"], units)
    np.testing.assert_array_equal(rf["rf_y"], POSITIONS)
    np.testing.assert_array_equal(rf["rf_x"], POSITIONS)
    maps, _, _ = rf_maps(counts, x, y)
    np.testing.assert_allclose(rf["rf_map"], maps)
    for name in ("rf_center_x", "rf_center_y", "rf_center_col", "rf_center_row", "rf_size"):
        assert rf[name].dims == ("unit",) and rf[name].dtype == np.float64
        assert rf[name].attrs["units"] and rf[name].attrs["long_name"]
    col, row = geometry.deg_to_pixel(rf["rf_center_x"], rf["rf_center_y"], height, width)
    np.testing.assert_allclose(rf["rf_center_col"], col)
    np.testing.assert_allclose(rf["rf_center_row"], row)
    # the unit at y = +24 (upper field) sits in the upper rows, the one at x = +31 on the right
    assert rf["rf_center_row"].values[0] < (height - 1) / 2 < rf["rf_center_row"].values[1]
    assert rf["rf_center_col"].values[0] < (width - 1) / 2 < rf["rf_center_col"].values[1]
    np.testing.assert_allclose(rf["rf_center_x"].values[:2], centres[:2, 0], atol=3.0)
    np.testing.assert_allclose(rf["rf_center_y"].values[:2], centres[:2, 1], atol=3.0)
    assert rf["rf_significant"].dtype == bool
    np.testing.assert_array_equal(rf["rf_significant"], rf["rf_p_value"] < 0.05)
    assert rf["rf_significant"].values[:2].all()
    np.testing.assert_array_equal(
        rf["rf_p_value"], rf_significance(counts, x, y, n_shuffles=99, seed=0)
    )


# ------------------------------------------------------------ incomplete or irregular grids

#: Planted receptive fields (deg): one at the position the grid loses, one beside it, others away.
PLANTED = np.array([[10.0, 0.0], [13.0, 4.0], [-22.0, 24.0], [31.0, -8.0], [40.0, 40.0]])
LOST = (10.0, 0.0)  # the grid position whose presentations are removed or thinned
OFF_GRID = (5.0, 5.0)  # an extra position, between grid positions


def planted_table(o, x, y, rng) -> xr.Dataset:
    """Poisson counts of the PLANTED units (sd 6 deg) and a flat unit, as a gabors table."""
    rate = gaussian_rate(
        x[:, None], y[:, None], PLANTED[:, 0], PLANTED[:, 1], sd=6.0, baseline=1.0, amplitude=1.5
    )
    counts = rng.poisson(np.column_stack([rate, np.ones(x.size)]))
    return gabors_dataset(counts, o, x, y, 100 + np.arange(len(PLANTED) + 1))


def altered_grid(full: xr.Dataset, case: str, rng) -> xr.Dataset:
    """The Allen-design table ``full`` with one departure from the design."""
    x, y, o = (full[k].to_numpy() for k in ("x_position", "y_position", "orientation"))
    at_lost = np.flatnonzero((x == LOST[0]) & (y == LOST[1]))
    if case == "missing position":
        return full.drop_isel(presentation=at_lost)
    if case == "fewer trials":
        return full.drop_isel(presentation=at_lost[:30])  # 15 of 45 left
    if case == "missing orientation":
        return full.isel(presentation=np.flatnonzero(o != 90.0))
    extra_o = np.tile(ORIENTATIONS, 15)  # "off-grid position": 45 presentations at OFF_GRID
    extra = planted_table(extra_o, np.full(45, OFF_GRID[0]), np.full(45, OFF_GRID[1]), rng)
    extra = extra.assign_coords(presentation=extra["presentation"] + full.sizes["presentation"])
    return xr.concat([full, extra], "presentation")


#: The attributes that report each case (every other position or orientation attribute is empty).
REPORTED = {
    "missing position": {"gabor_missing_x_position": [10.0], "gabor_missing_y_position": [0.0]},
    "fewer trials": {
        "gabor_uneven_x_position": [10.0],
        "gabor_uneven_y_position": [0.0],
        "gabor_uneven_trials": [15],
    },
    "missing orientation": {"gabor_missing_orientation": [90.0]},
    "off-grid position": {
        "gabor_off_grid_x_position": [5.0],
        "gabor_off_grid_y_position": [5.0],
    },
}
GRID_ARRAYS = [
    f"gabor_{kind}_{axis}_position" for kind in ("missing", "off_grid", "uneven") for axis in "xy"
] + ["gabor_uneven_trials", "gabor_missing_orientation", "gabor_off_grid_orientation"]


@pytest.fixture(scope="module")
def full_grid():
    """A planted session on the complete Allen design (45 presentations per position), its
    receptive-field table, and the generator to continue from."""
    rng = np.random.default_rng(11)
    full = planted_table(*allen_design(15, rng), rng)
    return full, receptive_field_table(full, ScreenGeometry(), 36, 64, 99, alpha=0.05), rng


@pytest.mark.parametrize("case", list(REPORTED))
def test_an_incomplete_or_irregular_grid_keeps_the_centres_and_is_reported(full_grid, case, caplog):
    full, full_rf, rng = full_grid
    significant = full_rf["rf_significant"].to_numpy()
    assert significant[:-1].all() and not significant[-1]  # the planted units; not the flat one
    table = altered_grid(full, case, rng)
    with caplog.at_level("WARNING", logger="meiflow.ranking.receptive_fields"):
        rf = receptive_field_table(table, ScreenGeometry(), 36, 64, 99, alpha=0.05)
    # the centre of every significant unit stays within one grid step (10 deg) of the full grid's
    for axis in ("x", "y"):
        shift = rf[f"rf_center_{axis}"].to_numpy() - full_rf[f"rf_center_{axis}"].to_numpy()
        assert np.all(np.abs(shift[significant]) <= 10.0), (axis, shift)
    # the map is the full grid's (the mean of the trials shown) where nothing was removed
    maps, ys, xs = rf_maps(
        table["spike_counts"].to_numpy(), table["x_position"].to_numpy(), table["y_position"]
    )
    np.testing.assert_array_equal(rf["rf_map"], maps)
    if case == "missing position":
        lost = full_rf["rf_map"].to_numpy().copy()
        lost[:, POSITIONS == LOST[1], POSITIONS == LOST[0]] = np.nan
        np.testing.assert_array_equal(rf["rf_map"], lost)
    if case == "off-grid position":
        inside = rf["rf_map"].sel(rf_x=POSITIONS, rf_y=POSITIONS)
        np.testing.assert_array_equal(inside, full_rf["rf_map"])
        assert np.isfinite(rf["rf_map"].sel(rf_x=OFF_GRID[0], rf_y=OFF_GRID[1])).all()
        assert np.isnan(rf["rf_map"].sel(rf_x=OFF_GRID[0], rf_y=-40.0)).all()
    # what departs from the design is in the attributes and in a warning, nothing else is
    assert rf.attrs["gabor_grid_complete"] == 0
    assert rf.attrs["gabor_trials_per_position"] == (30 if case == "missing orientation" else 45)
    for name in GRID_ARRAYS:
        np.testing.assert_array_equal(rf.attrs[name], REPORTED[case].get(name, []), name)
    assert rf.attrs["gabor_grid"].startswith("gabors grid incomplete or irregular: ")
    (record,) = caplog.records
    assert record.levelname == "WARNING" and rf.attrs["gabor_grid"] in record.getMessage()


def test_a_complete_grid_is_reported_complete(full_grid, caplog):
    full, full_rf, _ = full_grid
    assert full_rf.attrs["gabor_grid_complete"] == 1
    assert full_rf.attrs["gabor_trials_per_position"] == 45
    for name in GRID_ARRAYS:
        assert full_rf.attrs[name].size == 0, name
    with caplog.at_level("INFO", logger="meiflow.ranking.receptive_fields"):
        receptive_field_table(full, ScreenGeometry(), 36, 64, n_shuffles=9)
    assert [r.getMessage() for r in caplog.records] == [
        "gabors grid complete: 81 positions x 3 orientations, 45 presentations per position"
    ]
