"""The ground truth of a small simulated session, and the checks of results against it: the true
rates against the simulated spikes, and the per-unit and summary checks with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from scipy.stats import poisson

from meiflow.ingest.scene_images import BLANK_FRAME, model_images, with_blank
from meiflow.mei.settings import MEISettings
from meiflow.simulation.ground_truth import summary_checks, true_neuron_meis, unit_checks
from meiflow.simulation.neurons import true_rates
from meiflow.simulation.session import simulate_session
from meiflow.simulation.settings import SimulationSettings
from meiflow.stimuli.allen import PRESENTATION_S, gabor_conditions
from meiflow.stimuli.budget import StimulusBudget
from meiflow.stimuli.gabor import allen_gabor_stimulus
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry

H, W = 30, 48
REPEATS = 20


@pytest.fixture(scope="module")
def simulated():
    """A small session of every cell type: its truth, tables, and scenes at model resolution."""
    settings = SimulationSettings(
        seed=4,
        units_per_area={"VISp": 15},
        cell_types={
            "simple": 0.2,
            "complex": 0.2,
            "center_surround": 0.2,
            "conjunction": 0.2,
            "untuned": 0.2,
        },
        fraction_failing_quality=0.0,
        scene_repeats=REPEATS,
        gabor_repeats=4,
        heldout_images=60,
    )
    session = simulate_session(8, settings, ScreenGeometry(), ImageSettings(H, W))
    images, _ = with_blank(model_images(session.scenes, H, W), np.arange(len(session.scenes)))
    return session, images


def test_true_rates_reproduce_every_stored_rate(simulated):
    session, images = simulated
    truth = session.ground_truth
    rates = true_rates(truth, images)  # Hz, frames in order: blank, then the scenes
    counts = truth["true_rate"].transpose("unit", "frame").to_numpy()
    np.testing.assert_allclose(rates * PRESENTATION_S, counts, rtol=1e-9)
    np.testing.assert_allclose(rates[:, 0], truth["gray_rate"], rtol=1e-9)
    np.testing.assert_allclose(rates[:, 1:].max(axis=1), truth["best_scene_rate"], rtol=1e-9)
    np.testing.assert_allclose(
        true_rates(truth, truth["heldout_images"].to_numpy()), truth["heldout_true_rate"], rtol=1e-5
    )
    for image, rate in (("optimal_stimulus", "optimal_rate"), ("best_gabor", "best_gabor_rate")):
        name = image if image.endswith("stimulus") else f"{image}_stimulus"
        own = np.diagonal(true_rates(truth, truth[name].to_numpy()))
        np.testing.assert_allclose(own, truth[rate], rtol=1e-5)  # images stored as float32
    # any subset of units, in any order
    subset = truth["unit"].to_numpy()[[5, 2]]
    np.testing.assert_allclose(true_rates(truth.sel(unit=subset), images), rates[[5, 2]])


def test_true_rates_refuse_images_of_another_size(simulated):
    session, images = simulated
    with pytest.raises(ValueError, match=f"\\(n, {H}, {W}\\)"):
        true_rates(session.ground_truth, images[:, :-1])


def test_true_rates_agree_with_the_simulated_spike_counts(simulated):
    session, images = simulated
    truth, tables = session.ground_truth, session.tables
    shown = tables.presentations[tables.presentations["stimulus_name"] == "natural_scenes"]
    latency = truth.attrs["latency_s"]
    start = shown["start_time"].to_numpy() + latency
    stop = shown["stop_time"].to_numpy() + latency
    frames = shown["frame"].to_numpy().astype(int)
    expected = true_rates(truth, images) * PRESENTATION_S  # (unit, blank + scenes)
    inside = []
    for k, unit in enumerate(truth["unit"].to_numpy()):
        spikes = tables.spike_times[unit]
        counts = np.searchsorted(spikes, stop) - np.searchsorted(spikes, start)
        total = np.bincount(frames - BLANK_FRAME, weights=counts, minlength=expected.shape[1])
        shows = np.bincount(frames - BLANK_FRAME, minlength=expected.shape[1])
        low, high = poisson.interval(0.99, shows * expected[k])
        inside.append((total >= low) & (total <= high))
    assert np.mean(inside) >= 0.95


def test_true_rates_agree_with_the_drifting_gabor_rates(simulated):
    session, _ = simulated
    truth = session.ground_truth
    conditions = gabor_conditions().iloc[::20]
    x_deg, y_deg = ScreenGeometry().pixel_grid(H, W)
    phases = 2 * np.pi * np.arange(8) / 8
    frames = allen_gabor_stimulus(
        x_deg,
        y_deg,
        conditions["x_position"].to_numpy()[:, None],
        conditions["y_position"].to_numpy()[:, None],
        conditions["orientation"].to_numpy()[:, None],
        phases,
    )
    rates = true_rates(truth, frames.reshape(-1, H, W)).reshape(-1, len(conditions), 8).mean(-1)
    stored = truth["true_gabor_rate"].stack(condition=("orientation", "y_position", "x_position"))
    stored = stored.sel(
        condition=list(
            zip(
                conditions["orientation"],
                conditions["y_position"],
                conditions["x_position"],
                strict=True,
            )
        )
    )
    np.testing.assert_allclose(rates, stored.transpose("unit", "condition"), rtol=1e-9)


def test_the_truth_holds_every_type_and_its_optimum_beats_scenes_and_gabor(simulated):
    truth = simulated[0].ground_truth
    cell_type = truth["cell_type"].to_numpy().astype(str)
    assert set(cell_type) == {"simple", "complex", "center_surround", "conjunction", "untuned"}
    tuned = cell_type != "untuned"
    optimal = truth["optimal_rate"].to_numpy()[tuned]
    assert (optimal > truth["best_scene_rate"].to_numpy()[tuned]).all()
    assert (optimal >= truth["best_gabor_rate"].to_numpy()[tuned] - 1e-6).all()
    # the optimum gives the peak rate to the modulated part of the gain
    spont, m = truth["spontaneous_rate_hz"].to_numpy(), truth["modulation"].to_numpy()
    span = truth["peak_rate_hz"].to_numpy() - spont
    peak = spont + span * (m + (1 - m) * truth["mean_gain"].to_numpy())
    np.testing.assert_allclose(optimal, peak[tuned], rtol=1e-5)


def checks_inputs(truth: xr.Dataset, mei_of: dict[str, str]):
    """Hand-made area results for the truth's units: perfect per-neuron predictions, a linear
    model with the units' first filter, MEIs as named per cell type (else gray)."""
    units = truth["unit"].to_numpy()
    frames = truth["frame"].to_numpy()
    split = np.where(np.arange(frames.size) % 3 == 0, "test", "train")
    true_rate = truth["true_rate"].transpose("unit", "frame").to_numpy()
    scores = xr.Dataset(
        {"predicted_rate": (("model", "unit", "frame"), np.stack([true_rate, true_rate[:, ::-1]]))},
        coords={
            "model": ["per_neuron", "linear"],
            "unit": units,
            "frame": frames,
            "split": ("frame", split),
        },
    )
    linear = xr.Dataset({"weights": truth["rf"]})
    heldout = truth["heldout_true_rate"] * PRESENTATION_S
    cell_type = truth["cell_type"].to_numpy().astype(str)
    images = {
        "optimum": truth["optimal_stimulus"].to_numpy(),
        "gray": np.full((units.size, H, W), 0.5),  # the blank's level
    }
    mei = np.stack([images[mei_of.get(kind, "gray")][k] for k, kind in enumerate(cell_type)])
    meis = xr.Dataset(
        {
            "mei": (("unit", "init", "y", "x"), mei[:, None]),
            "best_init": ("unit", [0] * units.size),
        },
        coords={"unit": units},
    )
    gabors = xr.Dataset(
        {
            "mei_over_insilico_gabor": ("unit", np.where(np.isin(cell_type, ["simple"]), 1.0, 1.5)),
            "mei_over_best_scene": ("unit", np.linspace(0.5, 1.5, units.size)),
        },
        coords={"unit": units},
    )
    # the model's receptive-field mask: a wide circle on the true centre, except for the
    # complex cells (a small circle in the far corner); the gray MEIs of the centre-surround
    # units are flagged
    col, row = ScreenGeometry().deg_to_pixel(truth["center_x_deg"], truth["center_y_deg"], H, W)
    off = cell_type == "complex"
    metrics = xr.Dataset(
        {
            "phase_invariance": ("unit", np.where(cell_type == "complex", 0.9, 0.1)),
            "rf_mask_center_y": ("unit", np.where(off, 0.0, row)),
            "rf_mask_center_x": ("unit", np.where(off, 0.0, col)),
            "rf_mask_radius": ("unit", np.where(off, 2.0, 20.0)),
            "deviation_outside_rf_mask": (
                ("unit", "image_kind"),
                np.tile([0.3, 0.4, 0.5], (units.size, 1)),
            ),
            "mei_flagged": ("unit", cell_type == "center_surround"),
        },
        coords={"unit": units, "image_kind": ["mei", "recorded_gabor", "insilico_gabor"]},
    )
    return scores, linear, heldout, meis, gabors, metrics


def test_unit_checks_known_answers(simulated):
    truth = simulated[0].ground_truth
    mei_of = {"simple": "optimum", "complex": "optimum", "conjunction": "optimum"}
    table = unit_checks(*checks_inputs(truth, mei_of), truth)
    by_type = table.set_index("cell_type")
    tuned = table["cell_type"] != "untuned"
    np.testing.assert_allclose(table.loc[tuned, "per_neuron_true_rate_correlation"], 1.0)
    np.testing.assert_allclose(table.loc[tuned, "per_neuron_heldout_correlation"], 1.0)
    # the linear model of a simple cell is its filter: correlated with its rate, not equal
    assert (by_type.loc["simple", "linear_heldout_correlation"] > 0.3).all()
    # MEI = the optimum: ratio 1, above the best scene and the best Gabor, r = 1 in the RF
    optimum = table["cell_type"].isin(["simple", "complex", "conjunction"])
    np.testing.assert_allclose(table.loc[optimum, "mei_over_optimum"], 1.0, rtol=1e-5)
    assert table.loc[optimum, "mei_beats_best_scene"].all()
    rf_r = table.set_index("cell_type")["mei_optimum_rf_correlation"]
    np.testing.assert_allclose(rf_r.loc["simple"], 1.0, rtol=1e-5)
    # a phase family's or a corner's optimum is not compared pixel by pixel; a gray MEI is
    # constant: r = 0 (not NaN, which would leave it out of the medians)
    assert rf_r.loc[["complex", "conjunction"]].isna().all()
    np.testing.assert_array_equal(rf_r.loc["center_surround"], 0.0)
    # a corner's optimum beats its best Gabor by far
    assert (table.loc[table["cell_type"] == "conjunction", "mei_beats_best_gabor"] == 1).all()
    # MEI = gray: driven rate 0 (the blank is the same mean gray), beats nothing
    gray = table["cell_type"] == "center_surround"
    assert (table.loc[gray, "mei_over_optimum"].abs() < 0.05).all()
    assert (table.loc[gray, ["mei_beats_best_scene", "mei_beats_best_gabor"]] == 0).all(axis=None)
    # untuned units have no optimum: NaN
    assert table.loc[~tuned, "mei_over_optimum"].isna().all()
    # the true optimum lies inside a mask on the true receptive field, outside one far from it
    outside = table.set_index("cell_type")["optimum_deviation_outside_rf_mask"]
    assert (outside.loc[["simple", "conjunction"]] < 0.05).all()
    assert (outside.loc["complex"] > 0.95).all() and outside.loc["untuned"].isna().all()
    np.testing.assert_array_equal(table["mei_deviation_outside_rf_mask"], 0.3)  # the MEI's
    # the flag: on the centre-surround units, the only ones whose (gray) MEI loses in truth
    assert (table["mei_flagged"] == (table["cell_type"] == "center_surround")).all()
    row = summary_checks(table)
    assert row["mei_flag_auc"] == 1.0
    assert row["mei_flagged_fraction"] == pytest.approx(
        (table["cell_type"] == "center_surround").sum() / tuned.sum()
    )


def test_the_mei_recipe_on_the_true_neurons_nears_their_optimum(simulated):
    # the pipeline's recipe (walker on the budget, its starts) run on the true neurons: what a
    # perfect model would give; the stored optimum (the best of its starts polished) bounds it
    # up to what polishing every start finds on top (0.4 % at most for complex units here)
    truth = simulated[0].ground_truth
    inputs = checks_inputs(truth, {})
    budget = StimulusBudget(truth.attrs["budget_mean"], truth.attrs["budget_contrast"])
    inputs[3].attrs = {
        "target_std": budget.contrast,
        "budget": "stimulus budget",
        "budget_mean": budget.mean,
        "budget_contrast": budget.contrast,
    }
    settings = MEISettings(steps=300)
    tuned = truth["cell_type"].to_numpy().astype(str) != "untuned"
    own = true_neuron_meis(truth.isel(unit=tuned), inputs[3], settings)
    assert budget.holds(torch.as_tensor(own), tolerance=1e-6).all()
    table = unit_checks(*inputs, truth, mei_settings=settings).set_index("cell_type")
    ratio = table["true_neuron_mei_over_optimum"]
    assert (ratio.drop("untuned") <= 1.01).all() and ratio.loc["untuned"].isna().all()
    assert (ratio.loc["simple"] > 0.7).all()
    assert (table.loc["simple", "true_neuron_mei_optimum_rf_correlation"] > 0.7).all()
    assert table.loc["simple", "true_neuron_mei_beats_best_scene"].all()
    # the MEIs of the pipeline here are gray (checks_inputs): they reach none of it
    assert (table["mei_over_optimum"].drop("untuned").abs() < 0.05).all()
    row = summary_checks(table.reset_index())
    assert row["true_neuron_mei_over_optimum"] == pytest.approx(ratio.drop("untuned").median())
    assert row["true_neuron_mei_gabor_auc"] > 0.5
    assert "true_neuron_mei_gabor_auc" not in summary_checks(table.reset_index().iloc[:, :8])


def test_summary_checks_known_answers():
    units = pd.DataFrame(
        {
            "cell_type": [
                "simple",
                "simple",
                "complex",
                "conjunction",
                "center_surround",
                "untuned",
            ],
            "per_neuron_heldout_correlation": [0.9, 0.7, 0.5, 0.4, 0.3, 0.0],
            "mei_over_optimum": [1.0, 0.8, 0.6, 0.4, 0.2, np.nan],
            "mei_beats_best_scene": [1.0, 1.0, 0.0, 1.0, 0.0, np.nan],
            "mei_beats_best_gabor": [0.0, 0.0, 0.0, 1.0, 0.0, np.nan],
            "mei_over_insilico_gabor": [1.0, 0.9, 1.0, 1.4, 1.2, 1.0],
            "mei_over_best_scene": [2.0, 0.5, 1.5, np.nan, 1.1, 1.0],
            "phase_invariance": [0.1, 0.2, 0.9, 0.5, 0.5, 0.5],
        }
    )
    row = summary_checks(units)
    assert row["n_modelled"] == 6
    assert row["per_neuron_heldout_correlation_simple"] == pytest.approx(0.8)
    assert row["per_neuron_heldout_correlation_conjunction"] == pytest.approx(0.4)
    assert np.isnan(row["linear_heldout_correlation_simple"])  # no such column
    assert row["mei_over_optimum"] == pytest.approx(0.6)  # median of the tuned units
    assert row["mei_beats_best_scene_fraction"] == pytest.approx(3 / 5)
    assert row["mei_beats_best_gabor_non_gabor_fraction"] == pytest.approx(1 / 2)
    assert row["mei_beats_scene_predicted_fraction"] == pytest.approx(3 / 5)  # NaN left out
    assert row["mei_over_insilico_simple"] == pytest.approx(0.95)
    assert row["mei_reaches_insilico_simple_fraction"] == pytest.approx(0.5)
    assert row["mei_gabor_auc"] == 1.0  # 1.4, 1.2 against 1.0, 0.9
    assert row["phase_invariance_auc"] == 1.0
    empty = summary_checks(units.iloc[:0])
    assert empty["n_modelled"] == 0 and np.isnan(empty["mei_gabor_auc"])
