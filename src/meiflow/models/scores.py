"""The scores of an area's models on the test scenes (``model_scores.nc``)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from meiflow.ingest.counts import valid_subsets
from meiflow.io.netcdf import describe
from meiflow.models.measures import (
    correlation_to_average,
    feve,
    fraction_of_oracle,
    single_trial_correlation,
)
from meiflow.models.training_data import frames_of

__all__ = ["LONG_NAMES", "MODELS", "MODEL_VARIABLES", "model_scores"]

log = logging.getLogger(__name__)

#: The models of ``model_scores.nc``'s ``model`` coordinate, in order (those fit).
MODELS = ("per_neuron", "shared_core", "linear")

#: What each variable on ``model`` is (its ``long_name`` attribute).
MODEL_VARIABLES = {
    "predicted_rate": ("predicted mean count per scene", "spikes"),
    "validation_correlation": ("correlation with the mean counts, validation scenes", "1"),
    "test_correlation": ("correlation to average on the test scenes", "1"),
    "feve": ("fraction of explainable variance explained on the test trials", "1"),
    "test_correlation_single_trial": ("correlation of single test trials with the model", "1"),
    "fraction_of_oracle": ("test_correlation_single_trial / oracle (both single-trial)", "1"),
}

#: What each per-neuron training record is (its ``long_name`` attribute).
LONG_NAMES = {
    "member_validation_correlation": "best validation correlation of each ensemble member",
    "best_epoch": "epoch of each member's best validation correlation (early stopping)",
    "gabor_correlation": "correlation of the CNN with the mean counts of the gabors conditions",
    "training_failure": "why training stopped early (non-finite loss or parameters), or empty",
}


def model_scores(
    chunks: xr.Dataset,
    ranking: xr.Dataset,
    linear: xr.Dataset,
    scenes: xr.Dataset,
    shared_core: xr.Dataset | None = None,
) -> xr.Dataset:
    """An area's models side by side on its selected units: predictions and scores.

    Args:
        chunks: the area's per-neuron chunk datasets concatenated along ``unit``
            (``predicted_rate`` (unit, frame) in spikes per presentation,
            ``validation_correlation``, ``split`` on ``frame``, the training records); no
            unit: returned as it is.
        ranking: the area's ranking (``oracle`` on ``unit``).
        linear: the ridge baseline (``predicted_rate`` (unit, frame), ``validation_correlation``).
        scenes: the natural-scene count table (``spike_counts`` (presentation, unit),
            ``frame``).
        shared_core: the session's ``shared_core/scores.nc`` (``predicted_rate``,
            ``validation_correlation``), when ``models.kind`` lists it; a unit it left out gets
            NaN.

    Returns:
        ``chunks`` with a ``model`` coordinate (:data:`MODELS` of the models given, in that
        order) and on it, per unit, ``predicted_rate`` (model, unit, frame),
        ``validation_correlation``, ``test_correlation`` (correlation to average on the test
        scenes), ``feve``, ``test_correlation_single_trial`` and ``fraction_of_oracle`` (model,
        unit); scores follow :mod:`meiflow.models.measures`. The per-neuron CNNs' training
        records (``best_epoch``, ``member_validation_correlation``, curves, readout
        candidates, ``gabor_correlation``, ``training_failure``) keep their dimensions.
    """
    ds = chunks
    if ds.sizes["unit"] == 0:
        log.warning("no selected unit in this area: model_scores.nc is empty")
        return ds
    units = ds["unit"].to_numpy()
    sources = {"per_neuron": ds, "shared_core": shared_core, "linear": linear}
    models = [m for m in MODELS if sources[m] is not None]
    predicted = xr.concat(
        [
            sources[m]["predicted_rate"]
            .reindex(unit=units)
            .reset_coords(drop=True)
            .astype(np.float64)
            for m in models
        ],
        dim=pd.Index(models, name="model"),
    ).transpose("model", "unit", "frame")
    validation = np.stack(
        [sources[m]["validation_correlation"].reindex(unit=units).to_numpy() for m in models]
    )
    test_frames = frames_of(ds, "test")  # scenes only: the blank is always a training image
    test = predicted.sel(frame=test_frames).transpose("model", "frame", "unit").to_numpy()
    names = ("test_correlation", "feve", "test_correlation_single_trial")
    measures = (correlation_to_average, feve, single_trial_correlation)
    scores = {name: np.full((len(models), units.size), np.nan) for name in names}
    # each unit scored on its valid trials
    for columns, part in valid_subsets(scenes.sel(unit=units)):
        frames = part["frame"].to_numpy().astype(np.int64)
        trials = np.isin(frames, test_frames)
        observed = part["spike_counts"].transpose("presentation", "unit").to_numpy()[trials]
        images = frames[trials]
        for k in range(len(models)):
            for name, measure in zip(names, measures, strict=True):
                scores[name][k, columns] = measure(test[k][:, columns], observed, images)
    oracle = ranking["oracle"].sel(unit=units).to_numpy()
    ds = ds.drop_vars(["predicted_rate", "validation_correlation"]).assign_coords(model=models)
    ds["predicted_rate"] = predicted
    ds["validation_correlation"] = (("model", "unit"), validation)
    for name in names:
        ds[name] = (("model", "unit"), scores[name])
    ds["fraction_of_oracle"] = (
        ("model", "unit"),
        fraction_of_oracle(scores["test_correlation_single_trial"], oracle[None]),
    )
    describe(ds, MODEL_VARIABLES)
    for name, text in LONG_NAMES.items():
        ds[name].attrs["long_name"] = text
    medians = np.nanmedian(ds["test_correlation"].to_numpy(), axis=1)
    log.info(
        "median test r over %d units: %s",
        units.size,
        ", ".join(f"{m} {r:.3f}" for m, r in zip(models, medians, strict=True)),
    )
    return ds
