"""The per-area summary row."""

from __future__ import annotations

import numpy as np
import xarray as xr

from meiflow.metrics.summary import area_summary


def test_area_summary_counts_and_medians():
    ranking = xr.Dataset(
        {
            "oracle": ("unit", [0.9, 0.7, 0.5, np.nan]),
            "selected": ("unit", [1, 1, 0, 0]),
        },
        coords={"unit": [1, 2, 3, 4]},
    )
    scores = xr.Dataset(
        {
            "test_correlation": (("model", "unit"), [[0.6, 0.8], [0.2, np.nan]]),
            "fraction_of_oracle": (("model", "unit"), [[0.5, 0.7], [0.1, 0.3]]),
            "training_failure": ("unit", ["", "non-finite training loss at epoch 3"]),
        },
        coords={"unit": [1, 2], "model": ["per_neuron", "linear"]},
    )
    gabors = xr.Dataset(
        {"mei_over_best_scene": ("unit", [1.5, 2.5]), "mei_over_insilico_gabor": ("unit", [1, 3])},
        coords={"unit": [1, 2]},
    )
    metrics = xr.Dataset({"phase_invariance": ("unit", [0.1, 0.3])}, coords={"unit": [1, 2]})
    row = area_summary(ranking, scores, gabors, metrics)
    assert (row["n_units"], row["n_valid"], row["n_selected"]) == (4, 3, 2)
    assert row["n_training_failed"] == 1
    assert row["median_oracle_selected"] == 0.8
    assert row["median_test_correlation_per_neuron"] == 0.7
    assert row["median_test_correlation_linear"] == 0.2  # NaN left out
    assert row["median_fraction_of_oracle_linear"] == 0.2
    assert np.isnan(row["median_test_correlation_shared_core"])  # not fit
    assert row["median_mei_over_best_scene"] == 2.0
    assert row["median_mei_over_insilico_gabor"] == 2.0
    assert row["median_phase_invariance"] == 0.2


def test_area_summary_of_an_area_without_selection():
    ranking = xr.Dataset(
        {"oracle": ("unit", [0.1, 0.2]), "selected": ("unit", [0, 0])}, coords={"unit": [1, 2]}
    )
    empty = xr.Dataset(coords={"unit": np.array([], dtype=int)})
    row = area_summary(ranking, empty, empty, empty)
    assert row["n_selected"] == row["n_training_failed"] == 0
    assert all(np.isnan(v) for k, v in row.items() if k.startswith("median"))
