"""Local phase scrambling, the phase-invariance index and the ROC AUC, against analytic cases and
the simulator's simple and complex cells (ground truth)."""

import numpy as np
import pytest
import torch

from meiflow.ingest.scene_images import model_images
from meiflow.mei.phase_invariance import (
    local_phase_scramble,
    phase_invariance_index,
    phase_randomize,
    radial_tukey_window,
    random_phase,
)
from meiflow.simulation.natural_scenes import natural_scenes
from meiflow.simulation.neurons import TrueNeurons, calibrate, sample_unit_params
from meiflow.stats import roc_auc
from meiflow.stimuli.geometry import ScreenGeometry

H, W = 60, 96


def _images(seed: int, n: int, spread: float = 0.2) -> np.ndarray:
    """(n, H, W) float64 smooth-ish random images in [0, 1] around 0.5."""
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + spread * rng.standard_normal((n, H, W)), 0.0, 1.0)


def _distance(cy: float, cx: float) -> np.ndarray:
    """(H, W) distance in pixels of every pixel centre from (cy, cx)."""
    return np.hypot(np.arange(H)[:, None] - cy, np.arange(W) - cx)


# --- window -------------------------------------------------------------------------------------


def test_window_flat_core_cosine_taper_and_compact_support():
    cy, cx, radius = 20.3, 50.7, 16.0
    w = radial_tukey_window([cy], [cx], [radius], H, W, taper=0.5)[0]
    r = _distance(cy, cx)
    np.testing.assert_array_equal(w[r <= 8.0], 1.0)
    np.testing.assert_array_equal(w[r >= radius], 0.0)
    ring = (r > 8.0) & (r < radius)
    np.testing.assert_allclose(w[ring], (1 + np.cos(np.pi * (r[ring] - 8.0) / 8.0)) / 2)
    # taper 1 is the plain raised cosine (Hann) of the radius
    hann = radial_tukey_window([cy], [cx], [radius], H, W, taper=1.0)[0]
    expected = np.where(r < radius, (1 + np.cos(np.pi * np.minimum(r / radius, 1.0))) / 2, 0.0)
    np.testing.assert_allclose(hann, expected, atol=1e-15)


def test_window_is_vectorized_over_units_and_zero_for_radius_zero():
    cy, cx, radius = np.array([10.0, 40.0, 30.0]), np.array([5.0, 80.0, 48.0]), [6.0, 12.0, 0.0]
    windows = radial_tukey_window(cy, cx, radius, H, W)
    assert windows.shape == (3, H, W)
    for u in range(2):
        np.testing.assert_array_equal(
            windows[u], radial_tukey_window(cy[u : u + 1], cx[u : u + 1], radius[u], H, W)[0]
        )
    np.testing.assert_array_equal(windows[2], 0.0)
    with pytest.raises(ValueError, match="taper"):
        radial_tukey_window(cy, cx, radius, H, W, taper=0.0)
    with pytest.raises(ValueError, match="radius"):
        radial_tukey_window([1.0], [1.0], [-1.0], H, W)


# --- phases -------------------------------------------------------------------------------------


def test_random_phase_is_seeded_and_keeps_the_amplitude_spectrum_of_a_real_image():
    phase = random_phase([3, 4, 3], H, W)
    assert phase.shape == (3, H, W // 2 + 1)
    np.testing.assert_array_equal(phase[0], phase[2])
    assert not np.allclose(phase[0], phase[1])
    patches = _images(0, 2) - 0.5
    scrambled = phase_randomize(patches[:, None], phase)  # (2, 3, H, W)
    assert scrambled.shape == (2, 3, H, W) and np.isrealobj(scrambled)
    # full (not half) spectrum: a phase field without Hermitian symmetry would lose amplitude
    np.testing.assert_allclose(
        np.abs(np.fft.fft2(scrambled)),
        np.broadcast_to(np.abs(np.fft.fft2(patches))[:, None], scrambled.shape),
        rtol=1e-9,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        np.angle(np.fft.rfft2(scrambled[0, 1]))[1:, 1:-1], phase[1][1:, 1:-1]
    )
    assert np.abs(np.corrcoef(scrambled[0, 0].ravel(), patches[0].ravel())[0, 1]) < 0.1


def test_phase_randomize_with_the_own_phase_is_the_identity_and_keeps_float32():
    patches = (_images(1, 3) - 0.5).astype(np.float32)
    same = phase_randomize(patches, np.angle(np.fft.rfft2(patches.astype(np.float64))))
    assert same.dtype == np.float32
    np.testing.assert_allclose(same, patches, atol=1e-6)


# --- local phase scramble -----------------------------------------------------------------------


def test_scramble_changes_only_the_window_and_keeps_the_local_contrast():
    images = _images(2, 3, spread=0.05)  # low contrast: no clipping, so the energies are exact
    cy, cx, radius = np.array([25.0, 31.5]), np.array([30.0, 70.2]), np.array([14.0, 9.0])
    out = local_phase_scramble(images, cy, cx, radius, seeds=[7, 8])
    assert out.shape == (2, 2, 3, H, W) and out.dtype == np.float64
    assert 0.0 < out.min() and out.max() < 1.0
    window = radial_tukey_window(cy, cx, radius, H, W)
    for u in range(2):
        outside = _distance(cy[u], cx[u]) >= radius[u]
        np.testing.assert_array_equal(
            out[u][..., outside], np.broadcast_to(images, (2, 3, H, W))[..., outside]
        )
        assert np.abs(out[u][..., ~outside] - images[..., ~outside]).mean() > 0.01
    removed = window[:, None, None] ** 2 * (images - 0.5)  # w p
    inserted = out - images + removed  # c w s
    np.testing.assert_allclose(
        np.linalg.norm(inserted, axis=(-2, -1)),
        np.broadcast_to(np.linalg.norm(removed, axis=(-2, -1)), (2, 2, 3)),
        rtol=1e-9,
    )


def test_scramble_radius_zero_is_the_identity_and_seeds_are_independent():
    images = _images(3, 4).astype(np.float32)
    cy, cx = np.array([30.0, 20.0]), np.array([48.0, 10.0])
    unchanged = local_phase_scramble(images, cy, cx, [0.0, 0.0], seeds=[1, 2])
    assert unchanged.dtype == np.float32
    np.testing.assert_array_equal(unchanged, np.broadcast_to(images, unchanged.shape))
    both = local_phase_scramble(images, cy, cx, [10.0, 7.0], seeds=[5, 9])
    np.testing.assert_array_equal(
        both[:, 1:], local_phase_scramble(images, cy, cx, [10.0, 7.0], seeds=[9])
    )
    np.testing.assert_array_equal(
        both[1:], local_phase_scramble(images, cy[1:], cx[1:], [7.0], seeds=[5, 9])
    )


def test_scramble_of_a_grating_keeps_its_frequency_and_randomizes_its_phase():
    ky, kx = 4, 8  # cycles per image height and width: an oblique grating on the FFT grid
    row, col = np.arange(H)[:, None], np.arange(W)
    grating = 0.5 + 0.1 * np.cos(2 * np.pi * (ky * row / H + kx * col / W))
    cy, cx, radius = 30.0, 48.0, 26.0
    out = local_phase_scramble(grating[None], [cy], [cx], [radius], seeds=np.arange(16))[0, :, 0]
    removed = radial_tukey_window([cy], [cx], [radius], H, W)[0] ** 2 * (grating - 0.5)
    inserted = out - grating + removed
    power = np.abs(np.fft.fft2(inserted)) ** 2
    fy, fx = np.fft.fftfreq(H, 1 / H)[:, None], np.fft.fftfreq(W, 1 / W)
    near = lambda sign: (np.abs(fy - sign * ky) <= 3) & (np.abs(fx - sign * kx) <= 4)  # noqa: E731
    band = near(1) | near(-1)
    original_share = (np.abs(np.fft.fft2(removed)) ** 2)[band].sum() / (
        np.abs(np.fft.fft2(removed)) ** 2
    ).sum()
    share = power[:, band].sum(axis=-1) / power.sum(axis=(-2, -1))
    assert original_share > 0.95 and share.min() > 0.85
    r = np.array([np.corrcoef(q.ravel(), removed.ravel())[0, 1] for q in inserted])
    # the identity would give r = 1: each seed shifts the carrier in or out of register
    assert abs(r.mean()) < 0.25 and r.std() > 0.2 and r.max() < 0.9


# --- index --------------------------------------------------------------------------------------


def test_index_analytic_cases_and_gain_invariance():
    rng = np.random.default_rng(4)
    original = rng.gamma(2.0, size=(3, 500))
    independent = rng.gamma(2.0, size=(3, 2, 500))
    scrambled = np.stack(
        [
            np.stack([original[0], original[0]]),  # invariant: 1
            np.stack([original[1], -original[1]]),  # r = 1 and -1: 0
            independent[2],  # unrelated: ~0
        ]
    )
    index = phase_invariance_index(original, scrambled)
    np.testing.assert_allclose(index[:2], [1.0, 0.0], atol=1e-12)
    assert abs(index[2]) < 0.1
    mixed = 0.6 * original[:, None] + 0.8 * independent  # r = 0.6 / sqrt(0.36 + 0.64) per seed
    np.testing.assert_allclose(phase_invariance_index(original, mixed), 0.6, atol=0.06)
    for gain, offset in [(3.7, 2.0), (-2.0, 10.0)]:
        np.testing.assert_allclose(
            phase_invariance_index(gain * original + offset, gain * mixed + offset),
            phase_invariance_index(original, mixed),
            rtol=1e-12,
        )


def test_index_constant_responses():
    original = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    scrambled = np.array([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]])
    index = phase_invariance_index(original, scrambled)
    assert index[0] == pytest.approx(0.5) and np.isnan(
        index[1]
    )  # constant seed counts 0; constant unit NaN
    with pytest.raises(ValueError, match="expected original"):
        phase_invariance_index(original, scrambled[:, 0])


# --- ROC AUC ------------------------------------------------------------------------------------


# --- ground truth: the simulator's simple and complex cells ------------------------------------


@pytest.fixture(scope="module")
def simulated():
    """40 simulator units (20 simple, 20 complex) and 40 natural scenes at 60 x 96."""
    geometry = ScreenGeometry()
    params = sample_unit_params(
        np.random.default_rng(0), 40, {"simple": 0.5, "complex": 0.5}, geometry
    )
    scenes = model_images(natural_scenes(0, 40, 918, 1174), H, W)
    return geometry, params, scenes


def test_complex_cells_are_more_phase_invariant_than_simple_cells(simulated):
    geometry, params, scenes = simulated
    neurons = TrueNeurons(params, geometry, H, W)

    def drive(images):
        with torch.no_grad():
            return neurons.drive(torch.as_tensor(images)).numpy()

    cell_type = params["cell_type"].to_numpy()
    col, row = geometry.deg_to_pixel(params["center_x_deg"], params["center_y_deg"], H, W)
    radius = 3.0 * params["sigma_deg"].to_numpy() * max(geometry.pixels_per_degree(H, W))
    scrambled = local_phase_scramble(scenes, row, col, radius, seeds=np.arange(4))
    n_units, n_seeds, n_scenes = scrambled.shape[:3]
    original_drive = drive(scenes)
    every = drive(scrambled.reshape(-1, H, W))  # every unit, every image
    units = np.arange(n_units)
    scrambled_drive = every.reshape(n_units, n_units, n_seeds, n_scenes)[units, units]
    is_complex = cell_type == "complex"
    index = phase_invariance_index(original_drive, scrambled_drive)
    assert roc_auc(index, is_complex) >= 0.9
    assert np.median(index[is_complex]) - np.median(index[~is_complex]) > 0.3
    # rates through the Naka-Rushton gain, calibrated on twice the best scene's drive
    calibrated = calibrate(params, 2 * original_drive.max(axis=1), original_drive)
    gain = TrueNeurons(calibrated, geometry, H, W).gain
    original_rate = gain(torch.as_tensor(original_drive)).numpy()
    scrambled_rate = gain(torch.as_tensor(scrambled_drive.reshape(n_units, -1))).numpy()
    rate_index = phase_invariance_index(original_rate, scrambled_rate.reshape(scrambled.shape[:3]))
    assert roc_auc(rate_index, is_complex) >= 0.9
