"""Pixel <-> readout-grid coordinates of the model's feature map."""

from __future__ import annotations

import numpy as np
import pytest

from meiflow.scene_data import grid_to_pixel, pixel_to_grid


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
