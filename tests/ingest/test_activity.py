"""PSTHs, latency and raster on a simulated session, against the simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_simulation

from meiflow.ingest.activity import psth_dataset, raster_dataset
from meiflow.ingest.counts import count_spikes
from meiflow.ingest.settings import TimingSettings
from meiflow.simulation.session import simulate_session
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry

TIMING = TimingSettings(
    psth_bin_s=0.005, psth_start_s=-0.1, psth_stop_s=0.35, smoothing_sd_s=0.01, raster_bin_s=0.1
)


@pytest.fixture(scope="module")
def session():
    s = simulate_session(5, small_simulation(40, 16), ScreenGeometry(), ImageSettings(30, 48))
    units = s.tables.units.assign(area="VISp")
    scenes = s.tables.presentations.query("stimulus_name == 'natural_scenes'")
    return [s.tables.spike_times[u] for u in units.index], units, scenes


def test_the_latency_of_the_simulated_neurons_is_recovered(session):
    spikes, units, scenes = session
    ds = psth_dataset(
        spikes, units, scenes["start_time"].to_numpy(), scenes["frame"].to_numpy(), TIMING
    )
    assert abs(ds.attrs["latency_s"] - 0.05) < 0.01
    assert ds["psth"].shape == (40, 90) and ds["signal"].shape == (40, 90)
    # the PSTH is a rate: its bins covering [0, 0.25) s average to the spikes counted in those
    # windows over the time they span
    onsets = scenes["start_time"].to_numpy()
    in_window = (ds["time"] > 0) & (ds["time"] < 0.25)
    assert int(in_window.sum()) == 50
    n = count_spikes(spikes, onsets, onsets + 0.25).sum(axis=0)
    expected = n / (len(onsets) * 0.25)
    np.testing.assert_allclose(ds["psth"].sel(time=in_window).mean("time"), expected, rtol=1e-9)


def test_the_raster_counts_every_spike_of_each_block(session):
    spikes, units, scenes = session
    blocks = scenes.groupby("stimulus_block").agg({"start_time": "min", "stop_time": "max"})
    ds = raster_dataset(spikes, units, blocks, 0.1)
    assert ds["activity"].dims == ("unit", "time")
    for block, row in blocks.iterrows():
        in_block = ds["activity"].sel(time=ds["block"] == block).sum("time").to_numpy()
        width = np.floor((row["stop_time"] - row["start_time"]) / 0.1 + 1e-9) * 0.1
        expected = count_spikes(
            spikes, np.array([row["start_time"]]), np.array([row["start_time"] + width])
        )[0]
        np.testing.assert_array_equal(in_block, expected)
