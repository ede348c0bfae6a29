"""Responses to the gabors conditions: recorded means and model predictions over a drift cycle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from meiflow.models.gabor_responses import (
    DRIFT_PHASES,
    condition_means,
    drifting_frames,
    predict_conditions,
)
from meiflow.models.network import PerNeuronCNN
from meiflow.models.settings import ArchitectureSettings
from meiflow.models.training import predict
from meiflow.stimuli.allen import gabor_conditions
from meiflow.stimuli.gabor import allen_gabor_stimulus
from meiflow.stimuli.geometry import ScreenGeometry


def gabor_table(seed: int = 0, n: int = 400) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    orientation = rng.choice([0.0, 45.0, 90.0], n)
    x = rng.choice([-10.0, 0.0, 10.0], n)
    y = rng.choice([-10.0, 10.0], n)
    y[:5] = np.nan  # blank sweeps
    counts = rng.poisson(3.0, (n, 4)).astype(np.int32)
    return xr.Dataset(
        {"spike_counts": (("presentation", "unit"), counts)},
        coords={
            "presentation": np.arange(n),
            "unit": [11, 12, 13, 14],
            "orientation": ("presentation", orientation),
            "x_position": ("presentation", x),
            "y_position": ("presentation", y),
        },
    )


def test_condition_means_equal_a_pandas_groupby():
    table = gabor_table()
    means = condition_means(table, np.array([13, 11]))
    frame = table.to_dataframe().reset_index().dropna(subset=["y_position"])
    expected = (
        frame.groupby(["orientation", "x_position", "y_position", "unit"])["spike_counts"]
        .mean()
        .unstack("unit")
    )
    assert means.sizes == {"unit": 2, "condition": len(expected)}
    keys = pd.MultiIndex.from_arrays(
        [means[k].to_numpy() for k in ("orientation", "x_position", "y_position")]
    )
    np.testing.assert_allclose(
        means["mean_count"].to_numpy().T, expected.loc[keys, [13, 11]].to_numpy()
    )
    sizes = frame[frame.unit == 11].groupby(["orientation", "x_position", "y_position"]).size()
    np.testing.assert_array_equal(means["n_trials"], sizes.loc[keys].to_numpy())


def test_condition_means_needs_conditions():
    table = gabor_table()
    table["x_position"][:] = np.nan
    with pytest.raises(ValueError, match="no presentation"):
        condition_means(table, np.array([11]))


def test_frames_and_predictions_average_the_drift():
    geometry = ScreenGeometry()
    conditions = condition_means(gabor_table(), np.array([11]))
    frames = drifting_frames(conditions, geometry, 12, 20)
    assert frames.shape == (conditions.sizes["condition"], DRIFT_PHASES, 12, 20)
    x_deg, y_deg = geometry.pixel_grid(12, 20)
    k = 3
    direct = allen_gabor_stimulus(
        x_deg,
        y_deg,
        float(conditions["x_position"][k]),
        float(conditions["y_position"][k]),
        float(conditions["orientation"][k]),
        2 * np.pi * 5 / DRIFT_PHASES,
    )
    np.testing.assert_allclose(frames[k, 5], direct, atol=1e-6)

    torch.manual_seed(0)
    model = PerNeuronCNN(2, 12, 20, ArchitectureSettings(channels=2, layers=1), [0, 1])
    x = torch.as_tensor(frames)
    predicted = predict_conditions(model, x)
    per_frame = predict(model, x.reshape(-1, 1, 12, 20)).view(*frames.shape[:2], 2)
    torch.testing.assert_close(predicted, per_frame.mean(1))


def test_condition_means_of_an_incomplete_grid_are_the_full_grid_s_less_what_is_missing():
    # the Allen design twice, plus 2 presentations at a position off the grid (5, 5)
    design = gabor_conditions().loc[np.repeat(np.arange(243), 2)]
    off_grid = pd.DataFrame({"orientation": [0.0, 0.0], "y_position": 5.0, "x_position": 5.0})
    conditions = pd.concat([design, off_grid], ignore_index=True)
    counts = np.random.default_rng(4).poisson(3.0, (len(conditions), 3)).astype(np.int32)
    units = np.array([5, 6, 7])
    table = xr.Dataset(
        {"spike_counts": (("presentation", "unit"), counts)},
        coords={"presentation": np.arange(len(conditions)), "unit": units}
        | {k: ("presentation", conditions[k].to_numpy()) for k in conditions},
    )
    o, x, y = (conditions[k].to_numpy() for k in ("orientation", "x_position", "y_position"))
    # position (10, 0) without trials, (-20, 30) without 90 deg
    removed = ((x == 10) & (y == 0)) | ((x == -20) & (y == 30) & (o == 90))
    full = condition_means(table.isel(presentation=np.flatnonzero(x != 5)), units)
    part = condition_means(table.isel(presentation=np.flatnonzero(~removed)), units)
    assert full.sizes["condition"] == 243 and part.sizes["condition"] == 243 - 4 + 1
    o, x, y = (full[k].to_numpy() for k in ("orientation", "x_position", "y_position"))
    kept = ~(((x == 10) & (y == 0)) | ((x == -20) & (y == 30) & (o == 90)))
    shown = part.isel(condition=np.flatnonzero(part["x_position"].to_numpy() != 5))
    np.testing.assert_array_equal(shown["mean_count"], full["mean_count"][:, kept])
    np.testing.assert_array_equal(shown["n_trials"], 2)
    extra = part.isel(condition=np.flatnonzero(part["x_position"].to_numpy() == 5))
    np.testing.assert_array_equal(extra["mean_count"][:, 0], counts[-2:].mean(axis=0))
