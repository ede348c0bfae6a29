import numpy as np
import pandas as pd
import pytest

from meiflow.ingest.resize import area_resize
from meiflow.simulation import neurons
from meiflow.simulation.natural_scenes import natural_scenes
from meiflow.stimuli.geometry import ScreenGeometry

GEOM = ScreenGeometry()
HEIGHT, WIDTH = 48, 60
FRACTIONS = {"simple": 0.4, "complex": 0.4, "untuned": 0.2}


def unit_table(**columns) -> pd.DataFrame:
    """One-row-per-unit table with sensible defaults, overridden by columns (lists)."""
    n = len(next(iter(columns.values())))
    defaults = {
        "cell_type": ["simple"] * n,
        "center_x_deg": [0.0] * n,
        "center_y_deg": [0.0] * n,
        "orientation_deg": [30.0] * n,
        "sf_cpd": [0.08] * n,
        "sigma_deg": [6.0] * n,
        "phase_rad": [0.0] * n,
        "spontaneous_rate_hz": [2.0] * n,
        "peak_rate_hz": [12.0] * n,
        "modulation": [1.0] * n,
        "exponent": [1.0] * n,
        "semi_saturation": [0.5] * n,
    }
    return pd.DataFrame({**defaults, **columns})


@pytest.fixture(scope="module")
def population():
    params = neurons.sample_unit_params(np.random.default_rng(0), 60, FRACTIONS, GEOM)
    scenes = (
        area_resize(natural_scenes(seed=1, n_scenes=118, height=240, width=300), HEIGHT, WIDTH)
        / 255
    )
    filters = neurons.receptive_fields(params, GEOM, HEIGHT, WIDTH)
    drive = neurons.drive(filters, scenes, params["cell_type"].to_numpy())
    return params, scenes, filters, drive


def test_sample_unit_params_counts_ranges_and_seed():
    params = neurons.sample_unit_params(np.random.default_rng(5), 10, FRACTIONS, GEOM)
    assert params["cell_type"].value_counts().to_dict() == {"simple": 4, "complex": 4, "untuned": 2}
    odd = neurons.sample_unit_params(np.random.default_rng(5), 7, FRACTIONS, GEOM)
    assert odd["cell_type"].value_counts().sum() == 7
    big = neurons.sample_unit_params(np.random.default_rng(5), 2000, FRACTIONS, GEOM)
    assert big["center_x_deg"].between(-35, 35).all()
    assert big["center_y_deg"].between(-30, 30).all()
    assert big["orientation_deg"].between(0, 180).all()
    assert big["sf_cpd"].between(0.04, 0.12).all()
    # log-uniform: median at the geometric mean
    assert big["sf_cpd"].median() == pytest.approx(np.sqrt(0.04 * 0.12), rel=0.05)
    assert big["sigma_deg"].between(*neurons.SIGMA_RANGE_DEG).all()
    assert big["spontaneous_rate_hz"].between(0.5, 4).all()
    assert big["peak_rate_hz"].between(5, 25).all()
    assert big["modulation"].between(0, 1).all()
    assert big["modulation"].min() < 0.05 and big["modulation"].max() > 0.95
    assert big["exponent"].between(1.5, 2.5).all()
    assert big["semi_saturation"].between(0.2, 0.5).all()
    again = neurons.sample_unit_params(np.random.default_rng(5), 10, FRACTIONS, GEOM)
    pd.testing.assert_frame_equal(params, again)


def test_centres_stay_on_a_small_screen():
    small = ScreenGeometry(width_deg=40.0, height_deg=30.0)
    params = neurons.sample_unit_params(np.random.default_rng(0), 500, {"complex": 1.0}, small)
    assert params["center_x_deg"].abs().max() <= 20 and params["center_y_deg"].abs().max() <= 15


@pytest.mark.parametrize("fractions", [{"simple": 0.5}, {"simple": 0.5, "weird": 0.5}])
def test_bad_fractions_raise(fractions):
    with pytest.raises(ValueError):
        neurons.sample_unit_params(np.random.default_rng(0), 10, fractions, GEOM)


def test_receptive_fields_are_unit_norm_quadrature_pairs_at_the_centre():
    params = unit_table(
        center_x_deg=[-20.0, 15.0], center_y_deg=[10.0, -12.0], phase_rad=[0.3, 2.0]
    )
    filters = neurons.receptive_fields(params, GEOM, HEIGHT, WIDTH)
    assert filters.shape == (2, 2, HEIGHT, WIDTH)
    np.testing.assert_allclose(np.square(filters).sum(axis=(-2, -1)), 1.0)
    energy = np.square(filters).sum(axis=1)  # envelope^2, whatever the carrier phase
    for k in range(2):
        col, row = GEOM.deg_to_pixel(
            params["center_x_deg"][k], params["center_y_deg"][k], HEIGHT, WIDTH
        )
        peak = np.unravel_index(np.argmax(energy[k]), energy[k].shape)
        assert abs(peak[0] - row) <= 1 and abs(peak[1] - col) <= 1
    inner = (filters[:, 0] * filters[:, 1]).sum(axis=(-2, -1))
    assert np.all(np.abs(inner) < 0.05)


def test_complex_drive_is_phase_invariant_and_simple_is_not():
    params = unit_table(cell_type=["simple", "complex", "untuned"])
    filters = neurons.receptive_fields(params, GEOM, 95, 120)
    x, y = GEOM.pixel_grid(95, 120)
    phases = np.linspace(0, 2 * np.pi, 16, endpoint=False)[:, None, None]
    theta = np.deg2rad(30.0)
    gratings = 0.5 + 0.3 * np.cos(
        2 * np.pi * 0.08 * (x * np.cos(theta) - y * np.sin(theta)) + phases
    )
    drive = neurons.drive(filters, gratings, params["cell_type"].to_numpy())
    simple, complex_, untuned = drive
    assert complex_.std() < 1e-3 * complex_.mean()
    assert simple.min() == 0.0 and simple.max() == pytest.approx(complex_.mean(), rel=1e-3)
    np.testing.assert_array_equal(untuned, 0.0)


def test_rates_calibration_on_the_99th_percentile():
    drive = np.tile(np.arange(101.0), (4, 1))  # 99th percentile exactly 99
    params = unit_table(
        cell_type=["simple", "simple", "complex", "untuned"],
        modulation=[1.0, 0.0, 1.0, 1.0],
        exponent=[2.0, 2.0, 1.0, 1.0],
    )
    rate, other = neurons.rates(params, drive)
    assert other is None
    assert rate[0, 99] == pytest.approx(12.0) and rate[2, 99] == pytest.approx(12.0)
    assert rate[0, 0] == pytest.approx(2.0)
    # an unmodulated unit keeps the mean rate of its modulated twin, without tuning
    np.testing.assert_allclose(rate[1], rate[0].mean())
    np.testing.assert_allclose(rate[3], 2.0 + 10.0 * neurons.UNTUNED_DRIVEN_FRACTION)
    # other stimuli use the scene calibration; Naka-Rushton with c = 0.5:
    # h(0.5) = 1.25 * 0.25 / 0.5 for n = 2 and h(2) = 1.5 * 2 / 2.5 for n = 1
    _, other = neurons.rates(params, drive, np.array([[49.5], [0.0], [198.0], [5.0]]))
    np.testing.assert_allclose(other[:, 0], [2.0 + 10 * 0.625, rate[1, 0], 14.0, rate[3, 0]])


def test_rates_guard_zero_calibration():
    params = unit_table(modulation=[0.5])
    rate, other = neurons.rates(params, np.zeros((1, 20)), np.ones((1, 3)))
    np.testing.assert_allclose(rate, 2.0)
    np.testing.assert_allclose(other, 2.0)


def test_population_rates_are_realistic(population):
    params, _, _, drive = population
    rate, _ = neurons.rates(params, drive)
    tuned = params["cell_type"].to_numpy() != "untuned"
    assert rate.min() > 0.5 - 1e-9
    assert 1.0 < np.median(rate.mean(axis=1)) < 10.0
    # well-modulated units are strongly driven by their best scenes (weakly modulated ones are
    # not, by construction: their rate is mostly the mean term)
    strong = tuned & (params["modulation"].to_numpy() > 0.5)
    assert np.median(rate[strong].max(axis=1) / rate[strong].mean(axis=1)) > 1.8
    assert 10.0 < np.percentile(rate[tuned].max(axis=1), 90) < 60.0


def test_drifting_gabor_prefers_the_receptive_field(population):
    params = unit_table(
        cell_type=["simple", "complex", "untuned"],
        center_x_deg=[10.0] * 3,
        center_y_deg=[-10.0] * 3,
        orientation_deg=[90.0] * 3,
        sigma_deg=[4.0] * 3,
    )
    _, scenes, _, _ = population
    filters = neurons.receptive_fields(params, GEOM, HEIGHT, WIDTH)
    drive = neurons.drive(filters, scenes, params["cell_type"].to_numpy())
    grid = np.arange(-40.0, 41.0, 10.0)
    ori, x, y = (a.ravel() for a in np.meshgrid([0.0, 45.0, 90.0], grid, grid, indexing="ij"))
    rate = neurons.drifting_gabor_rates(params, filters, drive, GEOM, HEIGHT, WIDTH, ori, x, y)
    assert rate.shape == (3, 243)
    for unit in (0, 1):
        best = np.argmax(rate[unit])
        assert (ori[best], x[best], y[best]) == (90.0, 10.0, -10.0)
        assert rate[unit, best] > 2 * rate[unit].min()
    np.testing.assert_allclose(rate[2], rate[2, 0])


def test_optimal_stimulus_contrast_and_optimality(population):
    params, scenes, filters, drive = population
    cell_type = params["cell_type"].to_numpy()
    contrast = scenes.std(axis=(1, 2)).mean()
    best = neurons.optimal_stimulus(filters, cell_type, contrast)
    assert best.shape == (len(params), HEIGHT, WIDTH)
    assert best.min() >= 0.0 and best.max() <= 1.0
    tuned = cell_type != "untuned"
    np.testing.assert_allclose(best[tuned].std(axis=(1, 2)), contrast, rtol=1e-6)
    np.testing.assert_array_equal(best[~tuned], 0.5)
    own = np.einsum("uhw,uhw->u", filters[:, 0], best - 0.5)
    assert np.all(own[tuned] > np.percentile(drive, 99, axis=1)[tuned])
    # random images of the same std: white noise, smooth noise and the scenes themselves
    rng = np.random.default_rng(0)
    noise = rng.random((200, HEIGHT, WIDTH))
    smooth = area_resize(area_resize(noise, 6, 8), HEIGHT, WIDTH)
    candidates = np.concatenate([noise, smooth, scenes])
    centred = candidates - candidates.mean(axis=(1, 2), keepdims=True)
    candidates = 0.5 + centred * contrast / centred.std(axis=(1, 2), keepdims=True)
    simple = cell_type == "simple"
    rivals = neurons.drive(filters[simple], candidates, cell_type[simple])
    assert np.all(own[simple] > rivals.max(axis=1))


def jackknife_oracle(counts: np.ndarray) -> np.ndarray:
    """Direct leave-one-out oracle of counts (..., n_images, n_repeats): r over all trials."""
    n_repeats = counts.shape[-1]
    others = (counts.sum(axis=-1, keepdims=True) - counts) / (n_repeats - 1)
    a = counts.reshape(*counts.shape[:-2], -1)
    b = others.reshape(*counts.shape[:-2], -1)
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    return (a * b).sum(axis=-1) / np.sqrt((a**2).sum(axis=-1) * (b**2).sum(axis=-1))


def test_implied_oracle_matches_monte_carlo():
    rng = np.random.default_rng(0)
    n_images, n_repeats, n_sims = 400, 10, 40
    base = rng.gamma(2.0, 1.0, n_images)
    true_counts = np.stack([0.5 + 0.2 * base, 1.0 + 1.0 * base, 3.0 * base, np.full(n_images, 2.0)])
    expected = neurons.implied_oracle(true_counts, n_repeats)
    assert expected[3] == 0.0  # constant rate: no signal
    assert np.isnan(neurons.implied_oracle(np.zeros((1, 5)), n_repeats)[0])  # never fires
    draws = rng.poisson(true_counts[:3, None, :, None], (3, n_sims, n_images, n_repeats))
    simulated = jackknife_oracle(draws).mean(axis=1)
    np.testing.assert_allclose(simulated, expected[:3], atol=0.015)
    assert expected[0] < expected[1] < expected[2] < 1
