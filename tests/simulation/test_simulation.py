"""The simulated session: design like Allen's, correct Poisson statistics, reproducible."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from meiflow.simulation.neurons import MODULATION_RANGE
from meiflow.simulation.session import (
    GAP_S,
    passes_default_filter,
    poisson_spikes,
    quality_metrics,
    rate_segments,
    simulate_session,
    stimulus_schedule,
    unit_parameters,
)
from meiflow.simulation.settings import SimulationSettings
from meiflow.stimuli.allen import PRESENTATION_S, gabor_conditions
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry

SMALL = SimulationSettings(
    seed=4,
    units_per_area={"VISp": 5, "CA1": 2},
    cell_types={"simple": 0.4, "complex": 0.4, "untuned": 0.2},
    fraction_failing_quality=0.3,
    scene_repeats=4,
    gabor_repeats=1,
    latency_s=0.05,
)


def test_the_schedule_matches_the_allen_design():
    table = stimulus_schedule(np.random.default_rng(0), scene_repeats=50, gabor_repeats=15)
    scenes = table[table.stimulus_name == "natural_scenes"]
    gabors = table[table.stimulus_name == "gabors"]
    assert len(gabors) == 3645
    assert (gabors.groupby(["x_position", "y_position"]).size() == 45).all()
    assert (gabors.groupby(["orientation", "x_position", "y_position"]).size() == 15).all()
    assert gabors[
        ["size", "spatial_frequency", "temporal_frequency", "contrast"]
    ].drop_duplicates().values.tolist() == [[20.0, 0.08, 4.0, 0.8]]
    frames = scenes.groupby("frame").size()
    assert list(frames.index) == list(range(-1, 118)) and (frames == 50).all()
    assert sorted(scenes.stimulus_block.unique()) == [2, 4, 6]
    assert np.allclose(table.stop_time - table.start_time, PRESENTATION_S)
    assert (np.diff(table.start_time) >= PRESENTATION_S - 1e-9).all()
    # shuffled: not in frame order within a block
    assert not (np.diff(scenes.frame.to_numpy()[:100]) >= 0).all()


def test_rate_segments_tile_the_session_and_carry_the_latency():
    pres = pd.DataFrame({"start_time": [1.0, 1.25, 3.0], "stop_time": [1.25, 1.5, 3.25]})
    evoked = np.array([[10.0, 1.0], [20.0, 2.0], [30.0, 3.0]])
    start, stop, seg_rates = rate_segments(pres, evoked, np.array([0.5, 0.1]), 0.05, 4.0)
    assert start[0] == 0.0 and stop[-1] == 4.0
    np.testing.assert_allclose(start[1:], stop[:-1])  # contiguous, no overlap
    np.testing.assert_allclose(start, [0.0, 1.05, 1.3, 1.55, 3.05, 3.3])
    np.testing.assert_allclose(seg_rates[:, 0], [0.5, 10.0, 20.0, 0.5, 30.0, 0.5])


def test_poisson_spikes_have_the_right_counts_and_order():
    rng = np.random.default_rng(1)
    start = np.array([0.0, 10.0])
    stop = np.array([10.0, 30.0])
    rates = np.array([[5.0, 0.0, 1.0], [2.0, 0.0, 1.0]])
    trains = [poisson_spikes(rng, start, stop, rates) for _ in range(300)]
    counts = np.array([[t.size for t in trial] for trial in trains])
    # expected counts: 5*10 + 2*20 = 90, 0, 30; Poisson: variance equals the mean
    np.testing.assert_allclose(counts.mean(axis=0), [90, 0, 30], rtol=0.03, atol=0.01)
    np.testing.assert_allclose(counts[:, 0].var(), 90, rtol=0.25)
    first = trains[0][0]
    assert (np.diff(first) >= 0).all() and first.min() >= 0 and first.max() < 30
    # the rate of unit 0 is 5 Hz before t=10 s and 2 Hz after
    early = np.mean([np.sum(t[0] < 10) for t in trains])
    np.testing.assert_allclose(early, 50, rtol=0.05)


def test_a_share_of_units_fails_the_default_quality_filter():
    metrics = quality_metrics(np.random.default_rng(2), 200, 0.25)
    assert (~passes_default_filter(metrics)).sum() == 50


def test_each_area_draws_its_own_cell_types_and_modulations(caplog):
    sim = SimulationSettings(
        units_per_area={"VISp": 200, "VISam": 200, "CA1": 10},
        cell_types={
            "VISp": {"simple": 1.0, "complex": 0.0, "untuned": 0.0},
            "VISam": {"simple": 0.0, "complex": 0.5, "untuned": 0.5},
            "CA1": {"simple": 1.0, "complex": 0.0, "untuned": 0.0},
        },
        modulation_range={"VISp": (0.6, 0.9)},
    )
    with caplog.at_level("WARNING"):
        units = unit_parameters(np.random.default_rng(0), sim, ScreenGeometry())
    assert "simulation.cell_types names areas ['CA1'] outside the visual cortex" in caplog.text
    types = units.groupby("area")["cell_type"].value_counts().to_dict()
    assert types == {
        ("VISp", "simple"): 200,
        ("VISam", "complex"): 100,
        ("VISam", "untuned"): 100,
        ("CA1", "untuned"): 10,  # outside the visual cortex: untuned whatever the shares
    }
    for area, (low, high) in (("VISp", (0.6, 0.9)), ("VISam", MODULATION_RANGE)):
        modulation = units.loc[units["area"] == area, "modulation"]
        assert low <= modulation.min() < low + 0.02 and high - 0.02 < modulation.max() <= high


def test_one_mix_of_cell_types_serves_every_visual_area():
    sim = dataclasses.replace(SMALL, units_per_area={"VISp": 10, "VISl": 10, "CA1": 2})
    units = unit_parameters(np.random.default_rng(0), sim, ScreenGeometry())
    for area in ("VISp", "VISl"):
        counts = units.loc[units["area"] == area, "cell_type"].value_counts().to_dict()
        assert counts == {"simple": 4, "complex": 4, "untuned": 2}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"cell_types": {"VISp": {"simple": 1.0, "complex": 0.0, "untuned": 0.0}}},
            "simulation.cell_types gives no shares for VISl",
        ),
        (
            {"cell_types": {"VISp": {"simple": 0.0, "complex": 0.0, "untuned": 0.0}, "VISl": {}}},
            "simulation.cell_types.VISp: shares must be >= 0 and not all 0",
        ),
        ({"cell_types": {"simple": 0.5, "VISp": {"simple": 1.0}}}, "or areas to such mappings"),
        ({"modulation_range": {"VISl": (0.9, 0.2)}}, "simulation.modulation_range: {'VISl'"),
        ({"modulation_range": {"VISl": 0.85}}, "simulation.modulation_range: {'VISl': 0.85}"),
        (
            {"cell_types": {"simple": 0.5, "complx": 0.5, "untuned": 0.0}},
            "simulation.cell_types: unknown cell types ['complx']",
        ),
        ({"rf_size_scale": {"VISl": 0.0}}, "simulation.rf_size_scale: factors {'VISl': 0.0}"),
    ],
)
def test_bad_per_area_settings_are_refused_naming_the_key(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SimulationSettings(units_per_area={"VISp": 4, "VISl": 4, "CA1": 2}, **change)


@pytest.fixture(scope="module")
def small_session():
    return simulate_session(77, SMALL, ScreenGeometry(), ImageSettings(24, 40))


def test_the_simulation_is_byte_identical_for_the_same_seed(small_session):
    again = simulate_session(77, SMALL, ScreenGeometry(), ImageSettings(24, 40))
    assert small_session.scenes.tobytes() == again.scenes.tobytes()
    for unit, spikes in small_session.tables.spike_times.items():
        assert spikes.tobytes() == again.tables.spike_times[unit].tobytes()
    pd.testing.assert_frame_equal(small_session.tables.units, again.tables.units)
    pd.testing.assert_frame_equal(small_session.tables.presentations, again.tables.presentations)
    assert small_session.ground_truth.identical(again.ground_truth)
    other = simulate_session(
        77, dataclasses.replace(SMALL, seed=5), ScreenGeometry(), ImageSettings(24, 40)
    )
    assert other.scenes.tobytes() != small_session.scenes.tobytes()


def test_the_ground_truth_describes_every_unit(small_session):
    truth = small_session.ground_truth
    tables = small_session.tables
    np.testing.assert_array_equal(truth["unit"], tables.units.index)
    assert truth["rf"].shape == (7, 24, 40) and truth["true_rate"].shape == (7, 119)
    assert truth["true_gabor_rate"].shape == (7, 3, 9, 9)
    assert list(truth["cell_type"].sel(unit=truth["area"] == "CA1").to_numpy()) == ["untuned"] * 2
    # spikes follow the model: a unit's measured rate matches its mean model rate
    duration = tables.presentations.stop_time.iloc[-1] + GAP_S
    measured = np.array([s.size for s in tables.spike_times.values()]) / duration
    np.testing.assert_allclose(tables.units["firing_rate"], measured)
    assert ((measured > 0.3) & (measured < 30)).all()
    # one gabor condition per row of gabor_conditions, in that order
    conditions = gabor_conditions()
    g = truth["true_gabor_rate"].stack(c=("orientation", "y_position", "x_position"))
    np.testing.assert_array_equal(g["orientation"], conditions["orientation"])
    np.testing.assert_array_equal(g["x_position"], conditions["x_position"])
