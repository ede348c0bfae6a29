import numpy as np
import pandas as pd
import pytest
import torch

from meiflow.ingest.resize import area_resize
from meiflow.simulation import neurons
from meiflow.simulation.natural_scenes import natural_scenes
from meiflow.stimuli.geometry import ScreenGeometry

GEOM = ScreenGeometry()
HEIGHT, WIDTH = 48, 60
FRACTIONS = {"simple": 0.3, "complex": 0.3, "center_surround": 0.1, "conjunction": 0.1}
FRACTIONS |= {"untuned": 0.2}


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
        "angle_deg": [90.0] * n,
        "polarity": [1.0] * n,
        "surround_weight": [1.0] * n,
        "normalization": [0.1] * n,
    }
    return pd.DataFrame({**defaults, **columns})


def drive_of(params: pd.DataFrame, images: np.ndarray, height=HEIGHT, width=WIDTH) -> np.ndarray:
    """(n_units, n_images) drive of numpy images by the true neurons of params."""
    with torch.no_grad():
        return (
            neurons.TrueNeurons(params, GEOM, height, width).drive(torch.as_tensor(images)).numpy()
        )


@pytest.fixture(scope="module")
def scenes():
    return (
        area_resize(natural_scenes(seed=1, n_scenes=118, height=240, width=300), HEIGHT, WIDTH)
        / 255
    )


def test_sample_unit_params_counts_ranges_and_seed():
    params = neurons.sample_unit_params(np.random.default_rng(5), 10, FRACTIONS, GEOM)
    counts = {"simple": 3, "complex": 3, "center_surround": 1, "conjunction": 1, "untuned": 2}
    assert params["cell_type"].value_counts().to_dict() == counts
    # shares are normalized
    doubled = {kind: 2 * share for kind, share in FRACTIONS.items()}
    twice = neurons.sample_unit_params(np.random.default_rng(5), 10, doubled, GEOM)
    pd.testing.assert_frame_equal(params, twice)
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
    assert big["peak_rate_hz"].between(*neurons.PEAK_RANGE_HZ).all()
    assert big["modulation"].between(*neurons.MODULATION_RANGE).all()
    assert big["exponent"].between(*neurons.EXPONENT_RANGE).all()
    assert big["normalization"].between(*neurons.NORMALIZATION_RANGE).all()
    assert big["semi_saturation"].between(*neurons.SEMI_SATURATION_RANGE).all()
    assert big["angle_deg"].between(*neurons.ANGLE_RANGE_DEG).all()
    assert set(big["polarity"]) == {-1.0, 1.0}
    again = neurons.sample_unit_params(np.random.default_rng(5), 10, FRACTIONS, GEOM)
    pd.testing.assert_frame_equal(params, again)


def test_centres_stay_on_a_small_screen():
    small = ScreenGeometry(width_deg=40.0, height_deg=30.0)
    params = neurons.sample_unit_params(np.random.default_rng(0), 500, {"complex": 1.0}, small)
    assert params["center_x_deg"].abs().max() <= 20 and params["center_y_deg"].abs().max() <= 15


@pytest.mark.parametrize(
    "fractions", [{"simple": 0.0}, {"simple": -0.5, "complex": 1.5}, {"weird": 1.0}]
)
def test_bad_fractions_raise(fractions):
    with pytest.raises(ValueError):
        neurons.sample_unit_params(np.random.default_rng(0), 10, fractions, GEOM)


def test_receptive_fields_are_unit_norm_quadrature_pairs_at_the_centre():
    params = unit_table(
        center_x_deg=[-20.0, 15.0], center_y_deg=[10.0, -12.0], phase_rad=[0.3, 2.0]
    )
    filters = neurons.receptive_fields(params, GEOM, HEIGHT, WIDTH)
    assert filters.shape == (2, 4, HEIGHT, WIDTH)
    np.testing.assert_allclose(np.square(filters[:, :2]).sum(axis=(-2, -1)), 1.0)
    np.testing.assert_array_equal(filters[:, 2:], 0.0)
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
    x, y = GEOM.pixel_grid(95, 120)
    phases = np.linspace(0, 2 * np.pi, 16, endpoint=False)[:, None, None]
    theta = np.deg2rad(30.0)
    gratings = 0.5 + 0.3 * np.cos(
        2 * np.pi * 0.08 * (x * np.cos(theta) - y * np.sin(theta)) + phases
    )
    simple, complex_, untuned = drive_of(params, gratings, 95, 120)
    assert complex_.std() < 1e-3 * complex_.mean()
    assert simple.min() == 0.0 and simple.max() == pytest.approx(complex_.mean(), rel=1e-3)
    np.testing.assert_array_equal(untuned, 0.0)


def test_naka_rushton_gain_known_values():
    drive = torch.tensor([[0.0, 1.0, 2.0, 4.0]])
    one = torch.tensor([[1.0]])
    # optimum drive 2, scene drive 1, semi-saturation 1: c = 0.5 (in units of the optimum)
    gain = neurons.naka_rushton(drive, 2 * one, one, one, 2 * one)
    expected = [0.0, 1.25 * 0.25 / (0.25 + 0.25), 1.0, 1.25 * 4 / (0.25 + 4)]
    torch.testing.assert_close(gain, torch.tensor([expected]))
    # a unit whose optimum drive is 0 gets gain 0
    assert neurons.naka_rushton(drive, 0 * one, one, one, one).abs().max() == 0


def test_calibrated_rates_peak_at_the_optimum(scenes):
    params = unit_table(
        cell_type=["simple", "simple", "complex", "untuned"],
        modulation=[1.0, 0.0, 1.0, 1.0],
        exponent=[2.0, 2.0, 1.5, 1.0],
    )
    drive = drive_of(params, scenes)
    optimum = 3 * drive.max(axis=1)
    calibrated = neurons.calibrate(params, optimum, drive)
    true = neurons.TrueNeurons(calibrated, GEOM, HEIGHT, WIDTH)
    np.testing.assert_allclose(calibrated["drive_scene_99"], np.percentile(drive, 99, axis=1))
    with torch.no_grad():
        gain = true.gain(torch.as_tensor(drive)).numpy()
        peak = true.gain(torch.as_tensor(optimum[:, None])).numpy()[:, 0]
        rates = true(torch.as_tensor(scenes)).numpy()
    np.testing.assert_allclose(peak[:3], 1.0)  # h(1) = 1: the optimum gives the peak rate
    np.testing.assert_allclose(calibrated["mean_gain"], gain.mean(axis=1))
    np.testing.assert_allclose(rates[0], 2.0 + 10.0 * gain[0])
    # an unmodulated unit keeps the mean rate of its modulated twin, without tuning
    np.testing.assert_allclose(rates[1], rates[0].mean())
    np.testing.assert_allclose(rates[3], 2.0 + 10.0 * neurons.UNTUNED_DRIVEN_FRACTION)
    assert rates[:3].max() < 12.0  # the scenes stay below the optimum's peak


def test_uncalibrated_neurons_give_drives_only(scenes):
    true = neurons.TrueNeurons(unit_table(cell_type=["simple"]), GEOM, HEIGHT, WIDTH)
    assert not true.calibrated
    with pytest.raises(ValueError, match="not calibrated"):
        true(torch.as_tensor(scenes))
    with pytest.raises(ValueError, match="pixels"):
        true.drive(torch.zeros(2, HEIGHT + 1, WIDTH))


def test_center_surround_units_are_untuned_for_orientation_and_signed():
    params = unit_table(
        cell_type=["center_surround"] * 2, polarity=[1.0, -1.0], sigma_deg=[5.0] * 2
    )
    x, y = GEOM.pixel_grid(95, 120)
    theta = np.deg2rad(np.arange(0.0, 180.0, 15.0))[:, None, None]
    gratings = 0.5 + 0.3 * np.cos(2 * np.pi * 0.05 * (x * np.cos(theta) - y * np.sin(theta)))
    on, off = drive_of(params, gratings, 95, 120)
    np.testing.assert_allclose(on, on[0], rtol=0.05)  # round in degrees, close on pixels
    spot = 0.5 + 0.4 * (np.hypot(x, y) < 3.0)
    on_spot, off_spot = drive_of(params, np.stack([spot, 1 - spot]), 95, 120).T
    assert on_spot[0] > 0 and on_spot[1] == 0  # the ON unit likes a bright centre
    assert off_spot[1] > 0 and off_spot[0] == 0  # the OFF unit a dark one


def test_conjunction_units_need_both_subunits():
    params = unit_table(cell_type=["conjunction"], sigma_deg=[4.0], sf_cpd=[0.1])
    filters = neurons.receptive_fields(params, GEOM, 95, 120)[0]
    np.testing.assert_allclose(np.square(filters).sum(axis=(-2, -1)), 1.0)
    # the two subunits' bars differ by the unit's angle
    corner = 0.5 + 0.2 * (filters[0] + filters[2]) / np.abs(filters).max()
    one_arm = 0.5 + 0.2 * filters[0] / np.abs(filters).max()
    both, single = drive_of(params, np.stack([corner, one_arm]), 95, 120)[0]
    assert both > 5 * single
    true = neurons.TrueNeurons(params, GEOM, 95, 120)
    torch.testing.assert_close(
        true.search_objective(torch.as_tensor(corner[None])),
        true.drive(torch.as_tensor(corner[None])),
    )


def test_search_objective_is_the_unrectified_drive():
    params = unit_table(cell_type=["simple", "center_surround"])
    image = torch.full((1, HEIGHT, WIDTH), 0.5, dtype=torch.float64)
    true = neurons.TrueNeurons(params, GEOM, HEIGHT, WIDTH)
    negative = image - 0.3 * true.filters[:, 0]  # both units driven below 0
    assert (true.drive(negative[:, None]) == 0).all()
    assert (true.search_objective(negative[:, None]) < 0).all()


def test_drifting_gabor_prefers_the_receptive_field(scenes):
    params = unit_table(
        cell_type=["simple", "complex", "untuned"],
        center_x_deg=[10.0] * 3,
        center_y_deg=[-10.0] * 3,
        orientation_deg=[90.0] * 3,
        sigma_deg=[4.0] * 3,
    )
    drive = drive_of(params, scenes)
    true = neurons.TrueNeurons(
        neurons.calibrate(params, 3 * drive.max(axis=1), drive), GEOM, HEIGHT, WIDTH
    )
    grid = np.arange(-40.0, 41.0, 10.0)
    ori, x, y = (a.ravel() for a in np.meshgrid([0.0, 45.0, 90.0], grid, grid, indexing="ij"))
    rate = neurons.drifting_gabor_rates(true, GEOM, ori, x, y)
    assert rate.shape == (3, 243)
    for unit in (0, 1):
        best = np.argmax(rate[unit])
        assert (ori[best], x[best], y[best]) == (90.0, 10.0, -10.0)
        assert rate[unit, best] > 2 * rate[unit].min()
    np.testing.assert_allclose(rate[2], rate[2, 0])


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
