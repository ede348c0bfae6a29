import numpy as np
import pytest

from meiflow.stimuli.geometry import ScreenGeometry

GEOM = ScreenGeometry()


def test_pixel_grid_corners_and_orientation():
    height, width = 95, 120  # 1 pixel per degree
    x, y = GEOM.pixel_grid(height, width)
    assert x.shape == y.shape == (height, width)
    assert x.dtype == y.dtype == np.float64
    # pixel centres half a pixel inside the screen edges; row 0 at the top (largest y)
    assert x[0, 0] == pytest.approx(-59.5) and x[0, -1] == pytest.approx(59.5)
    assert y[0, 0] == pytest.approx(47.0) and y[-1, 0] == pytest.approx(-47.0)
    assert np.all(np.diff(x, axis=1) > 0) and np.all(np.diff(y, axis=0) < 0)
    assert np.allclose(x, x[:1]) and np.allclose(y, y[:, :1])
    assert x.mean() == pytest.approx(0.0, abs=1e-12) and y.mean() == pytest.approx(0.0, abs=1e-12)


def test_deg_to_pixel_screen_edges_and_centre():
    height, width = 918, 1174
    col, row = GEOM.deg_to_pixel([-60.0, 60.0, 0.0], [47.5, -47.5, 0.0], height, width)
    np.testing.assert_allclose(col, [-0.5, width - 0.5, (width - 1) / 2])
    np.testing.assert_allclose(row, [-0.5, height - 0.5, (height - 1) / 2])


def test_round_trip_and_broadcasting():
    rng = np.random.default_rng(0)
    x = rng.uniform(-60, 60, (5, 1))
    y = rng.uniform(-47.5, 47.5, (1, 7))
    col, row = GEOM.deg_to_pixel(x, y, 60, 96)
    assert col.shape == (5, 1) and row.shape == (1, 7)
    x2, y2 = GEOM.pixel_to_deg(col, row, 60, 96)
    np.testing.assert_allclose(x2, x)
    np.testing.assert_allclose(y2, y)


def test_grid_matches_pixel_to_deg():
    x, y = GEOM.pixel_grid(4, 6)
    col, row = GEOM.deg_to_pixel(x, y, 4, 6)
    np.testing.assert_allclose(col, np.broadcast_to(np.arange(6), (4, 6)), atol=1e-12)
    np.testing.assert_allclose(row, np.broadcast_to(np.arange(4)[:, None], (4, 6)), atol=1e-12)


def test_pixels_per_degree():
    assert GEOM.pixels_per_degree(918, 1174) == pytest.approx((918 / 95, 1174 / 120))
    small = ScreenGeometry(width_deg=40.0, height_deg=20.0)
    assert small.pixels_per_degree(10, 40) == pytest.approx((0.5, 1.0))
