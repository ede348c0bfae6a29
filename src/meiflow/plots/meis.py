"""Figures of the report of the MEI stage, for one brain area of one session.

Same conventions as :mod:`meiflow.plots.ranking` (whose helpers are reused): every function takes
the loaded data and returns a :class:`matplotlib.figure.Figure` (Agg canvas, no pyplot); an area
without an MEI gets an empty-state figure that says why, never an exception.

The attributes ``session_id``, ``area`` and, for an empty area, ``empty_reason`` may be set on
the inputs below.

Inputs:
    meis: one area's ``meis.nc``: ``mei`` (unit, init, y, x) in [0, 1], ``response`` (unit, init)
        predicted spikes, ``response_trace`` and ``std_trace`` (unit, init, step), ``best_init``
        (unit) index of the best initialization, ``init_similarity`` (unit).
    gabors: ``gabors.nc``: ``recorded_gabor`` and ``insilico_gabor`` (unit, y, x) in [0, 1] and the
        predicted responses ``response_mei``, ``response_insilico_gabor``,
        ``response_recorded_gabor``, ``response_best_scene`` (unit), spikes.
    metrics: ``metrics.nc``: ``log_power`` (unit, image_kind, fy, fx), ``symmetry_2``,
        ``peak_sf_cpd`` and ``deviation_outside_rf_mask`` (unit, image_kind), ``phase_invariance``,
        the receptive-field mask ``rf_mask_center_y``, ``rf_mask_center_x``, ``rf_mask_radius``
        (px), ``mei_flagged`` and ``mei_flag_reason`` (unit); image_kind in IMAGE_KINDS.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from meiflow.mei.synthesis import at_best_init
from meiflow.plots.base import area_title, empty_figure, new_figure

__all__ = ["mei_comparison", "mei_gallery", "mei_initializations", "mei_responses"]

IMAGE_KINDS = ("mei", "recorded_gabor", "insilico_gabor")
KIND_LABELS = {
    "mei": "MEI",
    "recorded_gabor": "recorded Gabor",
    "insilico_gabor": "in-silico Gabor",
}
IMAGE_STYLE = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0, "interpolation": "nearest"}
RESPONSE_COLOR = "tab:blue"
MASK_COLOR = "tab:cyan"
FLAG_COLOR = "tab:red"
STD_COLOR = "tab:orange"


def _no_mei(title: str, data: xr.Dataset) -> Figure | None:
    """Empty-state figure when ``data`` has no unit, else None."""
    if data.sizes.get("unit", 0):
        return None
    reason = data.attrs.get("empty_reason", "")
    return empty_figure(title, data, "no MEI in this area" + (f":\n{reason}" if reason else ""))


def _budget_label(ds: xr.Dataset) -> str:
    """Which images the MEIs (and their Gabor controls) may be, from the file's attributes.

    ``budget`` = "stimulus budget" with ``budget_mean`` and ``budget_contrast`` (see
    :func:`meiflow.mei.synthesis.budget_attrs`): "on the stimulus budget (mean m, RMS contrast
    <= c)"; "none": "pixels in [0, 1]"; a file without the attribute: "budget unknown".
    """
    kind = ds.attrs.get("budget")
    if kind == "stimulus budget":
        return (
            f"on the stimulus budget (mean {float(ds.attrs['budget_mean']):.3f}, RMS contrast "
            f"<= {float(ds.attrs['budget_contrast']):.3f})"
        )
    return "pixels in [0, 1]" if kind == "none" else "budget unknown"


def _image(ax, image: np.ndarray, title: str) -> None:
    ax.imshow(image, **IMAGE_STYLE)
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def mei_gallery(meis: xr.Dataset, metrics: xr.Dataset, columns: int = 5) -> Figure:
    """Every unit's MEI (best start), best ranked first, with what says how far to trust it.

    Per MEI: its predicted response and the share of its deviation from mean luminance outside
    the model's receptive-field mask (the dashed circle, ``metrics.nc``'s ``rf_mask_*``); a
    flagged MEI (``mei_flagged``) has a red title with the reason.
    """
    title = "Most exciting inputs"
    if (empty := _no_mei(title, meis)) is not None:
        return empty
    images = at_best_init(meis)
    response = at_best_init(meis, "response")
    trust = metrics.sel(unit=meis["unit"])
    n = images.shape[0]
    columns = min(columns, n)
    rows = int(np.ceil(n / columns))
    fig = new_figure((max(2.1 * columns, 9.5), 1.7 * rows + 0.9))  # room for the title
    fig.suptitle(
        f"{title}, {area_title(meis)}, {_budget_label(meis)} (gray scale 0 to 1)\ndashed: the "
        "model's receptive-field mask; out: share of the deviation outside it; red: flagged",
        fontsize=9,
    )
    outside = trust["deviation_outside_rf_mask"].sel(image_kind="mei").to_numpy()
    for k, unit in enumerate(meis["unit"].to_numpy()):
        ax = fig.add_subplot(rows, columns, k + 1)
        label = f"unit {unit}\nresponse {response[k]:.2f}, out {outside[k]:.2f}"
        flagged = bool(trust["mei_flagged"][k])
        if flagged:
            label += "\n" + str(trust["mei_flag_reason"].to_numpy()[k]).replace("; ", "\n")
        _image(ax, images[k], label)
        if flagged:
            ax.title.set_color(FLAG_COLOR)
        ax.add_patch(
            Circle(
                (float(trust["rf_mask_center_x"][k]), float(trust["rf_mask_center_y"][k])),
                float(trust["rf_mask_radius"][k]),
                fill=False,
                linestyle="--",
                linewidth=0.8,
                edgecolor=MASK_COLOR,
            )
        )
    return fig


def mei_initializations(meis: xr.Dataset, max_units: int = 12) -> Figure:
    """The MEIs of every initialization (columns) of the best-ranked units (rows).

    The robustness check of the notebook; the row title gives the mean pairwise correlation across
    starts.
    """
    title = "MEIs from every initialization"
    if (empty := _no_mei(title, meis)) is not None:
        return empty
    units = meis["unit"].to_numpy()[:max_units]
    inits = [str(i) for i in meis["init"].to_numpy()]
    similarity = meis["init_similarity"].to_numpy()
    fig = new_figure((1.6 * len(inits) + 0.4, 1.3 * len(units) + 0.8))
    fig.suptitle(
        f"{title}, {area_title(meis)}\nrow: unit, mean pairwise r across starts; cell: predicted "
        "response",
        fontsize=9,
    )
    for row, unit in enumerate(units):
        for col, init in enumerate(inits):
            ax = fig.add_subplot(len(units), len(inits), row * len(inits) + col + 1)
            response = float(meis["response"][row, col])
            label = f"{init}: {response:.2f}"
            if col == 0:
                label = f"unit {unit}, r {similarity[row]:.2f}\n{label}"
            _image(ax, meis["mei"].to_numpy()[row, col], label)
    return fig


def mei_comparison(
    meis: xr.Dataset, gabors: xr.Dataset, metrics: xr.Dataset, max_units: int = 12
) -> Figure:
    """Per unit (rows): the MEI against its Gabor controls.

    Per unit (rows): MEI, recorded and in-silico best Gabor, their log power spectra, and the
    predicted response and image std over the MEI's optimization steps.
    """
    title = "MEI against Gabors"
    if (empty := _no_mei(title, meis)) is not None:
        return empty
    units = meis["unit"].to_numpy()[:max_units]
    response_trace = at_best_init(meis, "response_trace")
    std_trace = at_best_init(meis, "std_trace")
    images = {
        "mei": at_best_init(meis),
        "recorded_gabor": gabors["recorded_gabor"].sel(unit=meis["unit"]).to_numpy(),
        "insilico_gabor": gabors["insilico_gabor"].sel(unit=meis["unit"]).to_numpy(),
    }
    responses = {
        "mei": gabors["response_mei"].to_numpy(),
        "recorded_gabor": gabors["response_recorded_gabor"].to_numpy(),
        "insilico_gabor": gabors["response_insilico_gabor"].to_numpy(),
    }
    power = metrics["log_power"].sel(unit=meis["unit"])
    fy, fx = metrics["fy"].to_numpy(), metrics["fx"].to_numpy()
    extent = (fx[0], fx[-1], fy[-1], fy[0])
    n_cols = 2 * len(IMAGE_KINDS) + 1
    fig = new_figure((1.75 * n_cols, 1.35 * len(units) + 0.9))
    fig.suptitle(
        f"{title}, {area_title(meis)}, every image {_budget_label(meis)}\nimages (title: "
        "predicted response, spikes); log power "
        "log(1 + |FFT|^2), cycles/pixel; optimization traces",
        fontsize=9,
    )
    for row, unit in enumerate(units):
        for col, kind in enumerate(IMAGE_KINDS):
            ax = fig.add_subplot(len(units), n_cols, row * n_cols + col + 1)
            label = f"{KIND_LABELS[kind]}: {responses[kind][row]:.2f}"
            _image(ax, images[kind][row], f"unit {unit}\n{label}" if col == 0 else label)
            ax = fig.add_subplot(len(units), n_cols, row * n_cols + len(IMAGE_KINDS) + col + 1)
            ax.imshow(power.sel(image_kind=kind).to_numpy()[row], cmap="magma", extent=extent)
            ax.set_title(f"log power, {KIND_LABELS[kind]}", fontsize=7)
            ax.tick_params(labelsize=5)
        ax = fig.add_subplot(len(units), n_cols, (row + 1) * n_cols)
        ax.plot(response_trace[row], color=RESPONSE_COLOR, lw=1)
        ax.set_title("response (blue), std (orange)", fontsize=7)
        ax.tick_params(labelsize=5)
        twin = ax.twinx()
        twin.plot(std_trace[row], color=STD_COLOR, lw=1)
        twin.tick_params(labelsize=5)
    return fig


def mei_responses(gabors: xr.Dataset) -> Figure:
    """Predicted response to the MEI against those to its controls, one dot per unit.

    The controls are the in-silico best Gabor, the recorded best Gabor and the best natural scene;
    above the diagonal the MEI wins.
    """
    title = "Predicted responses: MEI against controls"
    if (empty := _no_mei(title, gabors)) is not None:
        return empty
    fig = new_figure()
    fig.suptitle(title, fontsize=11)
    ax = fig.add_subplot()
    mei = gabors["response_mei"].to_numpy()
    top = float(np.nanmax(mei))
    for name, label, color in (
        ("response_insilico_gabor", "in-silico best Gabor", "tab:green"),
        ("response_recorded_gabor", "recorded best Gabor", "tab:purple"),
        ("response_best_scene", "best natural scene", "tab:gray"),
    ):
        other = gabors[name].to_numpy()
        wins = int(np.sum(mei > other))
        ax.scatter(other, mei, s=18, color=color, label=f"{label} (MEI higher: {wins}/{mei.size})")
        top = max(top, float(np.nanmax(other)))
    ax.plot([0, top], [0, top], color="k", lw=0.9, ls="--", alpha=0.7)
    ax.set_xlabel("predicted response to the control (spikes)")
    ax.set_ylabel("predicted response to the MEI (spikes)")
    ax.set_title(f"{area_title(gabors)}\none dot per unit and control", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return fig
