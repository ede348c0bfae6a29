import numpy as np
import pytest

from meiflow.ingest.resize import area_resize
from meiflow.simulation.natural_scenes import (
    HELDOUT_PHOTOS,
    SOURCE_PHOTOS,
    _load_gray,
    amplitude_spectrum_slope,
    heldout_images,
    natural_scenes,
)


@pytest.fixture(scope="module")
def full_size():
    return natural_scenes(seed=7)


def test_default_scenes_match_the_allen_set(full_size):
    assert full_size.shape == (118, 918, 1174)
    assert full_size.dtype == np.uint8
    luminance = full_size[:, ::3, ::3].reshape(118, -1) / 255
    assert 0.4 < luminance.mean() < 0.6
    assert 0.2 < luminance.std(axis=1).mean() < 0.32
    assert luminance.std(axis=1).min() > 0.1  # every scene has structure
    # no two scenes alike
    corr = np.corrcoef(luminance[:, ::31])
    assert np.max(corr[np.triu_indices(118, 1)]) < 0.95


def test_spectrum_of_full_size_scenes(full_size):
    assert 0.8 <= amplitude_spectrum_slope(full_size[::8]) <= 1.5


def test_same_seed_is_byte_identical_and_other_seed_differs():
    a = natural_scenes(seed=3, n_scenes=14, height=92, width=118)
    b = natural_scenes(seed=3, n_scenes=14, height=92, width=118)
    c = natural_scenes(seed=4, n_scenes=14, height=92, width=118)
    assert a.shape == (14, 92, 118) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("seed", [0, 1])
def test_amplitude_spectrum_is_natural(seed):
    scenes = natural_scenes(seed=seed, n_scenes=30, height=230, width=294)
    assert 0.8 <= amplitude_spectrum_slope(scenes) <= 1.5


@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.0])
def test_slope_of_synthetic_power_law_noise(exponent):
    rng = np.random.default_rng(0)
    height, width = 256, 320
    f = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
    spectrum = np.where(f > 0, f, 1.0) ** -exponent * np.exp(
        2j * np.pi * rng.random((8, height, width // 2 + 1))
    )
    images = np.fft.irfft2(spectrum, s=(height, width))
    assert amplitude_spectrum_slope(images) == pytest.approx(exponent, abs=0.1)


def _standardized(images: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n, pixels) float64 rows of zero mean and unit norm (dot product = Pearson r)."""
    rows = images.reshape(len(images), -1).astype(float)
    rows -= rows.mean(axis=1, keepdims=True)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def heldout():
    return heldout_images(seed=0)


def test_heldout_images_shape_dtype_and_range(heldout):
    assert heldout.shape == (500, 60, 96)
    assert heldout.dtype == np.float32
    assert heldout.min() >= 0.0 and heldout.max() <= 1.0
    levels = heldout * 255
    assert np.array_equal(levels, np.rint(levels))  # 8-bit levels, as the scenes
    assert 0.4 < heldout.mean() < 0.6
    assert heldout.std(axis=(1, 2)).min() > 0.05  # every image has structure
    assert heldout_images(seed=2, n_images=5, height=30, width=40).shape == (5, 30, 40)


def test_heldout_images_same_seed_is_byte_identical_and_other_seed_differs(heldout):
    assert heldout_images(seed=0).tobytes() == heldout.tobytes()
    assert not np.array_equal(heldout_images(seed=1), heldout)


@pytest.mark.parametrize(
    "n_images, height, width", [(0, 60, 96), (-1, 60, 96), (5, 0, 96), (5, 60, 0)]
)
def test_heldout_images_refuse_empty_sizes(n_images, height, width):
    with pytest.raises(ValueError, match="at least 1"):
        heldout_images(0, n_images, height, width)


def test_heldout_photos_are_not_scene_photos():
    assert not set(HELDOUT_PHOTOS) & set(SOURCE_PHOTOS)
    # no held-out photo is a scene photo under another name (as cat is chelsea)
    small = [area_resize(_load_gray(name), 32, 32) for name in HELDOUT_PHOTOS + SOURCE_PHOTOS]
    corr = (
        _standardized(np.stack(small[: len(HELDOUT_PHOTOS)]))
        @ _standardized(np.stack(small[len(HELDOUT_PHOTOS) :])).T
    )
    assert np.abs(corr).max() < 0.9
    cat = _standardized(area_resize(_load_gray("cat"), 32, 32)[None])
    chelsea = _standardized(area_resize(_load_gray("chelsea"), 32, 32)[None])
    assert (cat @ chelsea.T).item() > 0.9  # the check catches a renamed photo
