"""Tests of the ridge baseline in meiflow.models.linear against closed forms and planted filters."""

import warnings

import numpy as np
import pytest

from meiflow.models.linear import RidgeFit, fit_ridge
from meiflow.stimuli.gabor import gabor

H, W = 16, 24


def planted_gabor() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(float)
    return gabor(x, -y, 12, -8, 30, 0.1, 0.0, 2.5)


def simulate(filt: np.ndarray, n: int, seed: int, gain: float = 1.5, repeats: int = 5):
    """White-noise images (n, H, W) in [0, 1] and mean Poisson counts (n, 1) over ``repeats``
    trials of a linear unit (drive of unit standard deviation times ``gain`` around 4)."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, H, W))
    drive = (images - 0.5).reshape(n, -1) @ filt.ravel()
    drive /= np.linalg.norm(filt) * np.sqrt(1 / 12)
    rate = np.clip(4 + gain * drive, 0, None)
    return images, rng.poisson(rate[:, None], size=(n, repeats)).mean(axis=1, keepdims=True)


def closed_form(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge weights (p, n_units) of centred x (n, p) and intercept: the normal equations."""
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    weights = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)
    return weights, y.mean(axis=0)


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("n", [8, 30])  # fewer and more images than the 12 pixels
def test_closed_form(n):
    rng = np.random.default_rng(n)
    images, targets = rng.random((n, 3, 4)), rng.normal(size=(n, 3))
    val_images = rng.random((5, 3, 4))
    fit = fit_ridge(images, targets, val_images, rng.normal(size=(5, 3)), alphas=[0.7])
    weights, intercept = closed_form(images.reshape(n, -1), targets, 0.7)
    np.testing.assert_allclose(fit.weights.reshape(3, -1), weights.T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit.intercept, intercept, rtol=1e-12)
    np.testing.assert_allclose(fit.pixel_mean, images.mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(fit.alpha, 0.7)
    expected = (val_images.reshape(5, -1) - images.reshape(n, -1).mean(axis=0)) @ weights
    np.testing.assert_allclose(fit.predict(val_images), expected + intercept, rtol=1e-9)


def test_closed_form_downsampled():
    """downsample=2 fits the 2 x 2 block means; the full-resolution weights reproduce it."""
    rng = np.random.default_rng(1)
    images, targets = rng.random((20, 4, 6)), rng.normal(size=(20, 2))
    val_images = rng.random((6, 4, 6))
    fit = fit_ridge(images, targets, val_images, rng.normal(size=(6, 2)), [0.3], downsample=2)

    def blocks(x):
        return x.reshape(len(x), 2, 2, 3, 2).mean(axis=(2, 4)).reshape(len(x), -1)

    weights, intercept = closed_form(blocks(images), targets, 0.3)
    expected = (blocks(val_images) - blocks(images).mean(axis=0)) @ weights + intercept
    np.testing.assert_allclose(fit.predict(val_images), expected, rtol=1e-9)
    assert fit.weights.shape == (2, 4, 6)
    block_weights = fit.weights.reshape(2, 2, 2, 3, 2)  # constant within every block
    first = np.broadcast_to(block_weights[:, :, :1, :, :1], block_weights.shape)
    np.testing.assert_allclose(block_weights, first, rtol=1e-12)


def test_selection_is_best_single_alpha():
    """The chosen alpha and its validation r are those of the best of the single-alpha fits."""
    filt = planted_gabor()
    images, targets = simulate(filt, 150, 2)
    val_images, val_targets = simulate(filt, 40, 3)
    alphas = np.logspace(-1, 4, 6)
    fit = fit_ridge(images, targets, val_images, val_targets, alphas)
    r = [
        np.corrcoef(
            fit_ridge(images, targets, val_images, val_targets, [a]).predict(val_images)[:, 0],
            val_targets[:, 0],
        )[0, 1]
        for a in alphas
    ]
    assert fit.alpha[0] == alphas[np.argmax(r)]
    np.testing.assert_allclose(fit.validation_correlation, max(r), rtol=1e-9)


def test_recovers_planted_gabor():
    filt = planted_gabor()
    images, targets = simulate(filt, 2000, 1)
    val_images, val_targets = simulate(filt, 300, 2)
    fit = fit_ridge(images, targets, val_images, val_targets)
    assert isinstance(fit, RidgeFit)
    assert np.corrcoef(fit.weights[0].ravel(), filt.ravel())[0, 1] > 0.9
    assert fit.validation_correlation[0] > 0.7


def test_downsampling_helps_with_few_images():
    """With 200 images for 384 pixels, the block-constant prior recovers a smooth filter better."""
    filt = planted_gabor()
    images, targets = simulate(filt, 200, 1)
    val_images, val_targets = simulate(filt, 60, 2)
    recovered = [
        np.corrcoef(
            fit_ridge(images, targets, val_images, val_targets, downsample=k).weights[0].ravel(),
            filt.ravel(),
        )[0, 1]
        for k in (1, 2)
    ]
    assert recovered[1] > recovered[0] + 0.1


def test_vectorized_units_equal_single_unit_fits():
    """Units of different reliability (different alphas) fitted together or one by one."""
    filt = planted_gabor()
    rng = np.random.default_rng(4)
    images, base = simulate(filt, 120, 5)
    val_images, val_base = simulate(filt, 40, 6)
    scales = np.array([1.0, 0.3, 0.05, 0.0])
    targets = base * scales + rng.normal(size=(120, 4))
    val_targets = val_base * scales + rng.normal(size=(40, 4))
    together = fit_ridge(images, targets, val_images, val_targets)
    assert np.unique(together.alpha).size > 1
    for u in range(4):
        alone = fit_ridge(images, targets[:, [u]], val_images, val_targets[:, [u]])
        assert alone.alpha[0] == together.alpha[u]
        np.testing.assert_allclose(alone.weights[0], together.weights[u], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(alone.intercept[0], together.intercept[u], rtol=1e-12)
        np.testing.assert_allclose(
            alone.validation_correlation[0], together.validation_correlation[u], rtol=1e-9
        )
    alone = fit_ridge(images, targets[:, [1]], val_images, val_targets[:, [1]])
    np.testing.assert_allclose(
        together.predict(val_images)[:, 1], alone.predict(val_images)[:, 0], rtol=1e-8
    )


def test_pure_noise_targets():
    """No linear signal. By MSE most units get an alpha above the largest squared singular value
    of the design (predictions shrunk towards the mean) and far larger than a signal unit's;
    by correlation the choice is arbitrary and lands mostly at the ends of the grid (the
    validation r is flat there), as documented; either way the test r is 0."""
    rng = np.random.default_rng(7)
    n, n_val, n_units = 94, 24, 200
    images, val_images = rng.random((n, H, W)), rng.random((n_val, H, W))
    targets, val_targets = rng.normal(size=(n, n_units)), rng.normal(size=(n_val, n_units))
    alphas = np.logspace(-2, 5, 15)
    centred = images.reshape(n, -1) - images.reshape(n, -1).mean(axis=0)
    largest = np.linalg.svd(centred, compute_uv=False)[0] ** 2

    by_mse = fit_ridge(images, targets, val_images, val_targets, alphas, criterion="mse")
    assert np.mean(by_mse.alpha >= largest) > 0.75
    filt = planted_gabor()
    signal, val_signal = simulate(filt, n, 8, gain=3.0), simulate(filt, n_val, 9, gain=3.0)
    signal_fit = fit_ridge(*signal, *val_signal, alphas, criterion="mse")
    assert signal_fit.alpha[0] < np.median(by_mse.alpha)

    by_r = fit_ridge(images, targets, val_images, val_targets, alphas)
    assert np.mean((by_r.alpha == alphas[0]) | (by_r.alpha == alphas[-1])) > 0.6
    test_images, test_targets = rng.random((500, H, W)), rng.normal(size=(500, n_units))
    test_r = [
        np.corrcoef(p, t)[0, 1]
        for p, t in zip(by_r.predict(test_images).T, test_targets.T, strict=True)
    ]
    assert abs(np.mean(test_r)) < 0.02


def test_constant_validation_targets_take_largest_alpha():
    rng = np.random.default_rng(9)
    images, targets = rng.random((30, 4, 5)), rng.normal(size=(30, 2))
    fit = fit_ridge(images, targets, rng.random((8, 4, 5)), np.ones((8, 2)), [1.0, 10.0, 0.1])
    np.testing.assert_array_equal(fit.alpha, 10.0)
    assert np.isnan(fit.validation_correlation).all()


def test_bad_arguments():
    rng = np.random.default_rng(10)
    images, targets = rng.random((10, 4, 6)), rng.normal(size=(10, 2))
    with pytest.raises(ValueError, match="alphas"):
        fit_ridge(images, targets, images, targets, alphas=[0.0, 1.0])
    with pytest.raises(ValueError, match="downsample"):
        fit_ridge(images, targets, images, targets, downsample=0)
    with pytest.raises(ValueError, match="criterion"):
        fit_ridge(images, targets, images, targets, criterion="r2")
    with pytest.raises(ValueError, match="training set"):
        fit_ridge(images, targets[:-1], images, targets)
    fit = fit_ridge(images, targets, images, targets)
    with pytest.raises(ValueError, match="expected"):
        fit.predict(images[:, :-1])
