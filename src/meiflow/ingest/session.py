"""Everything ingest makes of one session: the PSTHs, the raster and the spike-count tables."""

from __future__ import annotations

import logging
from typing import NamedTuple

import xarray as xr

from meiflow.ingest.activity import psth_dataset, raster_dataset
from meiflow.ingest.checks import check_session
from meiflow.ingest.counts import count_table
from meiflow.ingest.settings import CountingWindow, TimingSettings
from meiflow.io.allen_cache import SessionData
from meiflow.stimuli.allen import PRESENTATION_S

__all__ = ["COUNTED_STIMULI", "SessionTables", "counting_window", "ingest_session"]

log = logging.getLogger(__name__)

#: The stimuli whose presentations get a spike-count table.
COUNTED_STIMULI = ("natural_scenes", "gabors")


class SessionTables(NamedTuple):
    """What :func:`ingest_session` returns.

    Attributes:
        psth: ``psth.nc``.
        raster: ``raster.nc``.
        counts: one count table per stimulus of :data:`COUNTED_STIMULI` (``counts/{stimulus}.nc``).
    """

    psth: xr.Dataset
    raster: xr.Dataset
    counts: dict[str, xr.Dataset]


def counting_window(
    window: CountingWindow | str, latency_s: float, session_id: int
) -> tuple[float, float]:
    """The counting window (start, stop) in s after each onset.

    Args:
        window: a fixed window, or ``"auto"`` for [latency, latency + presentation length).
        latency_s: the population response latency (s), NaN when none was measured.
        session_id: named in the error.

    Raises:
        ValueError: ``auto`` without a latency (no response in the population PSTH).
    """
    if window != "auto":
        return (window.start, window.stop)
    if latency_s != latency_s:  # NaN: no response to measure a latency from
        raise ValueError(
            "counting_window: auto needs a response latency, but the population PSTH of "
            f"session {session_id} shows no response; set counting_window to start/stop"
        )
    return (latency_s, latency_s + PRESENTATION_S)


def ingest_session(
    data: SessionData,
    session_id: int,
    window: CountingWindow | str = CountingWindow(),
    timing: TimingSettings = TimingSettings(),
) -> SessionTables:
    """Everything ingest makes of one session: the PSTHs, the raster and the spike-count tables.

    Args:
        data: the session (units after the quality filter, spike times, presentations), checked
            first by :func:`meiflow.ingest.checks.check_session`: the presentations and units it
            leaves out are named in the log and in each count table's attributes.
        session_id: recorded in the count tables' attributes.
        window: the counting window, or ``"auto"`` (see :func:`counting_window`).
        timing: PSTH and raster settings.

    Returns:
        The natural-scene PSTHs and latency, the raster of the scene blocks, and the spike-count
        tables of every counted stimulus.

    Raises:
        ValueError: ``counting_window: auto`` for a session without a measurable latency; every
            unit, or every presentation of a stimulus, left out by the checks.
    """
    data, left_out = check_session(data)
    spikes = [data.spike_times[u] for u in data.units.index]
    scenes = data.presentations["natural_scenes"]
    onsets = scenes["start_time"].to_numpy()
    psth = psth_dataset(spikes, data.units, onsets, scenes["frame"].to_numpy(), timing)
    latency = psth.attrs["latency_s"]
    log.info("population response latency: %.3f s", latency)
    blocks = scenes.groupby("stimulus_block").agg({"start_time": "min", "stop_time": "max"})
    raster = raster_dataset(spikes, data.units, blocks, timing.raster_bin_s)
    start, stop = counting_window(window, latency, session_id)
    log.info("counting window [%.3f, %.3f) s after onset", start, stop)
    counts = {}
    for stimulus in COUNTED_STIMULI:
        table = count_table(
            data.presentations[stimulus],
            data.units,
            data.spike_times,
            (start, stop),
            stimulus,
            session_id,
            data.invalid_times,
        )
        table.attrs["counting_window_mode"] = "auto" if window == "auto" else "fixed"
        table.attrs |= left_out.attrs(stimulus)
        log.info(
            "%s: %d presentations x %d units, %d spikes counted",
            stimulus,
            table.sizes["presentation"],
            table.sizes["unit"],
            int(table.spike_counts.sum()),
        )
        if table.attrs["invalid_trials"]:
            masked = (~table["valid"]).sum("presentation")
            log.warning(
                "%s: %d trials (presentation, unit) overlap an invalid time interval and are left "
                "out of every score; units of probe(s) %s are affected",
                stimulus,
                table.attrs["invalid_trials"],
                sorted(set(data.units.loc[masked["unit"][masked > 0].to_numpy(), "probe"])),
            )
        counts[stimulus] = table
    return SessionTables(psth, raster, counts)
