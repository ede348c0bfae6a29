import numpy as np
import pytest

from meiflow.simulation.natural_scenes import amplitude_spectrum_slope, natural_scenes


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
