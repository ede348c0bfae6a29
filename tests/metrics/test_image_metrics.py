import numpy as np
import pytest

from meiflow.metrics.image_metrics import (
    circular_mask,
    contrast,
    image_mask,
    image_metrics,
    image_spectra,
    log_power,
    luminance,
    masked_power_spectrum,
    orientation,
    peak_spatial_frequency,
    radial_profile,
    symmetry,
    symmetry_notebook,
)
from meiflow.stimuli.gabor import gabor
from meiflow.stimuli.geometry import ScreenGeometry

GEOM = ScreenGeometry()
HEIGHT, WIDTH = 60, 96
X, Y = GEOM.pixel_grid(HEIGHT, WIDTH)
PPD = GEOM.pixels_per_degree(HEIGHT, WIDTH)
ROWS, COLS = np.mgrid[:HEIGHT, :WIDTH]
BLOB_ROW, BLOB_COL = 22.3, 61.7
# radius holding 90 % of a 2-D Gaussian: sigma sqrt(-2 ln 0.1)
RADIUS_PER_SIGMA = np.sqrt(-2 * np.log(0.1))


def blobs(sigma: np.ndarray, row: float = BLOB_ROW, col: float = BLOB_COL) -> np.ndarray:
    """(len(sigma), H, W) isotropic Gaussian blobs (in pixels) on mean gray."""
    sigma = np.asarray(sigma, dtype=float)[:, None, None]
    return 0.5 + 0.4 * np.exp(-((ROWS - row) ** 2 + (COLS - col) ** 2) / (2 * sigma**2))


def gabor_image(orientation_deg, sf_cpd, phase_rad, sigma_deg) -> np.ndarray:
    """meiflow.stimuli.gabor patches centred off the screen centre, as images 0.5 + 0.4 patch."""
    return 0.5 + 0.4 * gabor(X, Y, 10.0, -5.0, orientation_deg, sf_cpd, phase_rad, sigma_deg)


def circular_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| in degrees modulo 180."""
    return np.abs((a - b + 90) % 180 - 90)


def test_image_mask_finds_an_off_centre_blob_with_radius_proportional_to_sigma():
    sigma = np.array([2.0, 3.0, 4.0, 6.0])
    smooth = 1.5
    center_y, center_x, radius = image_mask(blobs(sigma), fraction=0.9, smooth_sigma=smooth)
    np.testing.assert_allclose(center_y, BLOB_ROW, atol=0.1)
    np.testing.assert_allclose(center_x, BLOB_COL, atol=0.1)
    # the smoothing widens the blob to sqrt(sigma^2 + smooth^2)
    expected = RADIUS_PER_SIGMA * np.hypot(sigma, smooth)
    np.testing.assert_allclose(radius, expected, rtol=0.03)
    # without smoothing the radius is proportional to sigma
    _, _, sharp = image_mask(blobs(sigma), fraction=0.9, smooth_sigma=0.0)
    np.testing.assert_allclose(sharp / sigma, RADIUS_PER_SIGMA, rtol=0.05)
    # a smaller fraction gives the matching smaller radius
    _, _, half = image_mask(blobs(sigma[2:]), fraction=0.5, smooth_sigma=0.0)
    np.testing.assert_allclose(half, np.sqrt(2 * np.log(2)) * sigma[2:], rtol=0.1)


def test_image_mask_finds_a_dark_blob_and_keeps_leading_dims():
    images = np.stack([blobs([3.0, 5.0]), 1.0 - blobs([3.0, 5.0], row=40.0, col=20.0)])
    center_y, center_x, radius = image_mask(images)
    assert center_y.shape == center_x.shape == radius.shape == (2, 2)
    np.testing.assert_allclose(center_y, [[BLOB_ROW] * 2, [40.0] * 2], atol=0.1)
    np.testing.assert_allclose(center_x, [[BLOB_COL] * 2, [20.0] * 2], atol=0.1)
    np.testing.assert_allclose(radius[0], radius[1], rtol=0.02)  # sub-pixel offsets differ


def test_image_mask_finds_gabor_patches():
    images = gabor_image(np.array([0.0, 45.0, 90.0])[:, None], 0.08, [0.0, np.pi / 2], 7.0)
    center_y, center_x, radius = image_mask(images)
    col, row = GEOM.deg_to_pixel(10.0, -5.0, HEIGHT, WIDTH)
    np.testing.assert_allclose(center_y, row, atol=1.0)
    np.testing.assert_allclose(center_x, col, atol=1.0)
    # the envelope's sigma is 7 deg * ppd = 4.4 (rows) and 5.6 (columns) pixels
    assert np.all((radius > 2 * 4.4) & (radius < 3 * 5.6))


def test_image_mask_clips_radius_and_handles_flat_images():
    spike = np.full((HEIGHT, WIDTH), 0.5)
    spike[10, 20] = 1.0
    center_y, center_x, radius = image_mask(spike, smooth_sigma=0.0)
    assert (center_y, center_x, radius) == (10.0, 20.0, 1.0)  # radius 0 clipped to 1
    center_y, center_x, radius = image_mask(np.full((2, HEIGHT, WIDTH), 0.5))
    np.testing.assert_allclose(center_y, (HEIGHT - 1) / 2)
    np.testing.assert_allclose(center_x, (WIDTH - 1) / 2)
    assert np.all((radius > 0.5 * HEIGHT) & (radius <= np.hypot(HEIGHT, WIDTH)))
    with pytest.raises(ValueError, match="fraction"):
        image_mask(spike, fraction=0.0)


def test_circular_mask_counts_and_broadcasts():
    mask = circular_mask(5.0, 6.0, 1.0, 10, 12)
    assert mask.shape == (10, 12) and mask.dtype == bool
    assert mask.sum() == 5  # centre and its 4 neighbours
    assert mask[5, 6] and mask[4, 6] and mask[5, 7] and not mask[4, 7]
    masks = circular_mask(np.array([5.0, 2.0]), 6.0, np.array([[1.0], [2.0], [3.0]]), 10, 12)
    assert masks.shape == (3, 2, 10, 12)
    np.testing.assert_array_equal(masks[0, 0], mask)
    assert masks[2, 0].sum() == 29  # lattice points within radius 3


def test_luminance_and_contrast_known_values():
    image = np.ones((HEIGHT, WIDTH))  # outside the mask: ignored
    mask = circular_mask(30.0, 40.0, 8.0, HEIGHT, WIDTH)
    inside = np.flatnonzero(mask)
    image.ravel()[inside[::2]] = 0.2
    image.ravel()[inside[1::2]] = 0.8
    n_low, n_high = len(inside[::2]), len(inside[1::2])
    mean = (0.2 * n_low + 0.8 * n_high) / (n_low + n_high)
    assert luminance(image, mask) == pytest.approx(mean)
    variance = (n_low * (0.2 - mean) ** 2 + n_high * (0.8 - mean) ** 2) / (n_low + n_high)
    assert contrast(image, mask) == pytest.approx(np.sqrt(variance))


def test_luminance_and_contrast_match_boolean_indexing_over_a_batch():
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 20, 24))
    masks = circular_mask(rng.uniform(5, 15, (2, 3)), rng.uniform(5, 19, (2, 3)), 4.0, 20, 24)
    means, stds = luminance(images, masks), contrast(images, masks)
    assert means.shape == stds.shape == (2, 3)
    for index in np.ndindex(2, 3):
        values = images[index][masks[index]]
        assert means[index] == pytest.approx(values.mean())
        assert stds[index] == pytest.approx(values.std())
    # one mask for every image broadcasts
    np.testing.assert_allclose(luminance(images, masks[0, 0]), images[..., masks[0, 0]].mean(-1))


def notebook_symmetry_reference(image: np.ndarray) -> tuple[float, float]:
    """The notebook's symmetry indices with explicit loops (an independent implementation)."""
    power = np.abs(np.fft.fftshift(np.fft.fft2(image))) ** 2
    height, width = image.shape
    bins: dict[int, list[float]] = {}
    for row in range(height):
        for col in range(width):
            angle = np.arctan2(row - height // 2, col - width // 2)
            index = int((angle + np.pi) // (np.pi / 16)) % 32
            bins.setdefault(index, []).append(power[row, col])
    theta = np.array([-np.pi + (b + 0.5) * np.pi / 16 for b in sorted(bins)])
    p_theta = np.array([np.mean(bins[b]) for b in sorted(bins)])
    return tuple(abs(np.sum(p_theta * np.exp(2j * n * theta))) / p_theta.sum() for n in (1, 2))


def test_symmetry_notebook_matches_a_loop_implementation():
    rng = np.random.default_rng(1)
    images = rng.random((3, 8, 12))
    images[1] -= images[1].mean()
    si_1, si_2 = symmetry_notebook(images)
    for k in range(3):
        np.testing.assert_allclose((si_1[k], si_2[k]), notebook_symmetry_reference(images[k]))


def test_periodic_grating_has_symmetry_one_and_exact_peak():
    # a grating periodic on a 64 x 64 image, whole-image mask, no padding: two spectral lines
    size, cycles_y, cycles_x = 64, 3, 5
    rows, cols = np.mgrid[:size, :size]
    grating = 0.5 + 0.4 * np.cos(2 * np.pi * (cycles_y * rows + cycles_x * cols) / size)
    whole = np.ones((size, size), dtype=bool)
    np.testing.assert_allclose(symmetry(grating, whole, pad=1), (1.0, 1.0), atol=1e-9)
    ppd = (0.5, 0.8)  # pixels need not be square in degrees
    cpp, cpd = peak_spatial_frequency(grating, whole, ppd, pad=1)
    assert cpp == pytest.approx(np.hypot(cycles_y, cycles_x) / size)
    assert cpd == pytest.approx(np.hypot(cycles_y * ppd[0], cycles_x * ppd[1]) / size)
    expected = np.rad2deg(np.arctan2(cycles_y * ppd[0], cycles_x * ppd[1]))
    assert orientation(grating, whole, ppd, pad=1) == pytest.approx(expected)


def test_isotropic_blob_proper_symmetry_near_zero_notebook_near_one():
    images = blobs([2.0, 3.0, 5.0, 8.0])
    mask = circular_mask(*image_mask(images), HEIGHT, WIDTH)
    si_1, si_2 = symmetry(images, mask)
    assert np.all(si_1 < 0.15) and np.all(si_2 < 0.15)
    nb_1, nb_2 = symmetry_notebook(images)
    assert np.all(nb_1 > 0.95) and np.all(nb_2 > 0.95)  # the DC artefact


def test_gabor_ground_truth_orientation_frequency_and_symmetry():
    orientations = np.array([0.0, 30.0, 45.0, 90.0, 135.0])[:, None, None, None]
    sfs = np.array([0.05, 0.08, 0.12])[None, :, None, None]
    sigmas = np.array([6.0, 8.0])[None, None, :, None]
    images = gabor_image(orientations, sfs, np.array([0.0, np.pi / 2]), sigmas)
    metrics = image_metrics(images, PPD)
    assert np.all(circular_difference(metrics["orientation_deg"], orientations) < 5)
    assert np.all(np.abs(metrics["peak_sf_cpd"] / sfs - 1) < 0.1)
    # cycles/pixel: the same peak, frequencies along rows and columns scaled separately
    theta = np.deg2rad(orientations)
    cpp = sfs * np.hypot(np.sin(theta) / PPD[0], np.cos(theta) / PPD[1])
    assert np.all(np.abs(metrics["peak_sf_cpp"] / cpp - 1) < 0.1)
    # the more carrier cycles under the envelope, the more oriented the power
    assert np.all(np.diff(metrics["symmetry_2"], axis=1) > 0)
    assert np.all(metrics["symmetry_1"] > metrics["symmetry_2"])
    assert np.all(metrics["symmetry_2_notebook"] > 0.95)


def test_gabors_with_several_cycles_have_symmetry_2_above_0_9():
    orientations = np.array([0.0, 30.0, 45.0, 90.0, 135.0])[:, None]
    images = gabor_image(orientations, 0.2, np.array([0.0, np.pi / 2]), 8.0)  # 1.6 cycles/sigma
    mask = circular_mask(*image_mask(images), HEIGHT, WIDTH)
    si_1, si_2 = symmetry(images, mask)
    assert np.all(si_2 > 0.9) and np.all(si_1 > 0.95)
    assert np.all(circular_difference(orientation(images, mask, PPD), orientations) < 2)


def test_image_metrics_keys_shapes_and_batch_consistency():
    images = np.stack([blobs([3.0, 5.0]), gabor_image(np.array([20.0, 70.0]), 0.1, 0.0, 7.0)])
    metrics = image_metrics(images, PPD)
    assert set(metrics) == {
        "mask_center_y",
        "mask_center_x",
        "mask_radius",
        "luminance",
        "contrast",
        "symmetry_1",
        "symmetry_2",
        "symmetry_1_notebook",
        "symmetry_2_notebook",
        "peak_sf_cpp",
        "peak_sf_cpd",
        "orientation_deg",
    }
    assert all(value.shape == (2, 2) for value in metrics.values())
    single = image_metrics(images[1, 0], PPD)
    for key, value in single.items():
        assert value.shape == ()
        assert metrics[key][1, 0] == pytest.approx(value), key
    mask = circular_mask(
        single["mask_center_y"], single["mask_center_x"], single["mask_radius"], HEIGHT, WIDTH
    )
    assert single["contrast"] == pytest.approx(images[1, 0][mask].std())
    assert single["symmetry_2"] == pytest.approx(symmetry(images[1, 0], mask)[1])


def test_masked_power_spectrum_has_no_dc_and_zero_outside_the_mask():
    image = gabor_image(30.0, 0.1, 1.0, 6.0)
    mask = circular_mask(20.0, 30.0, 9.0, HEIGHT, WIDTH)
    power, f = masked_power_spectrum(image, mask, pad=2)
    assert power.shape == (2 * WIDTH, 2 * WIDTH) and f.shape == (2 * WIDTH,)
    assert f[WIDTH] == 0.0 and f[WIDTH + 1] == pytest.approx(1 / (2 * WIDTH))
    centred = (image - image[mask].mean()) * mask
    assert power[WIDTH, WIDTH] == pytest.approx(0.0, abs=1e-18)
    assert power.sum() / power.size == pytest.approx((centred**2).sum())  # Parseval


def test_log_power_of_a_periodic_grating():
    cycles_y, cycles_x, amplitude = 2, 7, 0.3
    image = 0.5 + amplitude * np.cos(
        2 * np.pi * (cycles_y * ROWS / HEIGHT + cycles_x * COLS / WIDTH)
    )
    spectrum, fy, fx = log_power(np.stack([image, image]))
    assert spectrum.shape == (2, HEIGHT, WIDTH)
    np.testing.assert_allclose(fy, np.fft.fftshift(np.fft.fftfreq(HEIGHT)))
    np.testing.assert_allclose(fx, np.fft.fftshift(np.fft.fftfreq(WIDTH)))
    line = np.log1p((amplitude * HEIGHT * WIDTH / 2) ** 2)
    for sign in (1, -1):
        row = HEIGHT // 2 + sign * cycles_y
        col = WIDTH // 2 + sign * cycles_x
        assert spectrum[0, row, col] == pytest.approx(line)
        assert fy[row] == pytest.approx(sign * cycles_y / HEIGHT)
        assert fx[col] == pytest.approx(sign * cycles_x / WIDTH)
    assert np.sort(spectrum[0].ravel())[-3] < 1e-6  # nothing else, DC removed


def test_radial_profile_of_a_known_power():
    fy, fx = np.fft.fftshift(np.fft.fftfreq(HEIGHT)), np.fft.fftshift(np.fft.fftfreq(WIDTH))
    radius = np.hypot(fy[:, None], fx[None, :])
    centres, means = radial_profile(np.stack([radius, 2 * radius]), fy, fx, n_bins=10)
    np.testing.assert_allclose(centres, (np.arange(10) + 0.5) * 0.05)
    assert means.shape == (2, 10)
    # the mean radius of a ring lies within the ring
    assert np.all(np.abs(means[0] - centres) <= 0.025)
    np.testing.assert_allclose(means[1], 2 * means[0])
    # rings finer than the frequency step stay empty (NaN)
    _, fine = radial_profile(radius, fy, fx, n_bins=200)
    assert np.isnan(fine[0]) and np.isfinite(fine[-1])


def test_image_spectra_stores_log_power_and_radial_profile():
    images = blobs([3.0, 6.0])
    spectra = image_spectra(images, n_bins=12)
    expected, fy, fx = log_power(images)
    np.testing.assert_allclose(spectra["log_power"], expected)
    np.testing.assert_allclose(spectra["fy"], fy)
    np.testing.assert_allclose(spectra["fx"], fx)
    assert spectra["radial_frequency"].shape == (12,)
    assert spectra["radial_power"].shape == (2, 12)
    # a wider blob has its power at lower frequencies
    assert spectra["radial_power"][1, 0] > spectra["radial_power"][0, 0]
    assert spectra["radial_power"][1, 3] < spectra["radial_power"][0, 3]
