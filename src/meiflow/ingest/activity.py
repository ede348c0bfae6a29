"""Spike-time summaries that ingest writes beside the count tables: PSTHs and the raster.

Both need raw spike times, which only ingest reads; later stages use the NetCDF files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from meiflow.ingest.psth import binned_activity, psth, response_latency, signal_psth, smooth
from meiflow.ingest.settings import TimingSettings


def psth_dataset(
    spike_times: Sequence[np.ndarray],
    units: pd.DataFrame,
    onsets: np.ndarray,
    frames: np.ndarray,
    timing: TimingSettings,
) -> xr.Dataset:
    """PSTHs of the natural-scene presentations and the population response latency.

    The latency is measured on the stimulus-locked signal
    (:func:`meiflow.ingest.psth.signal_psth`:
    how much the rate in each bin depends on the scene shown), which rises at the latency even
    where the mean PSTH stays flat, as it does for back-to-back scenes without onset transients.

    Args:
        spike_times: one sorted spike-time array (s) per row of ``units``.
        units: indexed by unit id, with ``area``.
        onsets: (n_presentations,) onset times (s).
        frames: (n_presentations,) scene frames.
        timing: PSTH bins, window and smoothing.

    Returns:
        ``psth`` (unit, time) in Hz, its Gaussian-smoothed version ``psth_smoothed``, the
        stimulus-locked ``signal`` (Hz^2), ``time`` in s relative to onset (bin centres), and the
        attribute ``latency_s`` (NaN when no unit responds).
    """
    bin_s = timing.psth_bin_s
    window = (timing.psth_start_s, timing.psth_stop_s)
    rates, centres = psth(spike_times, onsets, bin_s, window)
    signal, _ = signal_psth(spike_times, onsets, frames, bin_s, window)
    latency = response_latency(signal, centres, sd_s=timing.smoothing_sd_s)
    ds = xr.Dataset(
        {
            "psth": (("unit", "time"), rates),
            "psth_smoothed": (("unit", "time"), smooth(rates, bin_s, timing.smoothing_sd_s)),
            "signal": (("unit", "time"), signal),
        },
        coords={
            "unit": units.index.to_numpy(dtype=np.int64),
            "area": ("unit", units["area"].astype(str).to_numpy()),
            "time": centres,
        },
    )
    ds["psth"].attrs = {
        "long_name": "peri-stimulus time histogram of the natural scenes",
        "units": "Hz",
    }
    ds["psth_smoothed"].attrs = {
        "long_name": f"psth smoothed by a Gaussian kernel of sd {timing.smoothing_sd_s} s",
        "units": "Hz",
    }
    ds["signal"].attrs = {
        "long_name": "variance across scenes of the scene-conditioned rate, trial noise removed",
        "units": "Hz2",
    }
    ds["time"].attrs = {"long_name": "bin centre relative to presentation onset", "units": "s"}
    ds.attrs = {
        "latency_s": float(latency),
        "latency_method": "half-rise of the stimulus-locked signal (meiflow.ingest.psth)",
        "n_presentations": int(len(onsets)),
        "bin_s": float(bin_s),
        "smoothing_sd_s": float(timing.smoothing_sd_s),
    }
    return ds


def raster_dataset(
    spike_times: Sequence[np.ndarray], units: pd.DataFrame, blocks: pd.DataFrame, bin_s: float
) -> xr.Dataset:
    """Binned spike counts over each natural-scene block (gaps between blocks left out).

    ``blocks`` holds one row per block with ``start_time`` and ``stop_time`` (s).

    Returns:
        ``activity`` (unit, time) int32 with ``time`` the bin starts (s) and ``block``.
    """
    counts, starts, block_ids = [], [], []
    for block, row in blocks.iterrows():  # a few blocks
        c, s = binned_activity(spike_times, row["start_time"], row["stop_time"], bin_s)
        counts.append(c)
        starts.append(s)
        block_ids.append(np.full(s.shape, block))
    ds = xr.Dataset(
        {"activity": (("unit", "time"), np.concatenate(counts, axis=1).astype(np.int32))},
        coords={
            "unit": units.index.to_numpy(dtype=np.int64),
            "area": ("unit", units["area"].astype(str).to_numpy()),
            "time": np.concatenate(starts),
            "block": ("time", np.concatenate(block_ids)),
        },
    )
    ds["activity"].attrs = {"long_name": f"spike count in {bin_s} s bins", "units": "spikes"}
    ds["time"].attrs = {"long_name": "bin start", "units": "s"}
    ds.attrs = {"bin_s": float(bin_s)}
    return ds
