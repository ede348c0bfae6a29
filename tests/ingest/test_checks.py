"""Values read from a session are checked by kind (meiflow.ingest.checks): the presentations and
units that fail are left out, named in the log and in the count tables' attributes, and the rest
is counted as from the intact file. Each test edits a copy of the tiny session's NWB file."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from helpers import TINY_SESSION, digest, nwb_units_and_onsets, session_nwb

from meiflow.ingest.checks import check_session
from meiflow.ingest.session import ingest_session
from meiflow.ingest.settings import CountingWindow
from meiflow.io.allen_cache import CacheError, SessionData, load_session
from meiflow.io.netcdf import read_netcdf

STIMULI = ("natural_scenes", "gabors")
#: The faults written into the NWB file: stimulus -> {row of its presentations table: (column,
#: value)}. AllenSDK hands a NaN parameter over as the string 'null' (case 1 of issue 16).
FAULTS = {
    "natural_scenes": {
        5: ("frame", np.nan),
        50: ("stimulus_block", np.nan),
        100: ("frame", 2.5),
        150: ("frame", 118.0),
        200: ("stop_time", 1.0),
    },
    "gabors": {
        3: ("orientation", np.nan),
        30: ("orientation", 33.0),
        60: ("x_position", np.inf),
        90: ("y_position", 45.0),
    },
}


def _edit(nwb, path: str, row: int, value: float) -> None:
    """Set one value of a dataset of the NWB file (rewritten as float64 where it holds ints)."""
    with h5py.File(nwb, "r+") as f:
        data = f[path][:]
        if data.dtype.kind in "iu":
            attrs = dict(f[path].attrs)
            data = data.astype(np.float64)
            del f[path]
            f[path] = data
            f[path].attrs.update(attrs)
        f[path][row] = value


def _intact(tiny_run) -> dict[str, xr.Dataset]:
    counts = tiny_run / "results" / str(TINY_SESSION) / "counts"
    return {s: read_netcdf(counts / f"{s}.nc") for s in STIMULI}


def _window(table: xr.Dataset) -> tuple[float, float]:
    return table.attrs["counting_window_start_s"], table.attrs["counting_window_stop_s"]


def _counts(cache, window: tuple[float, float]) -> dict[str, xr.Dataset]:
    """The count tables ingest makes of the session in ``cache`` (default timing)."""
    data = load_session(cache, TINY_SESSION)
    return ingest_session(data, TINY_SESSION, CountingWindow(*window)).counts


@pytest.mark.slow
def test_presentations_with_a_bad_value_are_left_out_and_named(tiny_run, cache_copy, caplog):
    nwb = session_nwb(cache_copy)
    _, onsets = nwb_units_and_onsets(nwb)
    for stimulus, rows in FAULTS.items():
        for row, (column, value) in rows.items():
            _edit(nwb, f"intervals/{stimulus}_presentations/{column}", row, value)
    intact = _intact(tiny_run)
    with caplog.at_level(logging.WARNING, logger="meiflow.ingest.checks"):
        counts = _counts(cache_copy, _window(intact["natural_scenes"]))
    for stimulus, rows in FAULTS.items():
        table, before = counts[stimulus], intact[stimulus]
        # AllenSDK numbers presentations by onset; the edits left every onset as it was.
        ids = {
            row: int(before.presentation[before.start_time == onsets[stimulus][row]])
            for row in rows
        }
        xr.testing.assert_equal(table, before.drop_sel(presentation=list(ids.values())))
        assert table.attrs["n_left_out_presentations"] == len(rows)
        assert table.attrs["n_left_out_units"] == 0
        for row, (column, _) in rows.items():
            pid = ids[row]
            assert f"{pid}: {column}" in table.attrs["left_out_presentations"]
            assert any(stimulus in m and column in m and str(pid) in m for m in caplog.messages), (
                stimulus,
                column,
                pid,
                caplog.messages,
            )
        if stimulus == "natural_scenes":
            assert (
                f"{ids[5]}: frame 'null' is not a number" in table.attrs["left_out_presentations"]
            )


@pytest.mark.slow
def test_units_with_bad_spike_times_are_left_out_and_the_others_counted(
    tiny_run, cache_copy, caplog
):
    nwb = session_nwb(cache_copy)
    spikes, _ = nwb_units_and_onsets(nwb)
    intact = _intact(tiny_run)
    units = intact["natural_scenes"].unit.to_numpy()
    nan_unit, negative_unit, unsorted_unit = (int(u) for u in units[[0, 5, 9]])
    with h5py.File(nwb, "r+") as f:
        ids = f["units/id"][:].tolist()
        first = dict(
            zip(ids, np.concatenate([[0], f["units/spike_times_index"][:-1]]), strict=True)
        )
        times = f["units/spike_times"]
        times[first[nan_unit] + 10] = np.nan  # case 2 of issue 16
        times[first[negative_unit]] = -0.5
        i = first[unsorted_unit] + 20
        times[i : i + 2] = times[i : i + 2][::-1]
    start, stop = window = _window(intact["natural_scenes"])
    with caplog.at_level(logging.WARNING, logger="meiflow.ingest.checks"):
        counts = _counts(cache_copy, window)
    for stimulus in STIMULI:
        table = counts[stimulus]
        kept = [u for u in units if u not in (nan_unit, negative_unit)]
        np.testing.assert_array_equal(table.unit, kept)
        onsets = table.start_time.to_numpy()
        for unit in kept:  # the intact spike times, counted one window at a time
            t = spikes[unit]
            expected = [np.sum((t >= on + start) & (t < on + stop)) for on in onsets]
            np.testing.assert_array_equal(table.spike_counts.sel(unit=unit), expected)
        assert table.attrs["n_left_out_units"] == 2
        left_out = table.attrs["left_out_units"]
        assert f"{nan_unit}: 1 of {spikes[nan_unit].size} spike times are not finite" in left_out
        assert f"{negative_unit}: 1 of {spikes[negative_unit].size} spike times are negative" in (
            left_out
        )
        assert table.attrs["units_with_sorted_spike_times"] == str(unsorted_unit)
    for unit in (nan_unit, negative_unit, unsorted_unit):
        assert any(str(unit) in m for m in caplog.messages), (unit, caplog.messages)


@pytest.mark.slow
def test_a_nan_presentation_time_is_named_and_not_called_corrupt(cache_copy):
    _edit(session_nwb(cache_copy), "intervals/natural_scenes_presentations/start_time", 7, np.nan)
    before = digest(cache_copy)
    with pytest.raises(CacheError, match=r"'natural_scenes' presentations \[\d+\] have a NaN st"):
        load_session(cache_copy, TINY_SESSION)
    assert digest(cache_copy) == before


def _small_session(frames: list, spikes: list[np.ndarray]) -> SessionData:
    """Units 7 and 8 (one per array of ``spikes``) and, in each stimulus, one presentation per
    frame of ``frames`` (natural scenes: those frames, as AllenSDK gives them)."""
    index = pd.Index(range(len(frames)), name="stimulus_presentation_id")
    times = {
        "start_time": np.arange(len(frames)) * 0.25,
        "stop_time": np.arange(1, len(frames) + 1) * 0.25,
    }
    scenes = pd.DataFrame(
        {**times, "stimulus_block": 0, "frame": frames}, index=index, dtype=object
    )
    gabors = pd.DataFrame(
        {**times, "stimulus_block": 1, "orientation": 0.0, "x_position": 0.0, "y_position": 10.0},
        index=index,
    )
    units = pd.DataFrame({"area": ["VISp"] * len(spikes)}, index=[7, 8][: len(spikes)])
    return SessionData(
        units,
        dict(zip(units.index, spikes, strict=True)),
        {"natural_scenes": scenes, "gabors": gabors},
    )


def test_nothing_left_after_the_checks_is_a_clear_error():
    good = [np.array([0.1, 0.3]), np.array([0.2])]
    checked, left_out = check_session(_small_session([3.0, -1.0], good))
    assert checked.presentations["natural_scenes"]["frame"].tolist() == [3.0, -1.0]
    assert left_out.attrs("natural_scenes")["n_left_out_presentations"] == 0
    with pytest.raises(ValueError, match=r"every natural_scenes presentation .* 0: frame 'null'"):
        check_session(_small_session(["null", 1.5], good))
    with pytest.raises(ValueError, match=r"every unit's .* 8: 1 of 1 spike times are not finite"):
        check_session(_small_session([3.0], [np.array([-1.0]), np.array([np.inf])]))
