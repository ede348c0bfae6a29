"""Trial-level spike counts: every unit in every presentation window, zeros included."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

#: Unit quality metrics carried as coordinates on the ``unit`` dimension.
UNIT_METRICS = ("isi_violations", "amplitude_cutoff", "presence_ratio", "firing_rate", "snr")


def count_spikes(
    spike_times: Sequence[np.ndarray], starts: np.ndarray, stops: np.ndarray
) -> np.ndarray:
    """Count each unit's spikes in each half-open window [start, stop).

    Args:
        spike_times: one sorted array of finite spike times (s) per unit (n_units arrays).
        starts: (n_windows,) window start bounds (s).
        stops: (n_windows,) window stop bounds (s), stops >= starts.

    Returns:
        (n_windows, n_units) int64 counts. All units are counted in one ``searchsorted``: each
        unit's spikes are shifted into their own disjoint time range (unit k by k * span), so no
        Python loop runs over units, windows or spikes.

    Raises:
        ValueError: a spike time or window bound that is not finite, unsorted spike times, a
            stop before its start (:func:`meiflow.ingest.checks.check_session` leaves out or
            sorts what a session holds of these before counting).
    """
    starts = np.asarray(starts, dtype=np.float64)
    stops = np.asarray(stops, dtype=np.float64)
    if starts.shape != stops.shape or starts.ndim != 1:
        raise ValueError(
            f"starts and stops must be equal 1-d arrays, got {starts.shape}, {stops.shape}"
        )
    if np.any(stops < starts):
        raise ValueError("every window needs stop >= start")
    n_units = len(spike_times)
    if n_units == 0 or starts.size == 0:
        return np.zeros((starts.size, n_units), dtype=np.int64)
    lengths = np.array([len(s) for s in spike_times])
    spikes = np.concatenate([np.asarray(s, dtype=np.float64) for s in spike_times])
    bounds = [spikes.min(initial=0.0), spikes.max(initial=0.0), starts.min(), stops.max()]
    if not np.isfinite(bounds).all():  # one NaN would shift, and so miscount, every unit
        raise ValueError("spike times and window bounds must be finite")
    lo = min(bounds[0], bounds[2])
    hi = max(bounds[1], bounds[3])
    span = (hi - lo) + 1.0
    offsets = np.arange(n_units) * span - lo
    shifted = spikes + np.repeat(offsets, lengths)
    if np.any(np.diff(shifted) < 0):
        raise ValueError("spike times must be sorted within each unit")
    left = np.searchsorted(shifted, starts[:, None] + offsets[None, :], side="left")
    right = np.searchsorted(shifted, stops[:, None] + offsets[None, :], side="left")
    return (right - left).astype(np.int64)


def count_table(
    presentations: pd.DataFrame,
    units: pd.DataFrame,
    spike_times: dict[int, np.ndarray],
    window: tuple[float, float],
    stimulus: str,
    session_id: int,
) -> xr.Dataset:
    """Spike-count table of one stimulus as an xarray Dataset.

    Args:
        presentations: indexed by stimulus_presentation_id; ``start_time``, ``stop_time`` (s),
            ``stimulus_block`` and the stimulus parameter columns (all become coordinates).
        units: indexed by unit id; ``area`` and the :data:`UNIT_METRICS` columns.
        spike_times: unit id -> sorted spike times (s).
        window: (start, stop) of the counting window in s relative to each presentation's onset.
        stimulus: recorded in the attributes.
        session_id: recorded in the attributes.

    Returns:
        Dataset with ``spike_counts`` (presentation, unit), int32.
    """
    start, stop = window
    onsets = presentations["start_time"].to_numpy()
    counts = count_spikes([spike_times[u] for u in units.index], onsets + start, onsets + stop)
    presentation_coords = {
        column: ("presentation", presentations[column].to_numpy()) for column in presentations
    }
    unit_coords = {"area": ("unit", units["area"].astype(str).to_numpy())}
    unit_coords |= {m: ("unit", units[m].to_numpy(dtype=np.float64)) for m in UNIT_METRICS}
    ds = xr.Dataset(
        {"spike_counts": (("presentation", "unit"), counts.astype(np.int32))},
        coords={
            "presentation": presentations.index.to_numpy(dtype=np.int64),
            "unit": units.index.to_numpy(dtype=np.int64),
            **presentation_coords,
            **unit_coords,
        },
    )
    ds["spike_counts"].attrs = {
        "long_name": f"spike count in the counting window of each {stimulus} presentation",
        "units": "spikes",
    }
    ds["presentation"].attrs = {"long_name": "stimulus_presentation_id"}
    ds["unit"].attrs = {"long_name": "unit id"}
    ds["area"].attrs = {"long_name": "ecephys_structure_acronym"}
    ds["start_time"].attrs = {"long_name": "presentation onset", "units": "s"}
    ds["stop_time"].attrs = {"long_name": "presentation offset", "units": "s"}
    ds["firing_rate"].attrs = {"long_name": "mean firing rate over the session", "units": "Hz"}
    ds.attrs = {
        "title": f"{stimulus} spike counts of session {session_id}",
        "session_id": int(session_id),
        "stimulus": stimulus,
        "counting_window_start_s": float(start),
        "counting_window_stop_s": float(stop),
        "counting_window": "[onset + start, onset + stop), seconds relative to each onset",
    }
    return ds
