"""Spike counting: against plain loops, and against the NWB read independently with h5py."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TINY_SESSION, nwb_units_and_onsets, session_nwb

from meiflow.ingest.counts import count_spikes
from meiflow.io.netcdf import read_netcdf


def test_count_spikes_matches_a_loop_including_edges_and_silent_units():
    rng = np.random.default_rng(3)
    spikes = [np.sort(rng.uniform(0, 50, rng.integers(0, 300))) for _ in range(6)]
    spikes.append(np.array([]))  # a silent unit
    starts = np.sort(rng.uniform(0, 49, 150))
    starts[:3] = spikes[0][:3]  # spikes exactly on a window start are counted...
    stops = starts + 0.25
    stops[3] = spikes[0][10]  # ...and exactly on a stop are not: [start, stop)
    starts[3] = stops[3] - 0.25
    counts = count_spikes(spikes, starts, stops)
    expected = np.array(
        [[np.sum((s >= a) & (s < b)) for s in spikes] for a, b in zip(starts, stops, strict=True)]
    )
    assert counts.shape == (150, 7)
    np.testing.assert_array_equal(counts, expected)
    assert counts[:, -1].sum() == 0


def test_count_spikes_rejects_bad_input():
    with pytest.raises(ValueError, match="sorted"):
        count_spikes([np.array([2.0, 1.0])], np.array([0.0]), np.array([3.0]))
    with pytest.raises(ValueError, match="stop >= start"):
        count_spikes([np.array([1.0])], np.array([1.0]), np.array([0.5]))
    for bad in (np.nan, np.inf):  # one NaN used to zero every unit's counts
        with pytest.raises(ValueError, match="finite"):
            count_spikes([np.array([1.0]), np.array([1.0, bad])], np.array([0.0]), np.array([3.0]))
        with pytest.raises(ValueError, match="finite"):
            count_spikes([np.array([1.0])], np.array([0.0, bad]), np.array([3.0, bad]))


@pytest.mark.slow
def test_counts_equal_an_independent_recount_from_the_nwb(tiny_run, tiny_cache):
    spikes, onsets = nwb_units_and_onsets(session_nwb(tiny_cache))
    # AllenSDK numbers presentations by onset over all stimuli.
    all_onsets = np.sort(np.concatenate(list(onsets.values())))
    for stimulus in ("natural_scenes", "gabors"):
        ds = read_netcdf(tiny_run / "results" / str(TINY_SESSION) / "counts" / f"{stimulus}.nc")
        start = ds.attrs["counting_window_start_s"]
        stop = ds.attrs["counting_window_stop_s"]
        np.testing.assert_array_equal(np.sort(onsets[stimulus]), ds["start_time"].to_numpy())
        np.testing.assert_array_equal(
            np.searchsorted(all_onsets, ds["start_time"].to_numpy()), ds["presentation"].to_numpy()
        )
        for unit in ds["unit"].to_numpy()[:4]:
            times = spikes[int(unit)]
            expected = [
                int(np.sum((times >= t + start) & (times < t + stop)))
                for t in ds["start_time"].to_numpy()
            ]
            np.testing.assert_array_equal(ds["spike_counts"].sel(unit=unit).to_numpy(), expected)
        assert (ds["spike_counts"] == 0).any(), "zero counts must be in the table"
