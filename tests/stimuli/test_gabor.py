import numpy as np
import pytest
import torch

from meiflow.stimuli.gabor import allen_gabor_stimulus, gabor, gabor_formula
from meiflow.stimuli.geometry import ScreenGeometry

GEOM = ScreenGeometry()
HEIGHT, WIDTH = 190, 240  # 2 pixels per degree
X, Y = GEOM.pixel_grid(HEIGHT, WIDTH)
NO_ENVELOPE = 1e9
# centre x, centre y (deg), orientation (deg), sf (cpd), phase (rad), sigma (deg)
GABOR_RANGES = ((-50, 50), (-40, 40), (-360, 360), (0.01, 0.2), (-7, 7), (2, 30))


def test_orientation_0_has_vertical_bars_and_90_horizontal():
    vertical = gabor(X, Y, 0, 0, 0, 0.05, 0.3, NO_ENVELOPE)
    np.testing.assert_allclose(vertical, np.broadcast_to(vertical[:1], vertical.shape))
    assert vertical[0].std() > 0.5  # varies along x
    horizontal = gabor(X, Y, 0, 0, 90, 0.05, 0.3, NO_ENVELOPE)
    np.testing.assert_allclose(horizontal, np.broadcast_to(horizontal[:, :1], horizontal.shape))
    assert horizontal[:, 0].std() > 0.5  # varies along y


def test_orientation_increases_clockwise():
    # at 45 deg the bars run from bottom-left to top-right: constant along (1, 1) in (x, y)
    t = np.linspace(-20, 20, 41)[None, :]
    along = gabor(t, t, 0, 0, 45, 0.07, 0.0, NO_ENVELOPE)
    across = gabor(t, -t, 0, 0, 45, 0.07, 0.0, NO_ENVELOPE)
    np.testing.assert_allclose(along, 1.0)
    assert across.std() > 0.5
    # in pixels (y up, rows down): moving one column right and one row up stays on the bar
    image = gabor(X, Y, 0, 0, 45, 0.07, 0.0, NO_ENVELOPE)
    np.testing.assert_allclose(image[1:, :-1], image[:-1, 1:], atol=1e-9)


def test_period_in_pixels_matches_spatial_frequency():
    sf = 0.1  # 10 deg period = 20 pixels at 2 pixels/deg
    ppd_y, ppd_x = GEOM.pixels_per_degree(HEIGHT, WIDTH)
    period_px = round(ppd_x / sf)
    assert period_px == 20
    row = gabor(X, Y, 0, 0, 0, sf, 0.0, NO_ENVELOPE)[0]
    np.testing.assert_allclose(row[period_px:], row[:-period_px], atol=1e-9)
    np.testing.assert_allclose(row[period_px // 2 :], -row[: -period_px // 2], atol=1e-9)
    spectrum = np.abs(np.fft.rfft(row))
    assert np.argmax(spectrum) == WIDTH // period_px


def test_envelope_centre_and_sd():
    cx, cy, sigma = 10.0, -5.0, 6.0
    envelope = gabor(X, Y, cx, cy, 30, 0.0, 0.0, sigma)  # sf 0: a pure Gaussian
    weights = envelope / envelope.sum()
    assert (weights * X).sum() == pytest.approx(cx, abs=1e-6)
    assert (weights * Y).sum() == pytest.approx(cy, abs=1e-6)
    # second moment along x of a Gaussian sampled every 0.5 deg: sigma^2 (+ no pixel term)
    assert np.sqrt((weights * (X - cx) ** 2).sum()) == pytest.approx(sigma, rel=1e-3)
    col, row = GEOM.deg_to_pixel(cx, cy, HEIGHT, WIDTH)
    peak = np.unravel_index(np.argmax(envelope), envelope.shape)
    assert abs(peak[0] - row) <= 0.5 and abs(peak[1] - col) <= 0.5


def test_phase_shifts_carrier():
    g0 = gabor(X, Y, 0, 0, 20, 0.08, 0.0, 5)
    g_pi = gabor(X, Y, 0, 0, 20, 0.08, np.pi, 5)
    np.testing.assert_allclose(g_pi, -g0, atol=1e-12)
    # peak value 1 at the centre for phase 0
    assert gabor(np.zeros((1, 1)), np.zeros((1, 1)), 0, 0, 20, 0.08, 0.0, 5)[0, 0] == 1.0


def test_parameters_broadcast_over_leading_dims():
    x, y = GEOM.pixel_grid(12, 16)
    ori = np.array([0.0, 45.0, 90.0])[:, None]
    phase = np.linspace(0, np.pi, 4)[None, :]
    out = gabor(x, y, 5.0, -3.0, ori, 0.08, phase, 7.0)
    assert out.shape == (3, 4, 12, 16)
    np.testing.assert_allclose(out[2, 1], gabor(x, y, 5.0, -3.0, 90.0, 0.08, phase[0, 1], 7.0))


def test_allen_gabor_stimulus_range_and_mask():
    frame = allen_gabor_stimulus(X, Y, 10.0, 0.0, 0.0, 0.0)
    assert frame.min() >= 0.1 and frame.max() <= 0.9
    assert frame.max() == pytest.approx(0.9, abs=0.01)  # nearest pixel centres 0.25 deg off
    # background far away, and the PsychoPy 'gauss' mask sd = size / 6 along the bars
    assert frame[0, 0] == pytest.approx(0.5)
    x0, y0 = np.array([[10.0]]), np.array([[5.0]])
    value = allen_gabor_stimulus(x0, y0, 10.0, 0.0, 0.0, 0.0)[0, 0]
    assert value == pytest.approx(0.5 + 0.4 * np.exp(-(5.0**2) / (2 * (20 / 6) ** 2)))
    batch = allen_gabor_stimulus(
        X,
        Y,
        np.array([-40.0, 0.0, 40.0])[:, None],
        0.0,
        45.0,
        np.linspace(0, 2 * np.pi, 8, endpoint=False),
    )
    assert batch.shape == (3, 8, HEIGHT, WIDTH)


def test_one_formula_serves_numpy_and_torch():
    rng = np.random.default_rng(0)
    params = [rng.uniform(lo, hi, (6, 1, 1)) for lo, hi in GABOR_RANGES]
    expected = gabor(X, Y, *(p[:, 0, 0] for p in params))
    tensors = [torch.as_tensor(a) for a in (X, Y, *params)]
    rendered = gabor_formula(torch, *tensors)
    assert isinstance(rendered, torch.Tensor) and rendered.dtype == torch.float64
    np.testing.assert_allclose(rendered.numpy(), expected, rtol=0, atol=1e-13)
    single = gabor_formula(torch, *(t.float() for t in tensors))
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single.numpy(), expected, rtol=0, atol=1e-4)
