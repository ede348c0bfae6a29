"""Checks of a simulated session's results against the simulator's ground truth.

Two levels, one definition:

- :func:`unit_checks`: one row per modelled unit of an area
  (``results/{session}/{area}/ground_truth_units.csv``): its cell type, each model's correlation
  with the true rate on the test scenes and on the held-out images, and its MEI shown to the true
  neuron (the in-silico closed loop of Walker et al. 2019); beside it, the MEI the same recipe
  finds on the true neuron itself (:func:`true_neuron_meis`), what a perfect model would give,
  which tells a limit of the MEI method from one of the models.
- :func:`summary_checks`: medians, shares and ROC AUCs per cell type of such a table; the same
  function makes an area's row (``ground_truth.csv``, after :func:`ranking_checks`) and the
  session's row pooled over its areas (``results/{session}/ground_truth.csv``).

Driven rate: rate minus the unit's rate for the blank gray screen (``gray_rate``); every ratio of
true rates here is a ratio of driven rates (the pipeline's own ratios of predicted responses,
``mei_over_insilico_gabor`` and ``mei_over_best_scene``, are taken as the MEI stage writes them).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy.stats import spearmanr

from meiflow.mei.settings import MEISettings
from meiflow.mei.synthesis import at_best_init, best_init, budget_of, initial_images, synthesize
from meiflow.metrics.image_metrics import circular_mask
from meiflow.metrics.trust import deviation_outside
from meiflow.models.chunks import load_chunk
from meiflow.models.scores import MODELS
from meiflow.models.shared_core import load_shared_core, shared_core_predict
from meiflow.models.training import device_for
from meiflow.models.training_data import frames_of
from meiflow.simulation.neurons import (
    NON_GABOR_TYPES,
    TUNED_TYPES,
    true_rates,
    truth_neurons,
)
from meiflow.stats import masked_correlation, nan_median, pearson_rows, roc_auc

__all__ = [
    "MODELS",
    "heldout_predictions",
    "shared_core_heldout",
    "ranking_checks",
    "rf_masks",
    "summary_checks",
    "true_neuron_meis",
    "unit_checks",
]

log = logging.getLogger(__name__)

#: Share of a unit's filter energy that its receptive-field mask holds (:func:`rf_masks`): the
#: envelope with its flanks (a tighter mask holds only the saturated core of a small optimum).
RF_ENERGY = 0.99


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
        selected units that are tuned (any type but untuned); ``rf_significant_tuned_fraction``
        and ``rf_significant_untuned_fraction`` (the latter near the test's alpha);
        ``rf_center_error_median_deg``: median distance between measured and true receptive-field
        centres over significant tuned units; ``latency_error_s``: measured minus true latency;
        ``selected_{cell_type}``: selected units of each tuned type.
    """
    t = truth.sel(unit=ranking["unit"])
    reliability = t["reliability"].to_numpy()
    cell_type = t["cell_type"].to_numpy().astype(str)
    tuned = cell_type != "untuned"
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
        **{f"selected_{kind}": int((selected & (cell_type == kind)).sum()) for kind in TUNED_TYPES},
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


def heldout_predictions(
    chunks: list[tuple[str, str]], images: np.ndarray, device: str
) -> xr.DataArray:
    """The per-neuron models' predictions for the held-out images, from their checkpoints.

    Args:
        chunks: (``models/chunk_{k}.nc``, ``models/chunk_{k}.pt``) of every chunk of an area.
        images: (n_heldout, H, W) luminance in [0, 1] (``heldout_images`` of the ground truth).
        device: ``models.device`` (``auto``: CUDA when present).

    Returns:
        (unit, heldout) predicted spike counts per presentation, the members' mean; no unit
        for an area without chunks.
    """
    parts = []
    for chunk_path, checkpoint_path in chunks:
        chunk, ensemble, dev = load_chunk(chunk_path, checkpoint_path, device)
        batch = torch.as_tensor(images[:, None], dtype=torch.float32, device=dev)
        predicted = ensemble.predict(batch).T.cpu().double().numpy()
        parts.append(
            xr.DataArray(
                predicted, dims=("unit", "heldout"), coords={"unit": chunk["unit"].to_numpy()}
            )
        )
    if not parts:
        return xr.DataArray(
            np.empty((0, len(images))), dims=("unit", "heldout"), coords={"unit": []}
        )
    return xr.concat(parts, dim="unit")


def shared_core_heldout(checkpoint: str, images: np.ndarray, device: str) -> xr.DataArray:
    """The shared-core model's predictions for the held-out images, from its checkpoint.

    Args:
        checkpoint: ``results/{session}/shared_core/model.pt``.
        images: (n_heldout, H, W) luminance in [0, 1].
        device: ``models.device``.

    Returns:
        (unit, heldout) predicted spike counts per presentation (the members' mean), every unit
        of the model.
    """
    cores = load_shared_core(checkpoint, device_for(device))
    x = torch.as_tensor(images[:, None], dtype=torch.float32, device=cores[0].model.bias.device)
    units, predicted = shared_core_predict(cores, x)
    return xr.DataArray(
        predicted.T.cpu().double().numpy(), dims=("unit", "heldout"), coords={"unit": units}
    )


def rf_masks(truth: xr.Dataset) -> np.ndarray:
    """(n_units, H, W) bool: each unit's receptive field, where its filters have their energy.

    The smallest set of pixels holding RF_ENERGY of the summed squared filters of the unit
    (:func:`meiflow.simulation.neurons.receptive_fields`): the Gabor's envelope, the
    difference of Gaussians' centre and inner surround, both subunits of a conjunction unit.
    """
    energy = truth_neurons(truth).pool.numpy()  # squared filters, summed, normalized
    flat = energy.reshape(len(energy), -1)
    order = np.sort(flat, axis=1)[:, ::-1]
    cumulative = np.cumsum(order, axis=1)
    needed = (cumulative < RF_ENERGY * cumulative[:, -1:]).sum(axis=1)
    threshold = order[np.arange(len(order)), np.minimum(needed, flat.shape[1] - 1)]
    return energy >= threshold[:, None, None]


def true_neuron_meis(truth: xr.Dataset, meis: xr.Dataset, settings: MEISettings) -> np.ndarray:
    """The MEI recipe of an area's ``meis.nc`` run on the true neurons: (n_units, H, W) float64.

    :func:`meiflow.mei.synthesis.synthesize` with ``settings`` (the config's ``meis``: method,
    steps, starts and seed), the MEIs' own C* (attribute ``target_std``) and stimulus budget
    (:func:`meiflow.mei.synthesis.budget_of`), on each true neuron
    (:class:`meiflow.simulation.neurons.TrueNeurons`) where the pipeline has its model; the best
    start is kept, as :func:`best_init` keeps the model's. The ascent climbs the neuron's
    :meth:`~meiflow.simulation.neurons.TrueNeurons.search_objective`, its drive: the rate is an
    increasing function of it, so walker's steps, normalized per image, are the rate's own
    (the notebook's unnormalized ones scale with the objective), without the rate's infinite
    slope at zero drive (a Naka-Rushton exponent below 1) or its flat rectification at a gray
    start.

    Args:
        truth: the units' ground truth (``truth.sel(unit=...)``).
        meis: the area's ``meis.nc`` (its attributes).
        settings: the MEI stage's settings.

    Raises:
        ValueError: see :func:`meiflow.mei.synthesis.budget_of`.
    """
    neurons = truth_neurons(truth)
    start = initial_images(
        len(neurons.cell_type),
        neurons.height,
        neurons.width,
        settings.initializations,
        settings.seed,
        dtype=torch.float64,
    )
    result = synthesize(
        neurons.search_objective, start, settings, float(meis.attrs["target_std"]), budget_of(meis)
    )
    chosen = best_init(result)
    return result.images[torch.arange(len(chosen)), chosen].numpy()


def unit_checks(
    scores: xr.Dataset,
    linear: xr.Dataset,
    per_neuron_heldout: xr.DataArray,
    meis: xr.Dataset,
    gabors: xr.Dataset,
    metrics: xr.Dataset,
    truth: xr.Dataset,
    mei_settings: MEISettings | None = None,
    shared_core: xr.DataArray | None = None,
) -> pd.DataFrame:
    """One row per modelled unit of an area: models and MEI against the truth.

    Args:
        scores: the area's ``model_scores.nc`` (``predicted_rate`` (model, unit, frame) on the
            test frames).
        linear: the area's ``linear.nc`` (ridge ``weights``).
        per_neuron_heldout: :func:`heldout_predictions` of the area.
        meis: the area's ``meis.nc``.
        gabors: the area's ``gabors.nc`` (``mei_over_insilico_gabor``, ``mei_over_best_scene``).
        metrics: the area's ``metrics.nc`` (``phase_invariance``, the receptive-field mask
            ``rf_mask_*``, ``deviation_outside_rf_mask``, ``mei_flagged``).
        truth: the session's ``ground_truth.nc``.
        mei_settings: the MEI stage's settings; given, the tuned units also get the columns of
            :func:`true_neuron_meis`' MEIs.
        shared_core: :func:`shared_core_heldout` of the session, if the shared core is fit
            (and on ``scores``' ``model``).

    Returns:
        Columns ``unit``, ``cell_type``; ``{model}_true_rate_correlation`` (test scenes) and
        ``{model}_heldout_correlation`` (held-out images) for model in MODELS (``shared_core``
        only with ``shared_core``); where the unit
        has an MEI: ``mei_true_rate`` (Hz), ``mei_over_optimum`` (driven rate of the MEI over
        that of the true optimum), ``mei_beats_best_scene`` and ``mei_beats_best_gabor``
        (true rate of the MEI above the unit's best natural scene's, best Gabor's),
        ``mei_optimum_rf_correlation`` (MEI and optimum inside :func:`rf_masks`, simple and
        centre-surround units only: :func:`_rf_correlation`), ``mei_over_best_gabor`` (true
        rate of the MEI over the best Gabor's), and the pipeline's own
        ``mei_over_insilico_gabor``, ``mei_over_best_scene``, ``phase_invariance`` and
        ``mei_flagged`` (:func:`meiflow.metrics.trust.mei_flags`), the share of the MEI's and of
        the true optimum's deviation outside the model's receptive-field mask
        (``mei_deviation_outside_rf_mask``, ``optimum_deviation_outside_rf_mask``); with
        ``mei_settings``, the same true-rate columns of the true neuron's own MEI prefixed
        ``true_neuron_`` (tuned units only).
    """
    units = scores["unit"].to_numpy() if "unit" in scores.coords else np.array([], dtype=int)
    t = truth.sel(unit=units)
    table = pd.DataFrame({"unit": units, "cell_type": t["cell_type"].to_numpy().astype(str)})
    if units.size == 0:
        return table
    test = frames_of(scores, "test")
    true_test = t["true_rate"].sel(frame=test).transpose("unit", "frame").to_numpy()
    true_heldout = t["heldout_true_rate"].transpose("unit", "heldout").to_numpy()
    images = truth["heldout_images"].to_numpy().astype(np.float64)
    weights = linear["weights"].sel(unit=units).to_numpy().astype(np.float64)
    predicted_heldout = {
        "per_neuron": per_neuron_heldout.sel(unit=units).to_numpy(),
        "linear": np.einsum("uhw,nhw->un", weights, images),  # the intercept leaves r unchanged
    }
    if shared_core is not None:
        predicted_heldout["shared_core"] = shared_core.reindex(unit=units).to_numpy()
    for model in MODELS:
        if model not in predicted_heldout or model not in scores["model"]:
            continue
        test_prediction = scores["predicted_rate"].sel(model=model, frame=test)
        test_prediction = test_prediction.transpose("unit", "frame")
        table[f"{model}_true_rate_correlation"] = pearson_rows(test_prediction, true_test)
        table[f"{model}_heldout_correlation"] = pearson_rows(predicted_heldout[model], true_heldout)

    has_mei = np.isin(units, meis["unit"].to_numpy()) if "unit" in meis.coords else units < 0
    if not has_mei.any():
        return table
    with_mei = units[has_mei]
    m = t.sel(unit=with_mei)
    mei = at_best_init(meis.sel(unit=with_mei))
    rate = np.diagonal(true_rates(m, mei))  # unit k's rate for its own MEI
    gray = m["gray_rate"].to_numpy()
    optimum = m["optimal_stimulus"].transpose("unit", "y", "x").to_numpy()
    driven = m["optimal_rate"].to_numpy() - gray
    untuned = m["cell_type"].to_numpy().astype(str) == "untuned"  # no optimum, no best Gabor

    def truth_only(values: np.ndarray) -> np.ndarray:
        return np.where(untuned, np.nan, np.asarray(values, dtype=float))

    def closed_loop(images: np.ndarray, rate: np.ndarray) -> dict[str, np.ndarray]:
        """True-rate columns of images (n, H, W) with true rates (n,) of the units of m."""
        return {
            "mei_true_rate": rate,
            "mei_over_optimum": truth_only(
                np.divide(rate - gray, driven, out=np.full(rate.shape, np.nan), where=driven > 0)
            ),
            "mei_beats_best_scene": truth_only(rate > m["best_scene_rate"].to_numpy()),
            "mei_beats_best_gabor": truth_only(rate > m["best_gabor_rate"].to_numpy()),
            "mei_over_best_gabor": truth_only(rate / m["best_gabor_rate"].to_numpy()),
            "mei_optimum_rf_correlation": truth_only(_rf_correlation(images, optimum, m)),
        }

    unit_metrics = metrics.sel(unit=with_mei)
    inside = circular_mask(
        *(unit_metrics[f"rf_mask_{k}"].to_numpy() for k in ("center_y", "center_x", "radius")),
        *optimum.shape[-2:],
    )
    columns = closed_loop(mei, rate) | {
        "mei_over_insilico_gabor": gabors["mei_over_insilico_gabor"].sel(unit=with_mei).to_numpy(),
        "mei_over_best_scene": gabors["mei_over_best_scene"].sel(unit=with_mei).to_numpy(),
        "phase_invariance": unit_metrics["phase_invariance"].to_numpy(),
        "mei_flagged": unit_metrics["mei_flagged"].to_numpy(),
        "mei_deviation_outside_rf_mask": unit_metrics["deviation_outside_rf_mask"]
        .sel(image_kind="mei")
        .to_numpy(),
        "optimum_deviation_outside_rf_mask": truth_only(deviation_outside(optimum, inside)),
    }
    if mei_settings is not None and not untuned.all():
        own = np.full(mei.shape, np.nan)
        own[~untuned] = true_neuron_meis(m.isel(unit=~untuned), meis, mei_settings)
        own_rate = np.full(len(own), np.nan)
        own_rate[~untuned] = np.diagonal(true_rates(m.isel(unit=~untuned), own[~untuned]))
        columns |= {f"true_neuron_{k}": v for k, v in closed_loop(own, own_rate).items()}
    for name, values in columns.items():
        table[name] = np.nan
        table.loc[has_mei, name] = np.asarray(values, dtype=float)
    return table


#: Cell types whose optimum is one image, not one of a family of phases (complex cells) or of
#: subunit phases (conjunction units): only theirs is compared pixel by pixel with the MEI.
UNIQUE_OPTIMUM_TYPES = ("simple", "center_surround")


def _rf_correlation(mei: np.ndarray, optimum: np.ndarray, truth: xr.Dataset) -> np.ndarray:
    """(n_units,) Pearson r of MEI and optimum over :func:`rf_masks`, for UNIQUE_OPTIMUM_TYPES.

    0 where the MEI is constant over the mask (no pattern, no match: a NaN there would leave the
    unit out of the medians); NaN for the other types (a phase-shifted optimum is as good, so a
    perfect MEI may correlate 0 with the stored one).
    """
    r = masked_correlation(mei, optimum, rf_masks(truth))
    r = np.where(np.isnan(r), 0.0, r)
    unique = np.isin(truth["cell_type"].to_numpy().astype(str), UNIQUE_OPTIMUM_TYPES)
    return np.where(unique, r, np.nan)


def _auc(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC AUC of scores for positive against negative rows (finite scores), NaN without both."""
    chosen = (positive | negative) & np.isfinite(scores)
    if not (positive & chosen).any() or not (negative & chosen).any():
        return np.nan
    return float(roc_auc(scores[chosen], positive[chosen]))


def _share(values: np.ndarray) -> float:
    """Share of the defined (not NaN) values that are non-zero (True); NaN without any."""
    defined = values[~np.isnan(values)]
    return float(np.mean(defined != 0)) if defined.size else np.nan


def summary_checks(units: pd.DataFrame) -> dict[str, float]:
    """Medians, shares and ROC AUCs of a :func:`unit_checks` table (an area's or a session's).

    Returns:
        ``n_modelled``; per tuned cell type T: ``{model}_true_rate_correlation_T`` and
        ``{model}_heldout_correlation_T`` (medians), ``shared_core_heldout_gain_T`` (median over
        the units of the shared core's held-out correlation minus the per-neuron model's) and,
        for T in UNIQUE_OPTIMUM_TYPES,
        ``mei_optimum_rf_correlation_T``; over
        the tuned units: ``mei_over_optimum`` (median), ``mei_beats_best_scene_fraction``;
        ``mei_beats_best_gabor_non_gabor_fraction`` (over the non-Gabor types); the pipeline's
        ``mei_beats_scene_predicted_fraction`` (MEI above the best scene in the model),
        ``mei_over_insilico_simple`` (median) and ``mei_reaches_insilico_simple_fraction``
        (ratio >= 0.95); ``mei_gabor_auc`` (ROC AUC of the model-predicted MEI / in-silico Gabor
        ratio, non-Gabor types against simple cells) and ``phase_invariance_auc`` (complex
        against simple cells); the trust signals' ``mei_flagged_fraction`` (tuned units),
        ``mei_flag_auc`` (ROC AUC of the flag for "the MEI loses to the best natural scene in
        truth", tuned units) and the medians ``mei_deviation_outside_rf_mask`` and
        ``optimum_deviation_outside_rf_mask`` (tuned units; the model's receptive-field mask);
        where the table has them, the true neuron's own MEIs'
        ``true_neuron_mei_over_optimum``, ``true_neuron_mei_beats_best_scene_fraction``,
        ``true_neuron_mei_beats_best_gabor_non_gabor_fraction``,
        ``true_neuron_mei_optimum_rf_correlation_T`` and ``true_neuron_mei_gabor_auc`` (of their
        true MEI / best Gabor rate ratio). NaN where the table has no such unit.
    """
    cell_type = units["cell_type"].to_numpy().astype(str) if len(units) else np.array([], str)

    def column(name: str) -> np.ndarray:
        return units[name].to_numpy(dtype=float) if name in units else np.full(len(units), np.nan)

    row: dict[str, float] = {"n_modelled": len(units)}
    for kind in TUNED_TYPES:
        of_kind = cell_type == kind
        for model in MODELS:
            for measure in ("true_rate_correlation", "heldout_correlation"):
                row[f"{model}_{measure}_{kind}"] = nan_median(column(f"{model}_{measure}")[of_kind])
        gain = column("shared_core_heldout_correlation") - column("per_neuron_heldout_correlation")
        row[f"shared_core_heldout_gain_{kind}"] = nan_median(gain[of_kind])
        if kind in UNIQUE_OPTIMUM_TYPES:
            row[f"mei_optimum_rf_correlation_{kind}"] = nan_median(
                column("mei_optimum_rf_correlation")[of_kind]
            )
    tuned = np.isin(cell_type, TUNED_TYPES)
    non_gabor = np.isin(cell_type, NON_GABOR_TYPES)
    simple, complex_ = cell_type == "simple", cell_type == "complex"
    ratio = column("mei_over_insilico_gabor")
    over_scene = column("mei_over_best_scene")
    row |= {
        "mei_over_optimum": nan_median(column("mei_over_optimum")[tuned]),
        "mei_beats_best_scene_fraction": _share(column("mei_beats_best_scene")[tuned]),
        "mei_beats_best_gabor_non_gabor_fraction": _share(
            column("mei_beats_best_gabor")[non_gabor]
        ),
        "mei_beats_scene_predicted_fraction": _share(
            np.where(np.isnan(over_scene), np.nan, over_scene > 1.0)
        ),
        "mei_over_insilico_simple": nan_median(ratio[simple]),
        "mei_reaches_insilico_simple_fraction": (
            float(np.mean(ratio[simple & np.isfinite(ratio)] >= 0.95))
            if (simple & np.isfinite(ratio)).any()
            else np.nan
        ),
        "mei_gabor_auc": _auc(ratio, non_gabor, simple),
        "phase_invariance_auc": _auc(column("phase_invariance"), complex_, simple),
        "mei_flagged_fraction": _share(column("mei_flagged")[tuned]),
        "mei_flag_auc": _auc(
            column("mei_flagged"),
            tuned & (column("mei_beats_best_scene") == 0),
            tuned & (column("mei_beats_best_scene") == 1),
        ),
        "mei_deviation_outside_rf_mask": nan_median(column("mei_deviation_outside_rf_mask")[tuned]),
        "optimum_deviation_outside_rf_mask": nan_median(
            column("optimum_deviation_outside_rf_mask")[tuned]
        ),
    }
    if "true_neuron_mei_true_rate" in units:
        own = "true_neuron_mei_"
        row |= {
            f"{own}over_optimum": nan_median(column(f"{own}over_optimum")[tuned]),
            f"{own}beats_best_scene_fraction": _share(column(f"{own}beats_best_scene")[tuned]),
            f"{own}beats_best_gabor_non_gabor_fraction": _share(
                column(f"{own}beats_best_gabor")[non_gabor]
            ),
            **{
                f"{own}optimum_rf_correlation_{kind}": nan_median(
                    column(f"{own}optimum_rf_correlation")[cell_type == kind]
                )
                for kind in UNIQUE_OPTIMUM_TYPES
            },
            f"{own}gabor_auc": _auc(column(f"{own}over_best_gabor"), non_gabor, simple),
        }
    return row


def ground_truth_table(
    session: int,
    area: str,
    ranking: xr.Dataset,
    truth: xr.Dataset,
    psth: xr.Dataset,
    units: pd.DataFrame,
) -> pd.DataFrame:
    """One row (``ground_truth.csv``) of every check of an area's results against the truth.

    ``session`` and ``area``, then :func:`ranking_checks` (``psth`` is the session's
    ``psth.nc``, for its ``latency_s``) and :func:`summary_checks` of the area's
    :func:`unit_checks` table ``units``.
    """
    row = {"session": int(session), "area": area}
    row |= ranking_checks(ranking, truth, psth.attrs["latency_s"])
    row |= summary_checks(units)
    for key, value in row.items():
        log.info("%s: %s", key, value)
    return pd.DataFrame([row])


def session_table(session: int, units: list[pd.DataFrame]) -> pd.DataFrame:
    """The session's row (``results/{session}/ground_truth.csv``), its areas pooled.

    :func:`summary_checks` of every area's :func:`unit_checks` table, concatenated, after
    ``session`` and ``area`` = ``all``.
    """
    pooled = pd.concat(units, ignore_index=True) if units else pd.DataFrame(columns=["cell_type"])
    return pd.DataFrame([{"session": int(session), "area": "all"} | summary_checks(pooled)])
