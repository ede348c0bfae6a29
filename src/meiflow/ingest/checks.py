"""The values read from a session, checked by kind before anything is computed from them.

AllenSDK hands over what the session's NWB file holds, unchecked: a NaN stimulus parameter comes
as its string ``'null'``, a NaN or a negative spike time as it is. :func:`check_session` casts
the values ingest uses and checks each by kind:

- a presentation is left out of its stimulus's tables when its ``start_time``, ``stop_time``,
  ``stimulus_block`` or a stimulus parameter (:data:`meiflow.io.allen_cache.STIMULUS_PARAMETERS`)
  is not a number (``'null'``), not finite, not an integer where one is needed
  (``stimulus_block``, ``frame``) or out of the stimulus's range (``frame`` -1 .. 117,
  ``stimulus_block`` >= 0, ``orientation`` 0, 45 or 90 deg, ``x_position`` and ``y_position``
  on the 10-deg grid from -40 to 40 deg), or when its ``stop_time`` is before its ``start_time``;
- a unit is left out of every table when one of its spike times is not finite or negative:
  counting all units in one ``searchsorted`` (:func:`meiflow.ingest.counts.count_spikes`) would
  otherwise give every unit of the session wrong counts;
- a unit whose spike times are out of order is kept and its spike times sorted: a unit's spikes
  are a set of times, every count, PSTH and raster bin is the same whatever their order, and
  nothing else about them is wrong.

Each is named in the log (stimulus, column, value and presentation ids; unit, area and reason)
and in the count tables' attributes (:meth:`LeftOut.attrs`). A NaN start or stop time never gets
here: AllenSDK cannot build the stimulus table with one (see
:func:`meiflow.io.allen_cache.load_session`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from meiflow.ingest.scene_images import BLANK_FRAME
from meiflow.io.allen_cache import SessionData
from meiflow.stimuli.allen import GABOR_ORIENTATIONS, GABOR_POSITIONS, N_SCENES

__all__ = ["LeftOut", "check_session"]

log = logging.getLogger(__name__)

#: Columns that hold integers, with their smallest and largest value.
INTEGER_RANGES = {"stimulus_block": (0, np.inf), "frame": (BLANK_FRAME, N_SCENES - 1)}
#: Columns that take one of a few values (deg): the gabors stimulus's.
STIMULUS_VALUES = {
    "orientation": GABOR_ORIENTATIONS,
    "x_position": GABOR_POSITIONS,
    "y_position": GABOR_POSITIONS,
}


class LeftOut(NamedTuple):
    """What :func:`check_session` left out of a session, and why.

    Attributes:
        units: unit id -> reason, for the units left out of every table.
        presentations: stimulus -> {stimulus_presentation_id -> reason}.
        sorted_units: the units whose spike times came out of order and were sorted.
    """

    units: dict[int, str]
    presentations: dict[str, dict[int, str]]
    sorted_units: tuple[int, ...]

    def attrs(self, stimulus: str) -> dict:
        """The count table attributes of ``stimulus`` that record what was left out.

        ``n_left_out_presentations``, ``left_out_presentations`` (``"id: reason; ..."``),
        ``n_left_out_units``, ``left_out_units`` (``"unit: reason; ..."``) and
        ``units_with_sorted_spike_times`` (``"unit, ..."``); empty strings and zeros when none.
        """
        presentations = self.presentations.get(stimulus, {})
        return {
            "n_left_out_presentations": len(presentations),
            "left_out_presentations": _entries(presentations),
            "n_left_out_units": len(self.units),
            "left_out_units": _entries(self.units),
            "units_with_sorted_spike_times": ", ".join(str(u) for u in self.sorted_units),
        }


def _entries(reasons: dict[int, str]) -> str:
    return "; ".join(f"{key}: {reason}" for key, reason in reasons.items())


def _shown(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _column_faults(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """One column of a stimulus table as float64, and what is wrong with each value.

    Returns:
        values: (n,) float64, NaN where the value is not a number.
        faults: (n,) object: ``"<column> <value> <what is wrong>"``, or ``""``.
    """
    column = raw.name
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    checks = [(np.isnan(values), "is not a number"), (np.isinf(values), "is not finite")]
    if column in INTEGER_RANGES:
        low, high = INTEGER_RANGES[column]
        checks.append((finite & (values != np.round(values)), "is not an integer"))
        checks.append((finite & ((values < low) | (values > high)), f"is not in [{low}, {high}]"))
    if column in STIMULUS_VALUES:
        allowed = ", ".join(f"{v:g}" for v in STIMULUS_VALUES[column])
        checks.append(
            (finite & ~np.isin(values, STIMULUS_VALUES[column]), f"is not one of {allowed} deg")
        )
    faults = np.full(values.shape, "", dtype=object)
    for bad, what in checks:
        new = np.flatnonzero(bad & (faults == ""))
        faults[new] = [f"{column} {_shown(v)} {what}" for v in raw.iloc[new]]
    return values, faults


def _check_presentations(table: pd.DataFrame, stimulus: str) -> tuple[pd.DataFrame, dict[int, str]]:
    """Cast one stimulus's table and leave out the presentations with a fault (each logged).

    Returns:
        The kept presentations (times and parameters float64, ``stimulus_block`` int64) and
        stimulus_presentation_id -> reason for the others.

    Raises:
        ValueError: no presentation is kept.
    """
    checked = {column: _column_faults(table[column]) for column in table.columns}
    values = pd.DataFrame({c: v for c, (v, _) in checked.items()}, index=table.index)
    faults = pd.DataFrame({c: f for c, (_, f) in checked.items()}, index=table.index)
    start, stop = values["start_time"].to_numpy(), values["stop_time"].to_numpy()
    backwards = np.isfinite(start) & np.isfinite(stop) & (stop < start)
    faults["order"] = ""
    faults.loc[backwards, "order"] = [
        f"stop_time {b} is before start_time {a}"
        for a, b in zip(start[backwards], stop[backwards], strict=True)
    ]
    bad = (faults != "").any(axis=1).to_numpy()
    reasons = {
        int(pid): ", ".join(f for f in row if f)
        for pid, row in zip(table.index[bad], faults[bad].to_numpy(), strict=True)
    }
    by_reason: dict[str, list[int]] = {}
    for pid, reason in reasons.items():
        by_reason.setdefault(reason, []).append(pid)
    for reason, ids in by_reason.items():
        log.warning(
            "%s: %d presentation(s) left out (%s): stimulus_presentation_id %s",
            stimulus,
            len(ids),
            reason,
            ids,
        )
    if bad.all():
        raise ValueError(f"every {stimulus} presentation fails a check: {_entries(reasons)}")
    return values[~bad].astype({"stimulus_block": np.int64}), reasons


def _spike_fault(times: np.ndarray) -> str:
    """Why a unit's spike times cannot be counted (``""``: they can)."""
    nonfinite = ~np.isfinite(times)
    if nonfinite.any():
        values = ", ".join(sorted({str(t) for t in times[nonfinite]}))
        return f"{nonfinite.sum()} of {times.size} spike times are not finite ({values})"
    negative = times < 0
    if negative.any():
        return (
            f"{negative.sum()} of {times.size} spike times are negative (earliest {times.min()} s)"
        )
    return ""


def _check_spike_times(
    data: SessionData,
) -> tuple[dict[int, np.ndarray], dict[int, str], tuple[int, ...]]:
    """Each unit's spike times checked (each unit left out or sorted is logged).

    Returns:
        The kept units' spike times (sorted), unit id -> reason for the units left out, and the
        units whose spike times were sorted.

    Raises:
        ValueError: no unit is kept.
    """
    spike_times, left_out, sorted_units = {}, {}, []
    for unit in data.units.index:
        times = data.spike_times[unit]
        reason = _spike_fault(times)
        if reason:
            left_out[int(unit)] = reason
            log.warning("unit %d (%s) left out: %s", unit, data.units.at[unit, "area"], reason)
            continue
        if np.any(np.diff(times) < 0):
            times = np.sort(times)
            sorted_units.append(int(unit))
            log.warning("unit %d: spike times out of order, sorted", unit)
        spike_times[int(unit)] = times
    if not spike_times:
        raise ValueError(f"every unit's spike times fail a check: {_entries(left_out)}")
    return spike_times, left_out, tuple(sorted_units)


def check_session(data: SessionData) -> tuple[SessionData, LeftOut]:
    """The session with its values cast and checked, and what was left out of it.

    Args:
        data: as :func:`meiflow.io.allen_cache.load_session` returns it.

    Returns:
        The session without the presentations and units that fail a check (presentation tables
        with ``start_time``, ``stop_time`` and parameters float64 and ``stimulus_block`` int64;
        every kept unit's spike times sorted), and the :class:`LeftOut` record. Each presentation
        or unit left out, and each unit sorted, is named in a warning.

    Raises:
        ValueError: every unit, or every presentation of a stimulus, fails a check (the message
            names the reasons).
    """
    presentations, left_presentations = {}, {}
    for stimulus, table in data.presentations.items():
        presentations[stimulus], left_presentations[stimulus] = _check_presentations(
            table, stimulus
        )
    spike_times, left_units, sorted_units = _check_spike_times(data)
    units = data.units.drop(index=list(left_units))
    checked = replace(data, units=units, spike_times=spike_times, presentations=presentations)
    return checked, LeftOut(left_units, left_presentations, sorted_units)
