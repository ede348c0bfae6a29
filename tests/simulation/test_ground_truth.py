"""MEI checks against the simulator's truth: hand-made datasets with known answers, and a small
simulated session whose units are shown images."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from helpers import small_simulation

from meiflow.ingest.scene_images import model_images, with_blank
from meiflow.simulation.ground_truth import mei_checks, mei_true_checks, true_rates
from meiflow.simulation.neurons import optimal_stimulus
from meiflow.simulation.session import simulate_session
from meiflow.stimuli.allen import PRESENTATION_S
from meiflow.stimuli.gabor import gabor
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry

H, W = 30, 48


def datasets():
    geometry = ScreenGeometry()
    units = np.array([1, 2, 3, 4])
    cell_type = np.array(["simple", "simple", "complex", "complex"])
    x_deg, y_deg = geometry.pixel_grid(H, W)
    rf = gabor(x_deg, y_deg, [0, 10, 0, -10], [0, 5, 0, 0], [0, 30, 60, 90], 0.08, 0, 5.0)
    optimum = optimal_stimulus(rf[:, None], cell_type, 0.02)  # unsaturated: 0.5 + k * rf
    truth = xr.Dataset(
        {
            "cell_type": ("unit", cell_type),
            "center_x_deg": ("unit", [0.0, 10.0, 0.0, -10.0]),
            "center_y_deg": ("unit", [0.0, 5.0, 0.0, 0.0]),
            "sigma_deg": ("unit", [5.0, 5.0, 5.0, 5.0]),
            "optimal_stimulus": (("unit", "y", "x"), optimum),
            "rf": (("unit", "y", "x"), rf),
        },
        coords={"unit": units},
    )
    mei = np.stack([optimum, 1 - optimum], axis=1)  # start 0 = the optimum, start 1 = negative
    meis = xr.Dataset(
        {"mei": (("unit", "init", "y", "x"), mei), "best_init": ("unit", [0, 1, 0, 0])},
        coords={"unit": units},
    )
    gabors = xr.Dataset(
        {
            "mei_over_insilico_gabor": ("unit", [1.0, 0.9, 1.2, 1.3]),
            "mei_over_best_scene": ("unit", [2.0, 1.5, 0.8, 1.1]),
        },
        coords={"unit": units},
    )
    metrics = xr.Dataset({"phase_invariance": ("unit", [0.1, 0.2, 0.7, 0.6])}, {"unit": units})
    return meis, gabors, metrics, truth, geometry


def test_mei_checks_known_answers():
    checks = mei_checks(*datasets())
    # simple cells: r = 1 (unit 1) and -1 (unit 2, its best init is the negative), against
    # the stored optimum and against the optimum at the MEI's own contrast (the same here)
    assert checks["mei_optimal_correlation_simple"] == pytest.approx(0.0, abs=1e-9)
    assert checks["mei_matched_optimal_correlation_simple"] == pytest.approx(0.0, abs=1e-6)
    assert checks["mei_filter_correlation_simple"] == pytest.approx(0.0, abs=1e-6)
    # the stored optimum is 0.5 + k * filter
    assert checks["filter_optimal_correlation_simple"] == pytest.approx(1.0, abs=1e-6)
    assert checks["mei_beats_scene_fraction"] == 0.75
    assert checks["mei_over_insilico_simple"] == 0.95
    assert checks["mei_reaches_insilico_simple_fraction"] == 0.5
    assert checks["phase_invariance_auc"] == 1.0


def test_mei_checks_of_an_empty_area_are_nan():
    meis, gabors, metrics, truth, geometry = datasets()
    empty = meis.isel(unit=slice(0, 0))
    assert all(np.isnan(v) for v in mei_checks(empty, gabors, metrics, truth, geometry).values())


def test_matched_optimum_has_the_meis_contrast():
    meis, gabors, metrics, truth, geometry = datasets()
    rf = truth["rf"].to_numpy()[:1, None]
    mei = meis["mei"].to_numpy().copy()
    mei[0, 0] = optimal_stimulus(rf, np.array(["simple"]), 0.03)[0]  # a faint MEI
    truth["optimal_stimulus"][0] = optimal_stimulus(rf, np.array(["simple"]), 0.3)[0]
    meis["mei"] = (meis["mei"].dims, mei)
    keep = [0, 2, 3]  # unit 1 is the only simple cell left
    checks = mei_checks(meis.isel(unit=keep), gabors, metrics, truth, geometry)
    assert checks["mei_matched_optimal_correlation_simple"] == pytest.approx(1.0, abs=1e-6)
    assert checks["mei_filter_correlation_simple"] == pytest.approx(1.0, abs=1e-6)
    # saturated at the scenes' contrast: neither the faint MEI nor the filter itself matches it
    assert checks["mei_optimal_correlation_simple"] < 0.99
    assert checks["filter_optimal_correlation_simple"] == pytest.approx(
        checks["mei_optimal_correlation_simple"], abs=1e-6
    )


@pytest.fixture(scope="module")
def simulated():
    """A small simulated session: its truth and its scenes at model resolution."""
    session = simulate_session(8, small_simulation(9, 3), ScreenGeometry(), ImageSettings(H, W))
    images, _ = with_blank(model_images(session.scenes, H, W), np.arange(len(session.scenes)))
    return session.ground_truth, images


def test_true_rates_reproduce_the_simulators_rates(simulated):
    truth, images = simulated  # images[0] is the blank (frame -1), then the scenes
    scene_rates, rates = true_rates(truth, images[1:], images, ScreenGeometry())  # Hz
    counts = truth["true_rate"].transpose("unit", "frame")  # spikes per presentation
    np.testing.assert_allclose(rates * PRESENTATION_S, counts, rtol=1e-6)
    np.testing.assert_allclose(scene_rates, rates[:, 1:], rtol=1e-12)


def test_mei_true_checks_show_the_meis_to_the_simulated_units(simulated):
    truth, images = simulated
    cell_type = truth["cell_type"].to_numpy().astype(str)
    assert {"simple", "untuned"} <= set(cell_type)
    keep = np.flatnonzero(cell_type != "complex")  # simple and untuned units
    t = truth.isel(unit=keep)
    # start 0: the saturated optimum (0.5 +- 0.5 by the sign of the filter), the image of
    # highest drive a simple cell can get in [0, 1]; start 1: mean gray, drive 0
    best = optimal_stimulus(t["rf"].to_numpy()[:, None], t["cell_type"].to_numpy(), 10.0)
    mei = np.stack([best, np.full_like(best, 0.5)], axis=1)
    for start, beats in ((0, 1.0), (1, 0.0)):
        meis = xr.Dataset(
            {
                "mei": (("unit", "init", "y", "x"), mei),
                "best_init": ("unit", np.full(len(keep), start)),
            },
            coords={"unit": t["unit"].to_numpy()},
        )
        checks = mei_true_checks(meis, truth, images[1:], ScreenGeometry())
        # the untuned units are left out (their rate is the same for every image)
        assert checks["mei_true_beats_scene_fraction"] == beats
        assert (checks["mei_true_over_best_scene"] > 1.0) == bool(beats)
    untuned = meis.isel(unit=np.flatnonzero(t["cell_type"].to_numpy().astype(str) == "untuned"))
    assert all(
        np.isnan(v) for v in mei_true_checks(untuned, truth, images[1:], ScreenGeometry()).values()
    )
