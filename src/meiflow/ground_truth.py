"""Checks of a simulated session's results against the simulator's ground truth.

Each function returns plain numbers for ``results/{session}/{area}/ground_truth.csv``, one row per
area; later stages add their own columns.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.stats import spearmanr

from meiflow.measures import pearson_rows
from meiflow.scene_data import frames_of


def ranking_checks(ranking: xr.Dataset, truth: xr.Dataset, latency_s: float) -> dict[str, float]:
    """How well the ranking stage recovers the simulated truth.

    Parameters
    ----------
    ranking : one area's ``ranking.nc``.
    truth : the session's ``ground_truth.nc`` (all units).
    latency_s : the population response latency measured from the PSTH (s).

    Returns
    -------
    ``oracle_reliability_spearman``: Spearman correlation of ``oracle`` with the true
    ``reliability`` over the area's valid units (untuned units have reliability 0);
    ``oracle_notebook_reliability_spearman`` likewise; ``selected_tuned_fraction``: share of the
    selected units that are simple or complex cells; ``rf_significant_tuned_fraction`` and
    ``rf_significant_untuned_fraction`` (the latter near the test's alpha);
    ``rf_center_error_median_deg``: median distance between measured and true receptive-field
    centres over significant tuned units; ``latency_error_s``: measured minus true latency.
    """
    t = truth.sel(unit=ranking["unit"])
    reliability = t["reliability"].to_numpy()
    tuned = t["cell_type"].to_numpy() != "untuned"
    selected = ranking["selected"].to_numpy().astype(bool)
    significant = ranking["rf_significant"].to_numpy().astype(bool)

    def spearman(score: str) -> float:
        values = ranking[score].to_numpy()
        ok = np.isfinite(values) & np.isfinite(reliability)
        return float(spearmanr(values[ok], reliability[ok]).correlation) if ok.sum() > 2 else np.nan

    error = np.hypot(
        ranking["rf_center_x"].to_numpy() - t["center_x_deg"].to_numpy(),
        ranking["rf_center_y"].to_numpy() - t["center_y_deg"].to_numpy(),
    )
    fit = significant & tuned & np.isfinite(error)
    return {
        "n_units": int(ranking.sizes["unit"]),
        "n_valid": int(np.isfinite(ranking["oracle"].to_numpy()).sum()),
        "n_selected": int(selected.sum()),
        "oracle_reliability_spearman": spearman("oracle"),
        "oracle_notebook_reliability_spearman": spearman("oracle_notebook"),
        "selected_tuned_fraction": float(tuned[selected].mean()) if selected.any() else np.nan,
        "rf_significant_tuned_fraction": float(significant[tuned].mean())
        if tuned.any()
        else np.nan,
        "rf_significant_untuned_fraction": (
            float(significant[~tuned].mean()) if (~tuned).any() else np.nan
        ),
        "rf_center_error_median_deg": float(np.median(error[fit])) if fit.any() else np.nan,
        "latency_error_s": float(latency_s - truth.attrs["latency_s"]),
    }


def model_checks(scores: xr.Dataset, truth: xr.Dataset) -> dict[str, float]:
    """How well the encoding models predict the simulated noise-free rates on the test scenes.

    Returns the medians, over the area's modelled simple and complex cells, of the correlation
    between ``predicted_rate`` (CNN) or the ridge baseline's prediction and ``true_rate`` on the
    test scenes (``cnn_true_rate_correlation_simple``, ``..._complex``,
    ``linear_true_rate_correlation_simple``, ``..._complex``); NaN without such units.
    """
    if scores.sizes.get("unit", 0) == 0:
        return {
            f"{m}_true_rate_correlation_{t}": np.nan
            for m in ("cnn", "linear")
            for t in ("simple", "complex")
        }
    units = scores["unit"].to_numpy()
    test = frames_of(scores, "test")
    true = truth["true_rate"].sel(unit=units, frame=test).transpose("unit", "frame").to_numpy()
    cell_type = truth["cell_type"].sel(unit=units).to_numpy()
    result = {}
    for model, name in (("cnn", "predicted_rate"), ("linear", "linear_predicted_rate")):
        predicted = scores[name].sel(frame=test).transpose("unit", "frame").to_numpy()
        r = pearson_rows(predicted, true)
        for kind in ("simple", "complex"):
            chosen = r[cell_type == kind]
            result[f"{model}_true_rate_correlation_{kind}"] = (
                float(np.nanmedian(chosen)) if chosen.size else np.nan
            )
    return result
