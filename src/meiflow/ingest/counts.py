"""Trial-level spike counts: every unit in every presentation window, zeros included."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

#: The tag of an invalid time interval that applies to every probe (AllenSDK's ``all_probes``).
ALL_PROBES = "all_probes"

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


def trial_validity(
    starts: np.ndarray, stops: np.ndarray, probes: np.ndarray, invalid_times: pd.DataFrame
) -> np.ndarray:
    """Which counting windows of which units lie outside the session's invalid time intervals.

    An interval applies to a unit when its tags name the unit's probe (``probeA``) or
    ``all_probes``: the intervals in which AllenSDK's ``EcephysSession`` warns that spikes are
    invalid (``_warn_invalid_spike_intervals``, AllenSDK 2.16). A window [start, stop) overlaps an
    interval [interval start, interval stop] when start <= interval stop and stop > interval start.

    Args:
        starts: (n_windows,) window starts (s).
        stops: (n_windows,) window stops (s).
        probes: (n_units,) each unit's probe description.
        invalid_times: ``start_time``, ``stop_time`` (s) and ``tags`` (list of str) per interval.

    Returns:
        (n_windows, n_units) bool, False where an interval that applies to the unit overlaps the
        window.
    """
    probes = np.asarray(probes).astype(str)
    valid = np.ones((np.size(starts), probes.size), dtype=bool)
    for start, stop, tags in invalid_times[["start_time", "stop_time", "tags"]].itertuples(
        index=False
    ):
        overlaps = (np.asarray(starts) <= stop) & (np.asarray(stops) > start)
        applies = np.isin(probes, list(tags)) | (ALL_PROBES in tags)
        valid[np.ix_(overlaps, applies)] = False
    return valid


def valid_subsets(counts: xr.Dataset) -> list[tuple[slice | np.ndarray, xr.Dataset]]:
    """A count table split into parts whose units share their valid trials.

    Each part holds the units with one pattern of the ``valid`` mask and only the presentations
    valid for them, so that any per-unit computation on a part leaves each unit's invalid trials
    out. Units keep their table order within a part.

    Returns:
        (columns, part) pairs, ``columns`` the positions of the part's units in ``counts``, to
        place a part's per-unit results: ``[(slice(None), counts)]``, the table itself, when
        every trial is valid (or the table has no ``valid``); else one pair per distinct pattern,
        in the order of the patterns' first units, ``columns`` an int array.
    """
    if "valid" not in counts or bool(counts["valid"].all()):
        return [(slice(None), counts)]
    valid = counts["valid"].transpose("presentation", "unit").to_numpy()
    _, first, which = np.unique(valid.T, axis=0, return_index=True, return_inverse=True)
    which = np.asarray(which).ravel()
    parts = []
    for pattern in np.argsort(first):
        units = np.flatnonzero(which == pattern)
        trials = np.flatnonzero(valid[:, units[0]])
        parts.append((units, counts.isel(presentation=trials, unit=units)))
    return parts


def count_table(
    presentations: pd.DataFrame,
    units: pd.DataFrame,
    spike_times: dict[int, np.ndarray],
    window: tuple[float, float],
    stimulus: str,
    session_id: int,
    invalid_times: pd.DataFrame | None = None,
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
        invalid_times: the session's invalid time intervals (see :func:`trial_validity`; needs a
            ``probe`` column in ``units``); None: every trial is valid.

    Returns:
        Dataset with ``spike_counts`` (presentation, unit), int32, and ``valid`` (presentation,
        unit), bool: False where an invalid time interval of the unit's probe (or of all probes)
        overlaps the counting window; every later stage leaves those trials out, per unit. The
        attributes ``invalid_intervals`` and ``invalid_trials`` count the session's intervals and
        the (presentation, unit) pairs they mask.
    """
    start, stop = window
    onsets = presentations["start_time"].to_numpy()
    counts = count_spikes([spike_times[u] for u in units.index], onsets + start, onsets + stop)
    n_intervals = 0 if invalid_times is None else len(invalid_times)
    if n_intervals:
        valid = trial_validity(onsets + start, onsets + stop, units["probe"], invalid_times)
    else:
        valid = np.ones(counts.shape, dtype=bool)
    presentation_coords = {
        column: ("presentation", presentations[column].to_numpy()) for column in presentations
    }
    unit_coords = {"area": ("unit", units["area"].astype(str).to_numpy())}
    unit_coords |= {m: ("unit", units[m].to_numpy(dtype=np.float64)) for m in UNIT_METRICS}
    ds = xr.Dataset(
        {
            "spike_counts": (("presentation", "unit"), counts.astype(np.int32)),
            "valid": (("presentation", "unit"), valid),
        },
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
    ds["valid"].attrs = {
        "long_name": "the counting window lies outside every invalid time interval of the "
        "unit's probe and of all probes (AllenSDK's invalid_times)",
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
        "invalid_intervals": n_intervals,
        "invalid_trials": int((~valid).sum()),
    }
    return ds
