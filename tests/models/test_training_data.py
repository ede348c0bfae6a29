"""Pixel <-> readout-grid coordinates of the model's feature map; where readouts start."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from meiflow.models.training_data import (
    ENERGY_SCALES_DEG,
    energy_peak,
    grid_to_pixel,
    pixel_to_grid,
    readout_candidates,
)
from meiflow.simulation.natural_scenes import natural_scenes
from meiflow.simulation.neurons import receptive_fields, sample_unit_params
from meiflow.stats import pearson_rows
from meiflow.stimuli.geometry import ScreenGeometry


@pytest.mark.parametrize("pool", [1, 2, 3])
def test_grid_and_pixel_coordinates_round_trip(pool):
    height, width = 60, 96
    rng = np.random.default_rng(0)
    first = (pool - 1) / 2  # image pixel at the centre of the first feature-map pixel
    last_col = (width // pool - 1) * pool + first
    last_row = (height // pool - 1) * pool + first
    col = rng.uniform(first, last_col, 20)
    row = rng.uniform(first, last_row, 20)
    grid = pixel_to_grid(col, row, height, width, pool)
    np.testing.assert_allclose(grid_to_pixel(grid, height, width, pool), np.stack([col, row], 1))
    corners = pixel_to_grid(
        np.array([first, last_col]), np.array([first, last_row]), height, width, pool
    )
    np.testing.assert_allclose(corners, [[-1, -1], [1, 1]])


def complex_cells_on_scenes(n_units: int = 8):
    """Noise-free energy-model responses of complex cells (the simulator's quadrature pairs) to
    94 natural scenes at 60 x 96, and their true receptive-field centres (col, row) in pixels."""
    geometry = ScreenGeometry()
    scenes = natural_scenes(seed=3, n_scenes=94, height=60, width=96) / 255.0
    params = sample_unit_params(np.random.default_rng(1), n_units, {"complex": 1.0}, geometry)
    # the classic energy model (Adelson & Bergen), without the simulator's normalization
    pair = receptive_fields(params, geometry, 60, 96)[:, :2].reshape(n_units, 2, -1)
    projections = pair @ (scenes.reshape(len(scenes), -1) - 0.5).T
    responses = np.sqrt(np.square(projections).sum(axis=1)).T
    centre = geometry.deg_to_pixel(params["center_x_deg"], params["center_y_deg"], 60, 96)
    return geometry, scenes, responses, np.stack(centre, axis=1)


def test_the_contrast_energy_peak_finds_complex_cells_where_pixels_cannot():
    geometry, scenes, responses, centre = complex_cells_on_scenes()
    ppd_y, ppd_x = geometry.pixels_per_degree(60, 96)
    scales = [(sd * ppd_y, sd * ppd_x) for sd in ENERGY_SCALES_DEG]
    col, row = energy_peak(scenes, responses, scales)
    error = np.hypot(col - centre[:, 0], row - centre[:, 1])
    assert np.median(error) < 4.0 and np.mean(error < 5.0) >= 0.75, error  # a guess, not a fit
    # a linear look at the same data (pixel-response correlation) is lost for these cells
    pixels = np.broadcast_to(scenes.reshape(1, len(scenes), -1).transpose(0, 2, 1), (8, 5760, 94))
    r = pearson_rows(pixels, np.broadcast_to(responses.T[:, None], pixels.shape))
    linear_row, linear_col = np.unravel_index(np.abs(r).argmax(axis=1), (60, 96))
    linear_error = np.hypot(linear_col - centre[:, 0], linear_row - centre[:, 1])
    assert np.median(linear_error) > 3 * np.median(error), (linear_error, error)


def test_readout_candidates_are_the_fit_or_three_guesses_of_the_receptive_field():
    geometry, scenes, responses, centre = complex_cells_on_scenes(2)
    rf_y, rf_x = np.linspace(30, -30, 5), np.linspace(-40, 40, 7)
    rf_map = np.zeros((2, 5, 7))
    rf_map[1, 4, 6] = 1.0  # its peak: bottom right of the gabor grid
    rf_map[:, 2, 3] = np.nan  # a gabor position without trials is no peak
    ranking = xr.Dataset(
        {
            "rf_significant": ("unit", [1, 0]),
            "rf_center_col": ("unit", [12.5, np.nan]),
            "rf_center_row": ("unit", [40.0, np.nan]),
            "rf_map": (("unit", "rf_y", "rf_x"), rf_map),
        },
        coords={"unit": [7, 9], "rf_y": rf_y, "rf_x": rf_x},
    )
    ridge = np.zeros((2, 60, 96))
    ridge[1, 20, 30] = 1.0  # its energy peak
    index, pixels = readout_candidates(
        ranking, np.array([7, 9]), ridge, geometry, scenes, responses
    )
    np.testing.assert_array_equal(index, [0, 1, 1, 1])
    np.testing.assert_allclose(pixels[0], [12.5, 40.0])  # significant: the fitted centre alone
    np.testing.assert_allclose(pixels[1], [30, 20])
    np.testing.assert_allclose(pixels[2], geometry.deg_to_pixel(40, -30, 60, 96))
    assert np.hypot(*(pixels[3] - centre[1])) < 5.0  # the contrast-energy peak
