"""The scores of an area's models on the test scenes (``model_scores.nc``)."""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from meiflow.ingest.counts import valid_subsets
from meiflow.models.measures import (
    correlation_to_average,
    feve,
    fraction_of_oracle,
    single_trial_correlation,
)
from meiflow.models.training_data import frames_of

__all__ = ["LONG_NAMES", "model_scores"]

log = logging.getLogger(__name__)

#: What each score of ``model_scores.nc`` is (its ``long_name`` attribute).
LONG_NAMES = {
    "test_correlation": "correlation to average of the CNN on the test scenes",
    "validation_correlation": "validation correlation of the unit's ensemble of CNNs",
    "member_validation_correlation": "best validation correlation of each ensemble member",
    "feve": "fraction of explainable variance explained on the test trials",
    "test_correlation_single_trial": "correlation of single test trials with the CNN",
    "fraction_of_oracle": "test_correlation_single_trial / oracle (both single-trial)",
    "linear_test_correlation": "correlation to average of the ridge baseline (test scenes)",
    "best_epoch": "epoch of each member's best validation correlation (early stopping)",
    "gabor_correlation": "correlation of the CNN with the mean counts of the gabors conditions",
    "training_failure": "why training stopped early (non-finite loss or parameters), or empty",
}


def model_scores(
    chunks: xr.Dataset, ranking: xr.Dataset, linear: xr.Dataset, scenes: xr.Dataset
) -> xr.Dataset:
    """An area's trained chunks with the scores of the CNNs and the ridge baseline.

    Args:
        chunks: the area's chunk datasets concatenated along ``unit`` (``predicted_rate``
            (unit, frame) in spikes per presentation, ``split`` on ``frame``, the training
            records); no unit: returned as it is.
        ranking: the area's ranking (``oracle`` on ``unit``).
        linear: the ridge baseline (``predicted_rate`` (unit, frame)).
        scenes: the natural-scene count table (``spike_counts`` (presentation, unit),
            ``frame``).

    Returns:
        ``chunks`` plus, per unit, ``test_correlation`` (correlation to average on the test
        scenes), ``feve``, ``test_correlation_single_trial``, ``fraction_of_oracle``,
        ``linear_predicted_rate`` and ``linear_test_correlation``; scores follow
        :mod:`meiflow.models.measures`.
    """
    ds = chunks
    if ds.sizes["unit"] == 0:
        log.warning("no selected unit in this area: model_scores.nc is empty")
        return ds
    units = ds["unit"].to_numpy()
    test_frames = frames_of(ds, "test")  # scenes only: the blank is always a training image
    cnn = ds["predicted_rate"].sel(frame=test_frames).transpose("frame", "unit").to_numpy()
    lin = linear["predicted_rate"].sel(unit=units, frame=test_frames).transpose("frame", "unit")
    lin = lin.to_numpy()
    names = ("test_correlation", "feve", "test_correlation_single_trial", "linear_test_correlation")
    scores = {name: np.full(units.size, np.nan) for name in names}
    # each unit scored on its valid trials
    for columns, part in valid_subsets(scenes.sel(unit=units)):
        frames = part["frame"].to_numpy().astype(np.int64)
        trials = np.isin(frames, test_frames)
        observed = part["spike_counts"].transpose("presentation", "unit").to_numpy()[trials]
        images = frames[trials]
        scores["test_correlation"][columns] = correlation_to_average(
            cnn[:, columns], observed, images
        )
        scores["feve"][columns] = feve(cnn[:, columns], observed, images)
        scores["test_correlation_single_trial"][columns] = single_trial_correlation(
            cnn[:, columns], observed, images
        )
        scores["linear_test_correlation"][columns] = correlation_to_average(
            lin[:, columns], observed, images
        )
    for name in names[:3]:
        ds[name] = ("unit", scores[name])
    oracle = ranking["oracle"].sel(unit=units).to_numpy()
    ds["fraction_of_oracle"] = (
        "unit",
        fraction_of_oracle(ds["test_correlation_single_trial"].to_numpy(), oracle),
    )
    ds["linear_predicted_rate"] = linear["predicted_rate"].sel(unit=units)
    ds["linear_test_correlation"] = ("unit", scores["linear_test_correlation"])
    for name, text in LONG_NAMES.items():
        ds[name].attrs["long_name"] = text
    log.info(
        "median test r: CNN %.3f, linear %.3f over %d units",
        float(np.nanmedian(ds["test_correlation"])),
        float(np.nanmedian(ds["linear_test_correlation"])),
        units.size,
    )
    return ds
