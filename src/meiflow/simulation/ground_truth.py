"""Checks of a simulated session's results against the simulator's ground truth.

Each function returns plain numbers for ``results/{session}/{area}/ground_truth.csv``, one row per
area; later stages add their own columns.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import spearmanr

from meiflow.ingest.scene_images import BLANK_FRAME
from meiflow.mei.synthesis import at_best_init
from meiflow.models.training_data import frames_of
from meiflow.simulation.neurons import drive, optimal_stimulus, rates, receptive_fields
from meiflow.stats import masked_correlation, nan_median, pearson_rows, roc_auc
from meiflow.stimuli.geometry import ScreenGeometry

log = logging.getLogger(__name__)


def ranking_checks(ranking: xr.Dataset, truth: xr.Dataset, latency_s: float) -> dict[str, float]:
    """How well the ranking stage recovers the simulated truth.

    Args:
        ranking: one area's ``ranking.nc``.
        truth: the session's ``ground_truth.nc`` (all units).
        latency_s: the population response latency measured from the PSTH (s).

    Returns:
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

    Returns:
        The medians, over the area's modelled simple and complex cells, of the correlation between
        ``predicted_rate`` (CNN) or the ridge baseline's prediction and ``true_rate`` on the test
        scenes (``cnn_true_rate_correlation_simple``, ``..._complex``,
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
            result[f"{model}_true_rate_correlation_{kind}"] = nan_median(chosen)
    return result


def mei_checks(
    meis: xr.Dataset,
    gabors: xr.Dataset,
    metrics: xr.Dataset,
    truth: xr.Dataset,
    geometry: ScreenGeometry,
    rf_sigmas: float = 2.0,
) -> dict[str, float]:
    """MEIs, their controls and the phase-invariance test against the simulator's neurons.

    Returns:
        ``mei_optimal_correlation_simple`` (median over the area's simple cells of the Pearson r
        between the best-start MEI and the simulator's ``optimal_stimulus``, over the pixels within
        ``rf_sigmas`` envelope sds of the true RF centre),
        ``mei_matched_optimal_correlation_simple`` (the same against the simulator's optimum at the
        MEI's own pixel std, :func:`meiflow.simulation.neurons.optimal_stimulus`),
        ``mei_filter_correlation_simple`` (the same against the unit's true filter ``rf``, the
        pattern a faint MEI of a perfect model takes), ``filter_optimal_correlation_simple`` (the
        true filter against ``optimal_stimulus``: what such an MEI scores in the first column, its
        ceiling unless the MEI saturates as the stored optimum does), ``mei_beats_scene_fraction``
        (share of units whose MEI's predicted response exceeds the best natural scene's),
        ``mei_over_insilico_simple`` (median over simple cells of MEI / in-silico best Gabor
        response), ``mei_reaches_insilico_simple_fraction`` (share of simple cells where that ratio
        is >= 0.95) and ``phase_invariance_auc`` (area under the ROC curve of ``phase_invariance``
        for complex against simple cells); NaN where the area has no such unit.
    """
    names = (
        "mei_optimal_correlation_simple",
        "mei_matched_optimal_correlation_simple",
        "mei_filter_correlation_simple",
        "filter_optimal_correlation_simple",
        "mei_beats_scene_fraction",
        "mei_over_insilico_simple",
        "mei_reaches_insilico_simple_fraction",
        "phase_invariance_auc",
    )
    units = meis["unit"].to_numpy() if "unit" in meis.coords else np.array([])
    if units.size == 0:
        return dict.fromkeys(names, np.nan)
    t = truth.sel(unit=units)
    cell_type = t["cell_type"].to_numpy().astype(str)
    simple, complex_ = cell_type == "simple", cell_type == "complex"
    mei = at_best_init(meis)
    x_deg, y_deg = geometry.pixel_grid(*mei.shape[-2:])
    distance = np.hypot(
        x_deg - t["center_x_deg"].to_numpy()[:, None, None],
        y_deg - t["center_y_deg"].to_numpy()[:, None, None],
    )
    inside = distance <= rf_sigmas * t["sigma_deg"].to_numpy()[:, None, None]
    optimum = t["optimal_stimulus"].transpose("unit", "y", "x").to_numpy()
    r = masked_correlation(mei[simple], optimum[simple], inside[simple])
    # the optimum under the MEI's own contrast (the stored one has the scenes' mean contrast,
    # whose whole-image std saturates the carrier into a square wave across the RF)
    rf = t["rf"].transpose("unit", "y", "x").to_numpy()[simple]
    matched = optimal_stimulus(
        rf[:, None], cell_type[simple], mei[simple].std(axis=(-2, -1))[:, None, None]
    )
    r_matched = masked_correlation(mei[simple], matched, inside[simple])
    r_filter = masked_correlation(mei[simple], rf, inside[simple])
    r_ceiling = masked_correlation(rf, optimum[simple], inside[simple])
    ratio_insilico = gabors["mei_over_insilico_gabor"].sel(unit=units).to_numpy()
    beats = gabors["mei_over_best_scene"].sel(unit=units).to_numpy() > 1.0
    invariance = metrics["phase_invariance"].sel(unit=units).to_numpy()
    typed = (simple | complex_) & np.isfinite(invariance)
    auc = (
        roc_auc(invariance[typed], complex_[typed])
        if complex_[typed].any() and simple[typed].any()
        else np.nan
    )
    correlations = {
        "mei_optimal_correlation_simple": r,
        "mei_matched_optimal_correlation_simple": r_matched,
        "mei_filter_correlation_simple": r_filter,
        "filter_optimal_correlation_simple": r_ceiling,
    }
    return {
        **{k: nan_median(v) for k, v in correlations.items()},
        "mei_beats_scene_fraction": float(beats.mean()),
        "mei_over_insilico_simple": nan_median(ratio_insilico[simple]),
        "mei_reaches_insilico_simple_fraction": (
            float(np.mean(ratio_insilico[simple] >= 0.95)) if simple.any() else np.nan
        ),
        "phase_invariance_auc": float(auc),
    }


def true_rates(
    truth: xr.Dataset, scenes: np.ndarray, stimuli: np.ndarray, geometry: ScreenGeometry
) -> tuple[np.ndarray, np.ndarray]:
    """The simulated units' noise-free rates for any images, as the simulator computes them.

    Args:
        truth: ``ground_truth.nc`` (all units or a selection): the unit parameters (variables on
            ``unit`` alone).
        scenes: (n_scenes, H, W) the natural scenes at model resolution (``images.nc`` without the
            blank), on which the simulator calibrates each unit's drive (its 99th percentile).
        stimuli: (n_stimuli, H, W) images in [0, 1] of the same size.
        geometry: the screen geometry of the session.

    Returns:
        (n_units, n_scenes) and (n_units, n_stimuli) float64 rates in Hz for the scenes and the
        stimuli (:func:`meiflow.simulation.neurons.rates`).
    """
    per_unit = [name for name, v in truth.data_vars.items() if v.dims == ("unit",)]
    params = pd.DataFrame({name: truth[name].to_numpy() for name in per_unit})
    params["cell_type"] = params["cell_type"].astype(str)
    cell_type = params["cell_type"].to_numpy()
    filters = receptive_fields(params, geometry, *scenes.shape[-2:])
    return rates(params, drive(filters, scenes, cell_type), drive(filters, stimuli, cell_type))


def mei_true_checks(
    meis: xr.Dataset, truth: xr.Dataset, scenes: np.ndarray, geometry: ScreenGeometry
) -> dict[str, float]:
    """The MEIs shown to the simulated neurons.

    The in-silico version of Walker et al.'s closed loop, where MEIs were shown back to the
    recorded neurons.

    Returns:
        ``mei_true_over_best_scene``: median over the area's modelled tuned (simple and complex)
        units of the true rate for the best-start MEI over the unit's highest true rate over the
        natural scenes, and ``mei_true_beats_scene_fraction``: the share of those units whose ratio
        exceeds 1; NaN without tuned units. The simulated units saturate (Naka-Rushton), so the best
        scene already drives a unit near its ceiling and ratios stay near 1.
    """
    names = ("mei_true_over_best_scene", "mei_true_beats_scene_fraction")
    units = meis["unit"].to_numpy() if "unit" in meis.coords else np.array([])
    t = truth.sel(unit=units)
    tuned = t["cell_type"].to_numpy().astype(str) != "untuned"
    if not tuned.any():
        return dict.fromkeys(names, np.nan)
    t = t.isel(unit=np.flatnonzero(tuned))
    mei = at_best_init(meis.sel(unit=t["unit"]))
    scene_rates, mei_rates = true_rates(t, scenes, mei, geometry)
    ratio = np.diagonal(mei_rates) / scene_rates.max(axis=1)  # unit k's own MEI
    return {
        "mei_true_over_best_scene": float(np.median(ratio)),
        "mei_true_beats_scene_fraction": float(np.mean(ratio > 1.0)),
    }


def ground_truth_table(
    session: int,
    area: str,
    ranking: xr.Dataset,
    truth: xr.Dataset,
    psth: xr.Dataset,
    scores: xr.Dataset,
    meis: xr.Dataset,
    gabors: xr.Dataset,
    metrics: xr.Dataset,
    images: xr.Dataset,
    geometry: ScreenGeometry,
) -> pd.DataFrame:
    """One row (``ground_truth.csv``) of every check of an area's results against the truth.

    The checks are :func:`ranking_checks`, :func:`model_checks`, :func:`mei_checks` and
    :func:`mei_true_checks`, after the ``session`` and ``area`` columns.

    ``truth`` is the simulator's ``ground_truth.nc``, ``psth`` the session's ``psth.nc`` (its
    ``latency_s`` attribute), ``images`` the scenes at model resolution (``images.nc``; the
    blank is left out); the others are the area's outputs of the same names.
    """
    row = {"session": int(session), "area": area}
    row |= ranking_checks(ranking, truth, psth.attrs["latency_s"])
    row |= model_checks(scores, truth)
    row |= mei_checks(meis, gabors, metrics, truth, geometry)
    scenes = images["images"].sel(frame=images["frame"] != BLANK_FRAME).to_numpy()
    row |= mei_true_checks(meis, truth, scenes, geometry)
    for key, value in row.items():
        log.info("%s: %s", key, value)
    return pd.DataFrame([row])
