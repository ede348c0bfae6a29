"""Ranking of an area's units by reliability, and the notebook's selection rule.

Assembles the per-unit scores of :mod:`meiflow.ranking.reliability`, the receptive fields of
:mod:`meiflow.ranking.receptive_fields` and the anomaly flags of :mod:`meiflow.ranking.anomaly` into
the table written as ``results/{session}/{area}/ranking.nc`` and ``ranking.csv``, sorted best first.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pandas as pd
import xarray as xr

from meiflow.ingest.counts import valid_subsets
from meiflow.ingest.scene_images import BLANK_FRAME
from meiflow.ranking.anomaly import anomaly_scores
from meiflow.ranking.receptive_fields import receptive_field_table
from meiflow.ranking.reliability import (
    fev,
    image_means,
    invalid_reason,
    max_mean_correlation,
    oracle_correlation,
    oracle_notebook,
    response_entropy,
    response_variance,
    select_units,
)
from meiflow.ranking.settings import RankingSettings
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry

log = logging.getLogger(__name__)

#: Scores set to NaN for units with an invalid response (see ``reason``).
SCORES = (
    "oracle",
    "oracle_notebook",
    "fev",
    "response_variance",
    "entropy",
    "max_correlation",
)
#: Long names and units of the ranking table's columns.
DESCRIPTIONS = {
    "oracle": ("jackknife (leave-one-out) oracle correlation over all scene trials", "1"),
    "oracle_notebook": (
        "randomized oracle of the notebook: one trial per image vs the mean of "
        "the others, times the fraction of images used, mean over passes",
        "1",
    ),
    "fev": ("fraction of explainable variance", "1"),
    "response_variance": ("variance across images of the per-image mean counts", "spikes2"),
    "mean_rate": ("mean firing rate in the counting window over all scene trials", "Hz"),
    "entropy": ("Shannon entropy of the histogram of per-image mean counts", "bit"),
    "max_correlation": (
        "highest correlation of per-image means with another unit of the area",
        "1",
    ),
    "max_correlation_unit": ("the unit of max_correlation (-1: none)", "1"),
    "anomaly_score": (
        "isolation-forest anomaly score of the per-image means (higher: more anomalous)",
        "1",
    ),
    "anomaly": ("1 if the isolation forest flags the unit as anomalous", "1"),
    "rank": ("rank by oracle, 1 = most reliable; invalid units last", "1"),
    "selected": ("1 if the unit passes the selection rule", "1"),
    "reason": ("why the unit's scores are NaN (empty: valid)", ""),
}


#: The start of the ``empty_reason`` of the model, MEI and metric files of an area that selected
#: no unit (:func:`empty_area_reason`).
NOTHING_SELECTED = "no unit of the area passed the selection rule"


class RankingError(ValueError):
    """The counts cannot be ranked as asked (no units in the area, ...)."""


def area_units(counts: xr.Dataset, area: str) -> xr.Dataset:
    """The units of ``area`` in a count table; a :class:`RankingError` naming the areas present."""
    mask = counts["area"].to_numpy() == area
    if not mask.any():
        present = sorted(set(counts["area"].to_numpy().tolist()))
        raise RankingError(f"no units of area {area!r} in this session (areas present: {present})")
    return counts.isel(unit=np.flatnonzero(mask))


def unit_scores(counts: xr.Dataset, settings: RankingSettings) -> pd.DataFrame:
    """Reliability and descriptive scores of every unit of a natural-scene count table.

    Args:
        counts: ``spike_counts`` (presentation, unit) with a ``frame`` coordinate (-1 = blank) and
            the counting window in its attributes.
        settings: ``include_blank``, ``min_spikes``, ``notebook_passes``, ``entropy_bins``,
            ``anomaly_estimators`` and ``seed`` are used.

    Returns:
        DataFrame indexed by unit id (table order) with the columns of :data:`DESCRIPTIONS` except
        ``rank`` and ``selected``. Each unit's scores leave out its invalid trials (the count
        table's ``valid``; see :func:`meiflow.ingest.counts.valid_subsets`).
    """
    window_s = counts.attrs["counting_window_stop_s"] - counts.attrs["counting_window_start_s"]
    parts = [_unit_scores(part, settings, window_s) for _, part in valid_subsets(counts)]
    unit_ids = counts["unit"].to_numpy()
    table = pd.concat([p for p, _ in parts]).loc[unit_ids]
    # in C order, as image_means gives them, so that the standardization and the products in
    # max_mean_correlation sum in the same order as on image_means' own array
    means = pd.concat([m for _, m in parts], axis=1).sort_index()[unit_ids].to_numpy()
    means = np.ascontiguousarray(means)
    valid = (table["reason"] == "").to_numpy()
    partner_r, partner = max_mean_correlation(np.ascontiguousarray(means[:, valid]))
    table.insert(6, "max_correlation", np.nan)
    table.loc[valid, "max_correlation"] = partner_r
    valid_ids = unit_ids[valid]
    table.insert(7, "max_correlation_unit", -1)
    table.loc[valid, "max_correlation_unit"] = np.where(partner >= 0, valid_ids[partner], -1)
    means[:, ~valid] = np.nan
    score, flag = anomaly_scores(
        means.T, seed=settings.seed, n_estimators=settings.anomaly_estimators
    )
    table.insert(8, "anomaly_score", score)
    table.insert(9, "anomaly", flag.astype(np.int8))
    return table


def _unit_scores(
    counts: xr.Dataset, settings: RankingSettings, window_s: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-unit scores of a count table whose units share their trials, and their means.

    Returns:
        The table of :func:`unit_scores` without the scores across units (``max_correlation``,
        ``max_correlation_unit``, ``anomaly_score``, ``anomaly``), and the per-image means
        (image id, unit id).
    """
    frames = counts["frame"].to_numpy().astype(np.int64)
    trials = np.ones(frames.shape, bool) if settings.include_blank else frames != BLANK_FRAME
    c = counts["spike_counts"].transpose("presentation", "unit").to_numpy()[trials]
    images = frames[trials]
    reason = invalid_reason(c, images, settings.min_spikes)
    unit_ids = counts["unit"].to_numpy()
    table = pd.DataFrame(index=pd.Index(unit_ids, name="unit"))
    table["oracle"] = oracle_correlation(c, images)
    table["oracle_notebook"] = oracle_notebook(
        c, images, n_passes=settings.notebook_passes, seed=settings.seed
    )
    table["fev"] = fev(c, images)
    table["response_variance"] = response_variance(c, images)
    table["mean_rate"] = c.mean(axis=0) / window_s
    table["entropy"] = response_entropy(c, images, n_bins=settings.entropy_bins)
    table.loc[reason != "", [s for s in SCORES if s in table]] = np.nan
    table["reason"] = reason
    means, _, image_ids = image_means(c, images)
    return table, pd.DataFrame(means, index=image_ids, columns=unit_ids)


def rank_and_select(table: pd.DataFrame, selection: RankingSettings) -> pd.DataFrame:
    """Sort best first by oracle (invalid units last), add ``rank`` and ``selected``.

    ``selection``: its ``oracle_percentile``, ``variance_percentile``, ``min_fev`` and
    ``max_units`` are applied by :func:`meiflow.ranking.reliability.select_units` within the
    table.
    """
    chosen = select_units(
        table,
        oracle_percentile=selection.oracle_percentile,
        variance_percentile=selection.variance_percentile,
        min_fev=selection.min_fev,
        max_units=selection.max_units,
    )
    ordered = table.assign(selected=chosen.astype(np.int8)).sort_values(
        "oracle", ascending=False, na_position="last", kind="stable"
    )
    ordered.insert(0, "rank", np.arange(1, len(ordered) + 1))
    return ordered


def ranking_dataset(table: pd.DataFrame, receptive_fields: xr.Dataset) -> xr.Dataset:
    """The ranking table (sorted, indexed by unit) joined with the receptive-field maps."""
    ds = xr.Dataset.from_dataframe(table)
    ds = xr.merge([ds, receptive_fields.sel(unit=ds["unit"])], combine_attrs="override")
    for name, (long_name, units) in DESCRIPTIONS.items():
        ds[name].attrs = {"long_name": long_name, **({"units": units} if units else {})}
    ds["reason"] = ds["reason"].astype(str)
    return ds


def area_ranking(
    scenes: xr.Dataset,
    gabors: xr.Dataset,
    area: str,
    settings: RankingSettings = RankingSettings(),
    geometry: ScreenGeometry = ScreenGeometry(),
    image_size: ImageSettings = ImageSettings(),
) -> xr.Dataset:
    """The ranking of one area's units (``ranking.nc``).

    Reliability scores, anomaly flags, receptive fields from the gabors, rank and selection.

    Args:
        scenes: the session's natural-scene count table (every area).
        gabors: the session's gabors count table (every area).
        area: the area (``ecephys_structure_acronym``) whose units are ranked.
        settings: scores, receptive-field maps and selection rule.
        geometry: the screen, to place receptive fields in model pixels.
        image_size: the model resolution, for the receptive-field maps.

    Returns:
        The table of :func:`ranking_dataset`, best rank first, with ``session_id``, ``area`` and
        the gabors grid's state (the ``gabor_*`` attributes of
        :func:`meiflow.ranking.receptive_fields.grid_attrs`) in its attributes; an area whose
        units are all invalid has NaN scores with a ``reason`` and nothing selected.
    """
    scenes = area_units(scenes, area)
    gabors = area_units(gabors, area)
    log.info("%s: %d units", area, scenes.sizes["unit"])
    table = rank_and_select(unit_scores(scenes, settings), settings)
    rf = [
        receptive_field_table(
            part,
            geometry,
            image_size.height,
            image_size.width,
            n_shuffles=settings.rf_shuffles,
            seed=settings.seed,
            alpha=settings.rf_alpha,
        )
        for _, part in valid_subsets(gabors)  # each unit's map from its valid trials
    ]
    rf = rf[0] if len(rf) == 1 else xr.concat(rf, "unit", join="outer").sel(unit=gabors["unit"])
    ranking = ranking_dataset(table, rf)
    grid = {name: value for name, value in rf.attrs.items() if name.startswith("gabor_")}
    ranking.attrs.update(session_id=scenes.attrs["session_id"], area=area, **grid)
    log.info(
        "%d valid units, %d selected, %d with a significant receptive field; invalid: %s",
        int((table["reason"] == "").sum()),
        int(table["selected"].sum()),
        int(ranking["rf_significant"].sum()),
        invalid_summary(table["reason"].to_numpy()) or "none",
    )
    if not table["selected"].any():
        log.warning("no unit of %s passes the selection rule: nothing to model", area)
    return ranking


def invalid_summary(reasons: np.ndarray) -> str:
    """The reasons of the invalid units, counted, most frequent first.

    Args:
        reasons: (n_units,) the ``reason`` of each unit ("" for a valid unit).

    Returns:
        e.g. ``"too few spikes: 5, no spikes: 2"`` (a reason's detail in parentheses, such as the
        spike count, left out; equal counts in the order of the reasons' first units); "" when
        every unit is valid.
    """
    kinds = Counter(str(reason).split(" (")[0] for reason in reasons if reason)
    return ", ".join(f"{kind}: {n}" for kind, n in kinds.most_common())


def empty_area_reason(ranking: xr.Dataset) -> str:
    """Why an area has nothing to model: the ``empty_reason`` of its model, MEI and metric files.

    Args:
        ranking: the area's ``ranking.nc`` (``reason`` on ``unit``).

    Returns:
        :data:`NOTHING_SELECTED`, then how many of the area's units have valid scores and why the
        others do not (:func:`invalid_summary`), e.g. "no unit of the area passed the selection
        rule (0 of 7 units valid; too few spikes: 7)".
    """
    reasons = ranking["reason"].to_numpy().astype(str)
    detail = f"{int(np.sum(reasons == ''))} of {reasons.size} units valid"
    invalid = invalid_summary(reasons)
    return f"{NOTHING_SELECTED} ({detail}{'; ' + invalid if invalid else ''})"


def ranking_table(ranking: xr.Dataset) -> pd.DataFrame:
    """The per-unit variables of ``ranking`` as a table indexed by unit (``ranking.csv``)."""
    columns = [name for name, var in ranking.data_vars.items() if var.dims == ("unit",)]
    return ranking[columns].to_dataframe()
