"""Responses to the Allen 'gabors' conditions: recorded means per condition, model predictions.

A condition is one (orientation, x_position, y_position) of the gabors stimulus (3 x 9 x 9 = 243 in
the Allen sessions). Only the conditions a session shows are used: on an incomplete or irregular
grid (:func:`meiflow.stimuli.allen.gabor_grid_state`) a condition without presentations is left
out, one off the grid is one more condition, and each mean is over the presentations shown. A
presentation drifts the carrier through one full cycle in its 250 ms (4 Hz),
so a model's prediction for a condition is the mean of its predictions over ``DRIFT_PHASES``
equally spaced carrier phases, as in the simulator
(:func:`meiflow.simulation.neurons.drifting_gabor_rates`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from meiflow.models.network import PerNeuronCNN
from meiflow.models.training import predict
from meiflow.stimuli.gabor import allen_gabor_stimulus
from meiflow.stimuli.geometry import ScreenGeometry

#: Carrier phases averaged over a drift cycle.
DRIFT_PHASES = 8
CONDITION_KEYS = ("orientation", "x_position", "y_position")


def condition_means(gabors: xr.Dataset, units: np.ndarray) -> xr.Dataset:
    """Mean spike count of every unit in every gabors condition.

    Args:
        gabors: count table of the gabors stimulus (:func:`meiflow.ingest.counts.count_table`):
            ``spike_counts`` (presentation, unit) with ``orientation``, ``x_position``,
            ``y_position`` (deg) on ``presentation``; presentations with a non-finite value of
            any of them (blank sweeps) are left out.
        units: (n_units,) unit ids to keep, in this order.

    Returns:
        Dataset with ``mean_count`` (unit, condition) spikes per presentation (over the unit's
        valid trials, see the count table's ``valid``; NaN without any) and ``n_trials``
        (condition,) presentations, coordinates ``orientation``, ``x_position``, ``y_position`` on
        ``condition`` (sorted by orientation, then x, then y): every condition with at least one
        presentation, and no other (243 on the complete Allen grid, fewer where a position or
        orientation has no presentations), so a ``condition`` index means the same condition
        only for the same table.
    """
    keys = np.stack([gabors[k].to_numpy().astype(np.float64) for k in CONDITION_KEYS], axis=1)
    valid = np.isfinite(keys).all(axis=1)
    if not valid.any():
        raise ValueError("the gabors table has no presentation with a finite condition")
    table = pd.DataFrame(keys[valid], columns=list(CONDITION_KEYS))
    codes = table.groupby(list(CONDITION_KEYS), sort=True).ngroup().to_numpy()
    levels = table.drop_duplicates().sort_values(list(CONDITION_KEYS))
    counts = gabors["spike_counts"].sel(unit=units).transpose("presentation", "unit").to_numpy()
    if "valid" in gabors:  # each unit's invalid trials left out
        used = gabors["valid"].sel(unit=units).transpose("presentation", "unit").to_numpy()
    else:
        used = np.ones(counts.shape, dtype=bool)
    n_conditions = len(levels)
    sums = np.zeros((n_conditions, len(units)))
    np.add.at(sums, codes, np.where(used, counts, 0)[valid])
    n_used = np.zeros((n_conditions, len(units)))
    np.add.at(n_used, codes, used[valid])
    n_trials = np.bincount(codes, minlength=n_conditions)
    ds = xr.Dataset(
        {
            "mean_count": (("unit", "condition"), (sums / n_used).T),
            "n_trials": ("condition", n_trials),
        },
        coords={
            "unit": np.asarray(units),
            "condition": np.arange(n_conditions),
            **{k: ("condition", levels[k].to_numpy()) for k in CONDITION_KEYS},
        },
    )
    ds["mean_count"].attrs = {"long_name": "mean spike count per presentation", "units": "spikes"}
    return ds


def drifting_frames(
    conditions: xr.Dataset, geometry: ScreenGeometry, height: int, width: int
) -> np.ndarray:
    """(n_conditions, DRIFT_PHASES, height, width) float32 frames of every condition in [0, 1].

    Rendered by :func:`meiflow.stimuli.gabor.allen_gabor_stimulus` with the Allen settings (20 deg,
    0.08 cycles/deg, contrast 0.8) at the condition's position and orientation. Memory:
    n_conditions * DRIFT_PHASES * height * width * 4 bytes (45 MB for 243 conditions at 60 x 96).
    """
    x_deg, y_deg = geometry.pixel_grid(height, width)
    phases = 2 * np.pi * np.arange(DRIFT_PHASES) / DRIFT_PHASES
    frames = allen_gabor_stimulus(
        x_deg,
        y_deg,
        conditions["x_position"].to_numpy()[:, None],
        conditions["y_position"].to_numpy()[:, None],
        conditions["orientation"].to_numpy()[:, None],
        phases,
    )
    return frames.astype(np.float32)


def predict_conditions(model: PerNeuronCNN, frames: torch.Tensor) -> torch.Tensor:
    """(n_conditions, n_models) predicted mean count per condition.

    The mean over the drift's phases of the model's predictions for ``frames``
    (n_conditions, n_phases, H, W).
    """
    n_conditions, n_phases = frames.shape[:2]
    flat = frames.reshape(n_conditions * n_phases, 1, *frames.shape[2:])
    return predict(model, flat).view(n_conditions, n_phases, -1).mean(1)
