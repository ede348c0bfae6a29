"""Figures of the report of the neuron-ranking stage, for one brain area of one session.

Every function takes the datasets the workflow writes (already loaded) and returns a
:class:`matplotlib.figure.Figure` built directly (no pyplot global state, Agg canvas), sized for a
report (6 x 4.5 inches, 150 dpi); :func:`meiflow.plots.base.save_figure` writes one as PNG. An area
whose data cannot make the figure (no valid unit, a single unit for a correlation matrix, ...) gets
an empty-state figure that says why, never an exception.

Inputs:
    ranking: one area's ranking table (``results/{session}/{area}/ranking.nc``), dim ``unit`` sorted
        best first, with ``rank``, ``oracle``, ``response_variance``, ``entropy``, ``anomaly``,
        ``selected``, ``reason``, ``rf_map`` (unit, rf_y, rf_x), ``rf_center_x``, ``rf_center_y``,
        ``rf_p_value``, ``rf_significant`` and the attributes ``session_id`` and ``area``.
    psth: the session's PSTHs, ``psth_smoothed`` (unit, time) in Hz, attribute ``latency_s``.
    raster: the session's binned activity, ``activity`` (unit, time) over the natural-scene blocks,
        ``block`` on ``time``.
    counts: the session's natural-scene count table, ``spike_counts`` (presentation, unit) and
        ``frame`` on ``presentation`` (-1 = blank).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure

from meiflow.ingest.psth import smooth
from meiflow.ingest.scene_images import BLANK_FRAME
from meiflow.plots.base import (
    FIGSIZE,
    area_title,
    count_label,
    empty_figure,
    new_figure,
    set_titles,
)
from meiflow.ranking.reliability import response_correlations
from meiflow.ranking.selection import invalid_summary
from meiflow.stats import zscore_rows

__all__ = [
    "correlation_matrix",
    "entropy_vs_variance",
    "oracle_vs_variance",
    "population_raster",
    "psth_selected",
    "receptive_field_maps",
]

#: Colours with a meaning, the same in every figure.
SELECTED_COLOR = "tab:orange"
UNSELECTED_COLOR = "0.6"
ANOMALY_COLOR = "tab:red"
TYPICAL_COLOR = "tab:blue"
#: Variance axes switch to a log scale when the positive values span more than this ratio.
LOG_SPAN = 100.0
#: The most columns of the population raster image (time bins are averaged down to it).
RASTER_COLUMNS = 2000


# ----------------------------------------------------------------------------------- helpers


def _values(ranking: xr.Dataset, name: str, dtype=float) -> np.ndarray:
    return ranking[name].to_numpy().astype(dtype)


def _valid(ranking: xr.Dataset) -> np.ndarray:
    """Units with a valid response: empty ``reason`` and a finite oracle."""
    valid = np.isfinite(_values(ranking, "oracle"))
    if "reason" in ranking:
        valid &= _values(ranking, "reason", str) == ""
    return valid


def _why_invalid(ranking: xr.Dataset) -> str:
    """The invalid units' reasons counted, on a line of their own ("" without any)."""
    summary = invalid_summary(_values(ranking, "reason", str)) if "reason" in ranking else ""
    return f"\n({summary})" if summary else ""


def _rank_order(ranking: xr.Dataset) -> np.ndarray:
    """Indices of the ranking's units, best rank first."""
    return np.argsort(_values(ranking, "rank", np.int64), kind="stable")


def _variance_axis(ax, values: np.ndarray) -> str:
    """Log (or symlog if zeros) y scale when the positive ``values`` span > 2 decades."""
    positive = values[values > 0]
    if positive.size == 0 or positive.max() / positive.min() <= LOG_SPAN:
        return "linear"
    if (values <= 0).any():
        ax.set_yscale("symlog", linthresh=float(positive.min()))
        return "symlog"
    ax.set_yscale("log")
    return "log"


def _excluded_note(n_shown: int, n_hidden: int) -> str:
    note = f"{count_label(n_shown, 'valid unit')} shown"
    if n_hidden:
        note += f"; {count_label(n_hidden, 'invalid unit')} (NaN scores) left out"
    return note


def _rank_ticks(ranks: np.ndarray, max_ticks: int = 15) -> tuple[np.ndarray, list[str]]:
    """Positions and rank labels of at most ``max_ticks`` ticks along a rank-ordered axis."""
    step = max(1, int(np.ceil(ranks.size / max_ticks)))
    positions = np.arange(0, ranks.size, step)
    return positions, [str(r) for r in ranks[positions]]


# ------------------------------------------------------------------------------ scatter plots


def oracle_vs_variance(ranking: xr.Dataset) -> Figure:
    """Oracle correlation (x) against the variance of the per-image means (y).

    Selected units are drawn on top in :data:`SELECTED_COLOR` (legend ``selected (n)``), the
    others in grey; units with a NaN oracle or variance (invalid) are left out and counted in the
    subtitle. The y axis is logarithmic when the variances span more than two decades.
    """
    title = "Oracle correlation vs response variance"
    oracle = _values(ranking, "oracle")
    variance = _values(ranking, "response_variance")
    selected = _values(ranking, "selected", bool)
    shown = np.isfinite(oracle) & np.isfinite(variance)
    if not shown.any():
        return empty_figure(
            title,
            ranking,
            f"no valid unit among the {oracle.size} of this area:\nevery oracle or variance is NaN"
            + _why_invalid(ranking),
        )
    fig = new_figure()
    ax = fig.add_subplot()
    rest, chosen = shown & ~selected, shown & selected
    ax.scatter(
        oracle[rest],
        variance[rest],
        s=16,
        color=UNSELECTED_COLOR,
        alpha=0.8,
        linewidths=0,
        label=f"not selected ({rest.sum()})",
        gid="not_selected",
    )
    ax.scatter(
        oracle[chosen],
        variance[chosen],
        s=26,
        color=SELECTED_COLOR,
        edgecolors="k",
        linewidths=0.5,
        zorder=3,
        label=f"selected ({chosen.sum()})",
        gid="selected",
    )
    scale = _variance_axis(ax, variance[shown])
    ax.set_xlabel("oracle correlation (jackknife, r)")
    ax.set_ylabel(
        "variance of per-image mean counts (spikes²)" + (", log scale" if scale != "linear" else "")
    )
    set_titles(fig, ax, title, ranking, _excluded_note(int(shown.sum()), int((~shown).sum())))
    ax.grid(alpha=0.3)
    ax.legend(
        loc="best",
        fontsize=9,
        framealpha=0.9,
        title=None if chosen.any() else "no unit selected",
        title_fontsize=9,
    )
    return fig


def entropy_vs_variance(ranking: xr.Dataset) -> Figure:
    """Entropy of the per-image means (x) against their variance (y), coloured by anomaly flag.

    Units flagged by the isolation forest are red (``anomalous (isolation forest)``), the others
    blue (``typical``); units with NaN entropy or variance are left out and counted. With fewer
    than two valid units there is no anomaly score, and the subtitle says so.
    """
    title = "Response entropy vs variance, by anomaly flag"
    entropy = _values(ranking, "entropy")
    variance = _values(ranking, "response_variance")
    anomalous = _values(ranking, "anomaly", np.int64) == 1
    shown = np.isfinite(entropy) & np.isfinite(variance)
    if not shown.any():
        return empty_figure(
            title,
            ranking,
            f"no valid unit among the {entropy.size} of this area:\n"
            "every entropy or variance is NaN" + _why_invalid(ranking),
        )
    fig = new_figure()
    ax = fig.add_subplot()
    typical, odd = shown & ~anomalous, shown & anomalous
    ax.scatter(
        entropy[typical],
        variance[typical],
        s=16,
        color=TYPICAL_COLOR,
        alpha=0.7,
        linewidths=0,
        label="typical",
        gid="typical",
    )
    ax.scatter(
        entropy[odd],
        variance[odd],
        s=26,
        color=ANOMALY_COLOR,
        marker="D",
        edgecolors="k",
        linewidths=0.5,
        zorder=3,
        label="anomalous (isolation forest)",
        gid="anomalous",
    )
    scale = _variance_axis(ax, variance[shown])
    ax.set_xlabel("entropy of per-image mean counts (bits)")
    ax.set_ylabel(
        "variance of per-image mean counts (spikes²)" + (", log scale" if scale != "linear" else "")
    )
    note = _excluded_note(int(shown.sum()), int((~shown).sum()))
    flagged = f"{odd.sum()} anomalous"
    if "anomaly_score" in ranking and not np.isfinite(_values(ranking, "anomaly_score")).any():
        flagged = "no anomaly score (the isolation forest needs 2 valid units)"
    set_titles(fig, ax, title, ranking, f"{note}; {flagged}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9, framealpha=0.9)
    return fig


# ----------------------------------------------------------------------- correlation matrix


def area_correlations(counts: xr.Dataset, units: np.ndarray) -> np.ndarray:
    """Correlations of the per-image mean responses of ``units`` (blank left out), in order."""
    frames = counts["frame"].to_numpy().astype(np.int64)
    images = frames != BLANK_FRAME
    c = counts["spike_counts"].sel(unit=units).transpose("presentation", "unit").to_numpy()
    return response_correlations(c[images], frames[images])


def correlation_matrix(counts: xr.Dataset, ranking: xr.Dataset) -> Figure:
    """Pearson correlations between the per-image mean responses of the area's valid units.

    Rows and columns follow the rank (best top-left) and are labelled by rank; the colormap is
    diverging, centred at 0, symmetric up to the largest off-diagonal |r| (the diagonal, 1,
    saturates when that is below 1).
    """
    title = "Correlation of per-image mean responses"
    order = _rank_order(ranking)
    valid = _valid(ranking)[order]
    units = ranking["unit"].to_numpy()[order][valid]
    ranks = _values(ranking, "rank", np.int64)[order][valid]
    present = np.isin(units, counts["unit"].to_numpy())
    units, ranks = units[present], ranks[present]
    if units.size < 2:
        return empty_figure(
            title,
            ranking,
            f"{count_label(units.size, 'valid unit')} in this area:"
            "\na correlation matrix needs at least 2",
        )
    r = area_correlations(counts, units)
    off = np.abs(r[~np.eye(r.shape[0], dtype=bool)])
    off = off[np.isfinite(off)]
    limit = float(np.clip(off.max(), 0.05, 1.0)) if off.size else 1.0
    fig = new_figure()
    ax = fig.add_subplot()
    image = ax.imshow(r, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    image.cmap.set_bad("0.85")
    fig.colorbar(image, ax=ax, label="Pearson r", extend="max" if limit < 1 else "neither")
    positions, labels = _rank_ticks(ranks)
    ax.set_xticks(positions, labels, rotation=90 if len(labels) > 8 else 0, fontsize=8)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xlabel("unit (rank)")
    ax.set_ylabel("unit (rank)")
    set_titles(
        fig, ax, title, ranking, f"{count_label(units.size, 'valid unit')}, best rank top left"
    )
    return fig


# ------------------------------------------------------------------------------------- PSTH


def psth_selected(psth: xr.Dataset, ranking: xr.Dataset, max_units: int = 20) -> Figure:
    """Smoothed PSTHs of the selected units and the mean PSTH of the area.

    One thin line per selected unit, coloured by rank (colorbar), at most ``max_units`` of
    them, best ranked first (the others are counted in the subtitle); a thick black line for
    the mean over all the area's units in ``psth`` (selected or not); a grey line at the
    onset and a dashed one at the session's response latency ``psth.attrs['latency_s']`` when it
    is finite. Without a selected unit, the area mean is drawn alone, with a note. When ``psth``
    holds the stimulus-locked ``signal`` (how much the rate depends on the scene shown, on which
    the latency is measured), a lower panel shows its area mean, smoothed like the PSTHs: the
    PSTH itself can stay flat when scenes follow each other without onset transients.
    """
    title = "Smoothed PSTHs: selected units and area mean"
    order = _rank_order(ranking)
    units = ranking["unit"].to_numpy()[order]
    ranks = _values(ranking, "rank", np.int64)[order]
    selected = _values(ranking, "selected", bool)[order]
    in_psth = np.isin(units, psth["unit"].to_numpy())
    if not in_psth.any():
        return empty_figure(title, ranking, "none of this area's units is in the PSTH table")
    chosen = selected & in_psth
    n_chosen = int(chosen.sum())
    shown = np.flatnonzero(chosen)[:max_units]
    time = psth["time"].to_numpy().astype(float)
    rates = psth["psth_smoothed"].sel(unit=units[in_psth]).transpose("unit", "time").to_numpy()
    area_mean = rates.mean(axis=0)
    shown_rates = psth["psth_smoothed"].sel(unit=units[shown]).transpose("unit", "time").to_numpy()

    with_signal = "signal" in psth
    fig = new_figure((6.0, 6.5) if with_signal else FIGSIZE)
    if with_signal:
        ax, ax_signal = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    else:
        ax = fig.add_subplot()
    # viridis without its pale yellow end, which vanishes on white
    cmap = ListedColormap(colormaps["viridis"](np.linspace(0.0, 0.85, 256)))
    if shown.size:
        first, last = ranks[shown].min(), ranks[shown].max()
        norm = Normalize(vmin=first, vmax=max(last, first + 1))
    else:
        norm = Normalize(0, 1)
    for i, row in enumerate(shown_rates):  # one line per unit, drawing only
        label = (
            f"selected unit, rank {ranks[shown[i]]}"
            if shown.size == 1
            else (f"selected units ({shown.size})" if i == 0 else None)
        )
        ax.plot(
            time,
            row,
            lw=0.9,
            alpha=0.85,
            color=cmap(norm(ranks[shown[i]])),
            label=label,
            gid="unit",
        )
    ax.plot(
        time,
        area_mean,
        lw=2.8,
        color="k",
        label=f"mean of all {count_label(int(in_psth.sum()))} of the area",
        gid="mean",
        zorder=4,
    )
    ax.axvline(0.0, color="0.4", lw=1.2, label="image onset", gid="onset")
    latency = float(psth.attrs.get("latency_s", np.nan))
    if np.isfinite(latency):
        ax.axvline(
            latency,
            color="tab:red",
            lw=1.2,
            ls="--",
            label=f"latency {latency * 1e3:.0f} ms (session)",
            gid="latency",
        )
    if shown.size > 1:
        colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01)
        colorbar.set_label("rank of the selected unit")
        colorbar.ax.invert_yaxis()
    if time.size > 1:
        ax.set_xlim(time.min(), time.max())
    ax.set_ylabel("firing rate, smoothed (Hz)")
    if with_signal:
        signal = psth["signal"].sel(unit=units[in_psth]).mean("unit").to_numpy()
        sd_s = float(psth.attrs.get("smoothing_sd_s", 0.01))
        ax_signal.plot(time, smooth(signal, psth.attrs["bin_s"], sd_s), color="k", gid="signal")
        ax_signal.axhline(0.0, color="0.6", lw=0.8)
        ax_signal.axvline(0.0, color="0.4", lw=1.2)
        if np.isfinite(latency):
            ax_signal.axvline(latency, color="tab:red", lw=1.2, ls="--")
        ax_signal.set_ylabel("scene dependence\n(Hz², area mean)")
        ax_signal.grid(alpha=0.3)
    (ax_signal if with_signal else ax).set_xlabel("time from image onset (s)")
    if n_chosen == 0:
        note = "no unit selected in this area: area mean only"
    elif n_chosen > shown.size:
        note = f"best {shown.size} of {n_chosen} selected units shown"
    else:
        note = count_label(n_chosen, "selected unit")
    set_titles(fig, ax, title, ranking, note)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


# ----------------------------------------------------------------------------------- raster


def _rastermap_order(z: np.ndarray) -> np.ndarray | None:
    """Row order of the Rastermap embedding of ``z`` (units, time), or None.

    ``rastermap`` is optional (not a dependency of meiflow): None when it is not importable,
    when there are too few units for an embedding, or when it fails on the data.
    """
    if z.shape[0] < 3 or z.shape[1] < 3:
        return None
    try:
        from rastermap import Rastermap
    except ImportError:
        return None
    n_units = z.shape[0]
    try:
        model = Rastermap(
            n_clusters=100 if n_units >= 200 else None,
            n_PCs=int(min(128, n_units - 1, z.shape[1] - 1)),
            locality=0.5,
            time_lag_window=5,
            grid_upsample=10 if n_units >= 200 else 0,
        ).fit(z)
        isort = np.asarray(getattr(model, "isort", getattr(model, "isort1", None)), dtype=int)
    except Exception:  # an optional nicety must not break the report
        return None
    return isort if np.array_equal(np.sort(isort), np.arange(n_units)) else None


def _downsample(z: np.ndarray, max_columns: int) -> tuple[np.ndarray, int]:
    """Average ``z`` over runs of ``factor`` consecutive columns (the trailing rest dropped)."""
    factor = max(1, int(np.ceil(z.shape[1] / max_columns)))
    if factor == 1:
        return z, 1
    n = z.shape[1] // factor
    return z[:, : n * factor].reshape(z.shape[0], n, factor).mean(axis=2), factor


def population_raster(
    raster: xr.Dataset,
    ranking: xr.Dataset,
    order: Sequence[int] | np.ndarray | None = None,
    max_columns: int = RASTER_COLUMNS,
) -> Figure:
    """Z-scored activity of the area's units over the natural-scene blocks, as an image.

    Each unit's counts are z-scored over time (a constant unit is 0). Rows, top to bottom:

    - ``order`` when given: unit ids, top row first (ids not of this area, or not in the raster,
      are ignored);
    - otherwise the Rastermap embedding when the optional package ``rastermap`` is importable
      (it is not a meiflow dependency; any failure of it falls back to the next rule);
    - otherwise the oracle, best on top, invalid units (NaN oracle) at the bottom in rank order.

    The blocks are joined end to end (the gaps between them left out, dashed lines at the
    joins), so the x axis is the time spent in natural-scene blocks. More than ``max_columns``
    bins are averaged down to at most that many columns (said on the colorbar).
    """
    title = "Population activity over the natural-scene blocks"
    units = ranking["unit"].to_numpy()
    oracle = _values(ranking, "oracle")
    ranks = _values(ranking, "rank", np.int64)
    keep = np.isin(units, raster["unit"].to_numpy())
    units, oracle, ranks = units[keep], oracle[keep], ranks[keep]
    n_time = raster.sizes["time"]
    if units.size == 0 or n_time == 0:
        return empty_figure(title, ranking, "no activity of this area's units in the raster")
    # oracle order: best first, NaN last, ties by rank
    by_oracle = np.lexsort((ranks, np.where(np.isfinite(oracle), -oracle, np.inf)))
    units, oracle, ranks = units[by_oracle], oracle[by_oracle], ranks[by_oracle]
    activity = raster["activity"].sel(unit=units).transpose("unit", "time").to_numpy()
    z = zscore_rows(activity)
    if order is not None:
        wanted = np.asarray(order).ravel()
        wanted = wanted[np.isin(wanted, units)]
        _, first = np.unique(wanted, return_index=True)  # drop repeats, keep the given order
        wanted = wanted[np.sort(first)]
        sorter = np.argsort(units)
        rows = sorter[np.searchsorted(units, wanted, sorter=sorter)]
        how = "caller's order"
    else:
        rows = _rastermap_order(z)
        how = "Rastermap embedding" if rows is not None else "oracle, best on top"
        if rows is None:
            rows = np.arange(units.size)
    if rows.size == 0:
        return empty_figure(title, ranking, "none of the units of the given order is in this area")
    z, units, oracle, ranks = z[rows], units[rows], oracle[rows], ranks[rows]
    image, factor = _downsample(z, max_columns)

    time = raster["time"].to_numpy().astype(float)
    bin_s = float(raster.attrs.get("bin_s", np.median(np.diff(time)) if time.size > 1 else 0.1))
    blocks = raster["block"].to_numpy() if "block" in raster.coords else np.zeros(n_time)
    joins = np.flatnonzero(blocks[1:] != blocks[:-1]) + 1
    duration = image.shape[1] * factor * bin_s

    fig = new_figure()
    ax = fig.add_subplot()
    vmax = float(np.percentile(image, 99)) if image.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    shown = ax.imshow(
        image,
        cmap="gray_r",
        vmin=0.0,
        vmax=vmax,
        aspect="auto",
        interpolation="antialiased",
        extent=(0.0, duration, units.size - 0.5, -0.5),
    )
    for join in joins * bin_s:
        ax.axvline(join, color="tab:blue", lw=0.8, ls="--", gid="block_join")
    per = f", mean of {factor * bin_s:g} s per column" if factor > 1 else ""
    fig.colorbar(shown, ax=ax, extend="both", pad=0.01).set_label(f"z-score{per}")
    positions, labels = _rank_ticks(ranks, max_ticks=12)
    ax.set_yticks(positions, labels, fontsize=8)
    invalid = ~np.isfinite(oracle)
    if order is None and how.startswith("oracle") and invalid.any() and (~invalid).any():
        boundary = int((~invalid).sum()) - 0.5
        ax.axhline(boundary, color="tab:red", lw=1.0, gid="invalid_boundary")
        ax.text(
            0.99,
            boundary,
            "invalid units below",
            color="tab:red",
            fontsize=8,
            ha="right",
            va="top",
            transform=ax.get_yaxis_transform(),
        )
    ax.set_ylabel(f"unit rank (rows by {how})")
    n_blocks = joins.size + 1
    ax.set_xlabel(
        f"time in natural-scene blocks (s; {n_blocks} block{'s' * (n_blocks > 1)}"
        + (", joined at dashed lines)" if n_blocks > 1 else ")")
    )
    set_titles(
        fig, ax, title, ranking, f"{count_label(units.size)}, {bin_s:g} s bins, z-scored per unit"
    )
    return fig


# --------------------------------------------------------------------------- receptive fields


def _cell_edges(coord: np.ndarray) -> np.ndarray:
    """(n + 1,) edges of the cells of an ascending coordinate: halfway between neighbours.

    The outer edges lie half the neighbouring spacing out (half of 1 for a single value).
    """
    if coord.size == 1:
        return np.array([coord[0] - 0.5, coord[0] + 0.5])
    middle = (coord[1:] + coord[:-1]) / 2
    return np.concatenate(
        [[coord[0] - (coord[1] - coord[0]) / 2], middle, [coord[-1] + (coord[-1] - coord[-2]) / 2]]
    )


def _evenly_spaced(coord: np.ndarray) -> bool:
    """Whether an ascending coordinate has one spacing (to 1e-6 of it)."""
    steps = np.diff(coord)
    return bool(np.allclose(steps, steps[0], rtol=1e-6, atol=0.0)) if steps.size else True


def receptive_field_maps(ranking: xr.Dataset, n: int = 12) -> Figure:
    """Gabor receptive-field maps of the ``n`` best-ranked units, as small multiples.

    Each map is scaled to its own range (0 = the unit's lowest mean count, 1 = its highest; a
    flat map is 0, an all-NaN map grey), drawn in degrees with y up; a red cross marks the fitted
    centre of significant receptive fields. A position without presentations is grey; on an
    irregular grid (a position off the Allen grid) each cell reaches halfway to its neighbours.
    """
    title = "Receptive fields (gabor mapping)"
    if "rf_map" not in ranking:
        return empty_figure(title, ranking, "no receptive-field maps in the ranking table")
    take = _rank_order(ranking)[: max(int(n), 0)]
    if take.size == 0:
        return empty_figure(title, ranking, "no unit to show")
    maps = ranking["rf_map"].transpose("unit", "rf_y", "rf_x").to_numpy().astype(float)[take]
    finite = np.isfinite(maps)
    low = np.where(finite, maps, np.inf).min(axis=(1, 2))[:, None, None]
    high = np.where(finite, maps, -np.inf).max(axis=(1, 2))[:, None, None]
    spread = high - low
    with np.errstate(invalid="ignore"):
        scaled = np.divide(
            maps - low,
            spread,
            out=np.where(finite, 0.0, np.nan),
            where=np.isfinite(spread) & (spread > 0),
        )
    ranks = _values(ranking, "rank", np.int64)[take]
    p = _values(ranking, "rf_p_value")[take]
    significant = _values(ranking, "rf_significant", bool)[take]
    cx = _values(ranking, "rf_center_x")[take]
    cy = _values(ranking, "rf_center_y")[take]
    rf_x, rf_y = (ranking[c].to_numpy().astype(float) for c in ("rf_x", "rf_y"))
    x_edges, y_edges = _cell_edges(rf_x), _cell_edges(rf_y)
    regular = _evenly_spaced(rf_x) and _evenly_spaced(rf_y)

    k = take.size
    ncols = min(4, k)
    nrows = int(np.ceil(k / ncols))
    fig = new_figure()
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for i in range(k, axes.size):  # empty grid slots: x tick labels on the panel above
        axes[i - ncols].xaxis.set_tick_params(labelbottom=True)
        axes[i].remove()
    image = None
    for i in range(k):  # one small panel per unit, drawing only
        ax = axes[i]
        if regular:
            image = ax.imshow(
                scaled[i],
                origin="lower",
                extent=(x_edges[0], x_edges[-1], y_edges[0], y_edges[-1]),
                cmap="viridis",
                vmin=0.0,
                vmax=1.0,
                interpolation="nearest",
            )
        else:
            image = ax.pcolormesh(x_edges, y_edges, scaled[i], cmap="viridis", vmin=0.0, vmax=1.0)
        image.cmap.set_bad("0.85")
        if significant[i] and np.isfinite(cx[i]) and np.isfinite(cy[i]):
            ax.plot(cx[i], cy[i], marker="+", ms=9, mew=2.0, color="tab:red", gid="centre")
        p_text = "n/a" if not np.isfinite(p[i]) else f"{p[i]:.2g}"
        ax.set_title(f"rank {ranks[i]}, p={p_text}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.colorbar(image, ax=list(axes[:k]), shrink=0.8, pad=0.02).set_label(
        "mean count, per-unit scale\n(0 = unit's min, 1 = unit's max)", fontsize=8
    )
    fig.supxlabel("x (deg)", fontsize=9)
    fig.supylabel("y (deg)", fontsize=9)
    n_sig = int(significant.sum())
    best = "best-ranked unit" if k == 1 else f"{k} best-ranked units"
    fig.suptitle(
        f"{title}: {best}\n{area_title(ranking)} — {n_sig} of {k} significant (+ = fitted centre)",
        fontsize=10,
    )
    return fig


# ------------------------------------------------------------------------------------- save
