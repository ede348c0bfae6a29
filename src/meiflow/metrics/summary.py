"""One row of numbers per area: how many units, and the median scores of every stage."""

from __future__ import annotations

import numpy as np
import xarray as xr

from meiflow.models.chunks import failed_units
from meiflow.models.scores import MODELS
from meiflow.stats import nan_median


def _median(ds: xr.Dataset, name: str) -> float:
    """Median of a per-unit variable over its defined values; NaN when absent, empty or all NaN."""
    if name not in ds or ds.sizes.get("unit", 0) == 0:
        return np.nan
    return nan_median(ds[name].to_numpy())


def area_summary(
    ranking: xr.Dataset, scores: xr.Dataset, gabors: xr.Dataset, metrics: xr.Dataset
) -> dict[str, float]:
    """The area at a glance, from its ranking.nc, model_scores.nc, gabors.nc and metrics.nc.

    Returns:
        ``n_units`` (units of the area), ``n_valid`` (with finite reliability scores),
        ``n_selected``, ``n_training_failed`` (selected units dropped because their training failed,
        see :func:`meiflow.models.chunks.failed_units`), the medians over the selected units of
        ``oracle``, of each model's ``test_correlation`` and ``fraction_of_oracle``
        (``median_test_correlation_{model}`` for model in ``meiflow.models.scores.MODELS``,
        NaN for a model not fit), of the MEI's response ratios to the best natural scene and the
        in-silico best Gabor (``mei_over_best_scene``, ``mei_over_insilico_gabor``) and of
        ``phase_invariance`` (NaN where the area selected no unit).
    """
    selected = ranking["selected"].to_numpy() == 1
    row = {
        "n_units": int(ranking.sizes["unit"]),
        "n_valid": int(np.isfinite(ranking["oracle"].to_numpy()).sum()),
        "n_selected": int(selected.sum()),
        "n_training_failed": len(failed_units(scores)),
        "median_oracle_selected": nan_median(ranking["oracle"].to_numpy()[selected]),
    }
    for name in ("test_correlation", "fraction_of_oracle"):
        for model in MODELS:
            fit = "model" in scores.coords and model in scores["model"]
            row[f"median_{name}_{model}"] = (
                _median(scores.sel(model=model), name) if fit else np.nan
            )
    for name in ("mei_over_best_scene", "mei_over_insilico_gabor"):
        row[f"median_{name}"] = _median(gabors, name)
    row["median_phase_invariance"] = _median(metrics, "phase_invariance")
    return row
