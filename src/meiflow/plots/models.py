"""Figures of the report of the model-training stage, for one brain area of one session.

Same conventions as :mod:`meiflow.plots.ranking` (whose helpers are reused): every function takes
the loaded data and returns a :class:`matplotlib.figure.Figure` (6 x 4.5 inches, 150 dpi, Agg
canvas, no pyplot); an area without a model gets an empty-state figure that says why, never an
exception. Write a figure with :func:`meiflow.plots.base.save_figure`.

Inputs:
    scores: one area's ``model_scores.nc``, dim ``unit`` sorted best first, with
        ``test_correlation``, ``validation_correlation``, ``feve`` (model, unit) and
        ``predicted_rate`` (model, unit, frame) in spikes per presentation for each model of its
        ``model`` coordinate (``per_neuron``, ``shared_core`` where fit, ``linear``), ``split``
        (train / validation / test) on ``frame``; the per-neuron CNNs' ``best_epoch`` (unit) and
        ``train_loss`` and ``validation_curve`` (unit, epoch), NaN after a model stopped. Attributes
        ``session_id``, ``area`` and, for an empty table, ``empty_reason`` may be present.
    observed: observed mean count per image, a DataArray (unit, frame), same units as the
        predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from meiflow.plots.base import (
    area_title,
    count_label,
    empty_figure,
    new_figure,
    set_titles,
)

__all__ = ["cnn_vs_linear", "model_comparison", "predicted_vs_observed", "training_curves"]

#: Colours with a meaning, the same in every figure of this module.
TEST_COLOR = "tab:orange"
FIT_COLOR = "0.6"  # train and validation scenes
CNN_COLOR = "tab:blue"
IDENTITY_STYLE = {"color": "k", "lw": 0.9, "ls": "--", "alpha": 0.7}
#: The encoding models (``model`` of ``model_scores.nc``; the columns
#: ``{model}_true_rate_correlation`` and ``{model}_heldout_correlation`` of
#: ``ground_truth_units.csv``), with their colours and names in the figures.
MODEL_COLORS = {"linear": "0.5", "per_neuron": CNN_COLOR, "shared_core": "tab:green"}
MODEL_LABELS = {
    "linear": "linear (ridge)",
    "per_neuron": "per-neuron CNN",
    "shared_core": "shared core",
}


# ----------------------------------------------------------------------------------- helpers


def _n_units(scores: xr.Dataset) -> int:
    return int(scores.sizes.get("unit", 0))


def _no_unit(title: str, scores: xr.Dataset) -> Figure:
    """Empty-state figure for an area without a trained model."""
    reason = scores.attrs.get("empty_reason", "")
    message = "no trained model in this area" + (f":\n{reason}" if reason else "")
    return empty_figure(title, scores, message)


def _missing(scores: xr.Dataset, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name not in scores.variables]


def _models(scores: xr.Dataset) -> list[str]:
    """The models on the scores' ``model`` coordinate (none without it)."""
    return [str(m) for m in scores["model"].to_numpy()] if "model" in scores.coords else []


def _unit_colors(k: int) -> list:
    """``k`` distinct colours: the strong half of tab20 first, then its pale half."""
    tab20 = colormaps["tab20"]
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))
    return [tab20(order[i % 20]) for i in range(k)]


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}"


def _shown_note(k: int, n: int) -> str:
    return f"best {k} of {n} units shown" if k < n else count_label(n)


# ------------------------------------------------------------------------------ training


def training_curves(scores: xr.Dataset, max_units: int = 12) -> Figure:
    """Validation correlation (top) and train loss (bottom) per epoch of the best-ranked units.

    One colour per unit (legend on the right, best ranked first), at most ``max_units`` units in
    the order of ``scores``; a dot edged in black marks each model's ``best_epoch`` (the epoch
    early stopping kept) on both panels. Curves end where a model stopped (NaN).
    """
    title = "Training curves of the CNN models"
    n = _n_units(scores)
    if n == 0:
        return _no_unit(title, scores)
    missing = _missing(scores, ("validation_curve", "train_loss", "best_epoch"))
    if missing:
        return empty_figure(
            title, scores, f"no training curves in the scores: {', '.join(missing)}"
        )
    k = min(n, max(int(max_units), 0))
    if k == 0:
        return empty_figure(title, scores, "no unit to show (max_units = 0)")
    sub = scores.isel(unit=slice(0, k))
    validation = sub["validation_curve"].transpose("unit", "epoch").to_numpy().astype(float)
    loss = sub["train_loss"].transpose("unit", "epoch").to_numpy().astype(float)
    epochs = (
        sub["epoch"].to_numpy().astype(float)
        if "epoch" in sub.coords
        else np.arange(validation.shape[1], dtype=float)
    )
    best = sub["best_epoch"].to_numpy()
    units = sub["unit"].to_numpy()

    fig = new_figure()
    ax, ax_loss = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    colors = _unit_colors(k)
    for i in range(k):  # one line per unit, drawing only
        ax.plot(
            epochs, validation[i], lw=1.1, color=colors[i], label=f"unit {units[i]}", gid="unit"
        )
        ax_loss.plot(epochs, loss[i], lw=1.1, color=colors[i], gid="unit")
        b = int(best[i]) if np.isfinite(best[i]) else -1
        if 0 <= b < epochs.size:
            marker = {"marker": "o", "ms": 5, "mec": "k", "mew": 0.7, "color": colors[i]}
            ax.plot(epochs[b], validation[i, b], zorder=3, gid="best_epoch", **marker)
            ax_loss.plot(epochs[b], loss[i, b], zorder=3, gid="best_epoch", **marker)
    ax.set_ylabel("validation r")
    ax_loss.set_ylabel("train loss\n(Poisson)")
    ax_loss.set_xlabel("epoch")
    for a in (ax, ax_loss):
        a.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="", marker="o", ms=5, mec="k", mew=0.7, color="w"))
    labels.append("best epoch")
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, frameon=False)
    set_titles(fig, ax, title, scores, f"{_shown_note(k, n)}, best ranked first in the legend")
    return fig


# ---------------------------------------------------------------------- predicted vs observed


def predicted_vs_observed(
    scores: xr.Dataset, observed: xr.DataArray, max_units: int = 12
) -> Figure:
    """Observed mean count (x) against the per-neuron CNN's prediction (y), per scene and unit.

    Small multiples of the best-ranked units of ``scores`` that are also in ``observed`` (at most
    ``max_units``); the test scenes in :data:`TEST_COLOR`, train and validation scenes in grey,
    a dashed identity line, each panel titled with the unit and its test correlation. Only the
    frames present in both inputs are drawn.
    """
    title = "CNN prediction vs observed response, per scene"
    n = _n_units(scores)
    if n == 0:
        return _no_unit(title, scores)
    if "predicted_rate" not in scores or "per_neuron" not in _models(scores):
        return empty_figure(title, scores, "no CNN prediction (predicted_rate) in the scores")
    scores = scores.sel(model="per_neuron")
    units = scores["unit"].to_numpy()
    present = np.flatnonzero(np.isin(units, observed["unit"].to_numpy()))
    frames = np.intersect1d(scores["frame"].to_numpy(), observed["frame"].to_numpy())
    if present.size == 0 or frames.size == 0:
        return empty_figure(
            title, scores, "no observed response for this area's models (unit or frame)"
        )
    take = present[: max(int(max_units), 0)]
    if take.size == 0:
        return empty_figure(title, scores, "no unit to show (max_units = 0)")
    sub = scores.isel(unit=take).sel(frame=frames)
    predicted = sub["predicted_rate"].transpose("unit", "frame").to_numpy().astype(float)
    seen = (
        observed.sel(unit=sub["unit"].to_numpy(), frame=frames)
        .transpose("unit", "frame")
        .to_numpy()
        .astype(float)
    )
    if "split" in sub.coords:
        test = sub["split"].to_numpy().astype(str) == "test"
    else:
        test = np.zeros(frames.size, bool)
    test_r = (
        sub["test_correlation"].to_numpy().astype(float)
        if "test_correlation" in sub
        else np.full(take.size, np.nan)
    )

    k = take.size
    ncols = min(4, int(np.ceil(np.sqrt(k))))
    nrows = int(np.ceil(k / ncols))
    fig = new_figure()
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[k:]:
        ax.remove()
    for i in range(k):  # one small panel per unit, drawing only
        ax = axes[i]
        ax.scatter(
            seen[i, ~test],
            predicted[i, ~test],
            s=7,
            color=FIT_COLOR,
            linewidths=0,
            alpha=0.8,
            label="train and\nvalidation scenes",
            gid="fit",
        )
        ax.scatter(
            seen[i, test],
            predicted[i, test],
            s=12,
            color=TEST_COLOR,
            edgecolors="k",
            linewidths=0.3,
            zorder=3,
            label="test scenes",
            gid="test",
        )
        values = np.concatenate((seen[i], predicted[i]))
        values = values[np.isfinite(values)]
        high = float(values.max()) if values.size else 1.0
        low = min(0.0, float(values.min())) if values.size else 0.0
        high = high if high > low else low + 1.0
        pad = 0.05 * (high - low)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], gid="identity", **IDENTITY_STYLE)
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
        ax.set_aspect("equal", adjustable="box")
        ax.set_title(f"unit {sub['unit'].to_numpy()[i]}\ntest r={_fmt(test_r[i])}", fontsize=6.5)
        ax.tick_params(labelsize=6)
    fig.supxlabel("observed mean count (spikes per presentation)", fontsize=8)
    fig.supylabel("CNN prediction (spikes per presentation)", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], **IDENTITY_STYLE))
    labels.append("identity")
    fig.legend(
        handles, labels, loc="outside right center", fontsize=7, frameon=False, markerscale=1.5
    )
    note = f"{_shown_note(k, present.size)}; {int(test.sum())} test of {frames.size} scenes"
    fig.suptitle(f"{title}\n{area_title(scores)} — {note}", fontsize=10)
    return fig


# ----------------------------------------------------------------------------- CNN vs linear


def cnn_vs_linear(scores: xr.Dataset) -> Figure:
    """Test correlation of the ridge baseline (x) against each CNN's (y), one point per unit.

    One series per CNN on the scores' ``model`` coordinate (the per-neuron CNNs and, where fit,
    the shared core; :data:`MODEL_COLORS`), a dashed identity line (points above it: the CNN
    predicts better), both axes from min(0, lowest value) to 1, and each model's median in a
    note; units with a NaN correlation are left out of that model's series and counted in the
    subtitle.
    """
    title = "CNNs vs linear (ridge) model, test correlation"
    n = _n_units(scores)
    if n == 0:
        return _no_unit(title, scores)
    models = [m for m in _models(scores) if m != "linear"]
    if "test_correlation" not in scores or "linear" not in _models(scores) or not models:
        return empty_figure(
            title, scores, "no test correlations of a CNN and of the linear model in the scores"
        )
    linear = scores["test_correlation"].sel(model="linear").to_numpy().astype(float)
    series = {}
    for model in models:
        cnn = scores["test_correlation"].sel(model=model).to_numpy().astype(float)
        shown = np.isfinite(cnn) & np.isfinite(linear)
        series[model] = (linear[shown], cnn[shown], int((~shown).sum()))
    if not any(x.size for x, _, _ in series.values()):
        return empty_figure(title, scores, f"every test correlation of the {count_label(n)} is NaN")
    fig = new_figure()
    ax = fig.add_subplot()
    low = min([0.0] + [float(np.min(v)) for x, y, _ in series.values() for v in (x, y) if v.size])
    low = low - 0.03 * (1.0 - low) if low < 0 else 0.0
    lines = []
    for model, (x, y, _) in series.items():
        ax.scatter(
            x,
            y,
            s=22,
            color=MODEL_COLORS[model],
            edgecolors="k",
            linewidths=0.4,
            alpha=0.85,
            zorder=3,
            gid=f"unit:{model}",
            label=MODEL_LABELS[model],
        )
        if x.size:
            lines.append(
                f"{MODEL_LABELS[model]} {np.median(y):.2f} "
                f"(better: {int((y > x).sum())} of {x.size})"
            )
    in_any = np.isfinite(linear) & np.any(
        [np.isfinite(scores["test_correlation"].sel(model=m).to_numpy()) for m in models], axis=0
    )  # each unit once
    lines.append(f"linear {np.median(linear[in_any]):.2f}")
    ax.plot([low, 1.0], [low, 1.0], gid="identity", label="identity", **IDENTITY_STYLE)
    ax.set_xlim(low, 1.0)
    ax.set_ylim(low, 1.0)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("linear model (ridge): test correlation r")
    ax.set_ylabel("CNN: test correlation r")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    ax.text(
        0.97,
        0.03,
        "median r\n" + "\n".join(lines),
        ha="right",
        va="bottom",
        fontsize=7,
        transform=ax.transAxes,
        bbox={"boxstyle": "round", "facecolor": "w", "edgecolor": "0.7", "alpha": 0.9},
        gid="medians",
    )
    note = count_label(n)
    for model, (_, _, left_out) in series.items():
        if left_out:
            note += f"; {MODEL_LABELS[model]}: {count_label(left_out)} with a NaN r left out"
    set_titles(fig, ax, title, scores, note + "; above the dashed line: CNN better")
    return fig


# ----------------------------------------------------------------------- the session's models

#: The tuned cell types in the order they are shown, with their markers and colours (none of
#: them a model's or the test scenes' colour).
TYPE_MARKERS = {"simple": "o", "complex": "s", "center_surround": "D", "conjunction": "^"}
TYPE_COLORS = {
    "simple": "tab:purple",
    "complex": "tab:brown",
    "center_surround": "tab:cyan",
    "conjunction": "tab:pink",
}


def model_comparison(units: pd.DataFrame, session: int) -> Figure:
    """Every encoding model against the truth, per cell type, for a simulated session.

    Left and middle: the median correlation of each model's predictions with the true rates over
    the test scenes and over the held-out images, per tuned cell type (a model whose columns the
    table lacks is left out, e.g. the shared core without ``models.kind: shared_core``). Right:
    every modelled tuned unit's held-out correlation, per-neuron model (x) against shared core
    (y), with the identity line (points above it: the shared core predicts better).

    Args:
        units: the session's ``ground_truth_units.csv`` of every area, concatenated
            (``cell_type`` and the correlation columns).
        session: the session id, for the title.
    """
    title = "Encoding models against the true rates"
    where = xr.Dataset(attrs={"session_id": session, "area": "all areas"})
    tuned = units[units["cell_type"].isin(list(TYPE_MARKERS))] if len(units) else units
    models = [m for m in MODEL_COLORS if f"{m}_heldout_correlation" in units]
    if not len(tuned) or not models:
        return empty_figure(title, where, "no modelled tuned unit with model scores")
    fig = new_figure((16.0, 4.3))
    fig.suptitle(f"{title}, {area_title(where)}", fontsize=11)
    kinds = [k for k in TYPE_MARKERS if (tuned["cell_type"] == k).any()]
    for column, (measure, label) in enumerate(
        (("true_rate", "test scenes"), ("heldout", "held-out images"))
    ):
        ax = fig.add_subplot(1, 3, column + 1)
        for offset, model in enumerate(models):
            medians = [
                tuned.loc[tuned["cell_type"] == k, f"{model}_{measure}_correlation"].median()
                for k in kinds
            ]
            ax.plot(
                np.arange(len(kinds)) + 0.15 * (offset - (len(models) - 1) / 2),
                medians,
                "o",
                color=MODEL_COLORS[model],
                label=model,
                gid=f"{measure}:{model}",
            )
        ax.set_xticks(np.arange(len(kinds)), [k.replace("_", "-") for k in kinds], fontsize=8)
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.0)
        ax.set_ylabel(f"median r with the true rate, {label}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax = fig.add_subplot(1, 3, 3)
    if "shared_core_heldout_correlation" in tuned:
        for kind in kinds:
            of_kind = tuned[tuned["cell_type"] == kind]
            gain = (
                of_kind["shared_core_heldout_correlation"]
                - of_kind["per_neuron_heldout_correlation"]
            ).median()
            ax.scatter(
                of_kind["per_neuron_heldout_correlation"],
                of_kind["shared_core_heldout_correlation"],
                marker=TYPE_MARKERS[kind],
                color=TYPE_COLORS[kind],
                s=20,
                alpha=0.8,
                label=f"{kind.replace('_', '-')}, n = {len(of_kind)} (median gain {_fmt(gain)})",
                gid=f"units:{kind}",
            )
        ax.plot([-0.2, 1.0], [-0.2, 1.0], gid="identity", **IDENTITY_STYLE)
        ax.set_xlabel("per-neuron model: held-out r")
        ax.set_ylabel("shared core: held-out r")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(alpha=0.3)
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no shared core (models.kind)", ha="center", va="center")
    return fig
