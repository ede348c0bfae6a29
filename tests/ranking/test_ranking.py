"""Ranking assembly: scores per unit, invalid units, sorting and selection, partner ids."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from helpers import TINY_SESSION

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf
from meiflow.ranking.selection import (
    SCORES,
    RankingError,
    area_ranking,
    area_units,
    empty_area_reason,
    invalid_summary,
    rank_and_select,
    unit_scores,
)
from meiflow.ranking.settings import RankingSettings
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry

SETTINGS = RankingSettings(min_spikes=20, notebook_passes=10, anomaly_estimators=50)


def count_table(n_images=30, repeats=8, seed=0) -> xr.Dataset:
    """Poisson counts of 8 units: graded tuning strength, a silent and a constant unit."""
    rng = np.random.default_rng(seed)
    frames = np.repeat(np.arange(-1, n_images), repeats)
    tuning = rng.gamma(2.0, 1.0, n_images + 1)[frames + 1]
    strength = np.array([0.0, 0.2, 0.5, 1.0, 2.0, 4.0])
    rates = 1.0 + strength[None, :] * tuning[:, None]
    counts = rng.poisson(rates)
    counts = np.column_stack([counts, np.zeros(len(frames), int), np.full(len(frames), 3)])
    ds = xr.Dataset(
        {"spike_counts": (("presentation", "unit"), counts)},
        coords={
            "presentation": np.arange(len(frames)),
            "unit": 100 + np.arange(8),
            "frame": ("presentation", frames),
            "area": ("unit", ["VISp"] * 6 + ["VISam"] * 2),
        },
        attrs={"counting_window_start_s": 0.0, "counting_window_stop_s": 0.25},
    )
    return ds


def test_invalid_units_get_nan_scores_a_reason_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = unit_scores(count_table(), SETTINGS)
    assert table.loc[106, "reason"] == "no spikes"
    assert table.loc[107, "reason"] == "constant response"
    for unit in (106, 107):
        scores = ["oracle", "oracle_notebook", "fev", "response_variance"]
        assert table.loc[unit, scores].isna().all()
        assert np.isnan(table.loc[unit, "anomaly_score"]) and table.loc[unit, "anomaly"] == 0
    assert (table.loc[100:105, "reason"] == "").all()
    np.testing.assert_allclose(table.loc[107, "mean_rate"], 3 / 0.25)


def test_scores_follow_tuning_strength_and_partners_are_unit_ids():
    table = unit_scores(count_table(n_images=60, repeats=20), SETTINGS)
    oracle = table.loc[100:105, "oracle"].to_numpy()
    assert oracle[0] < 0.1 and oracle[-1] > 0.8
    assert (np.diff(oracle[1:]) > 0).all()  # stronger tuning, higher oracle
    partners = table.loc[100:105, "max_correlation_unit"]
    assert set(partners) <= set(range(100, 106))
    assert (partners.to_numpy() != np.arange(100, 106)).all()
    assert (table.loc[[106, 107], "max_correlation_unit"] == -1).all()


def test_the_blank_is_left_out_unless_asked():
    ds = count_table()
    ds["spike_counts"][ds["frame"].to_numpy() == -1, 5] = 50  # a huge blank response
    without = unit_scores(ds, SETTINGS).loc[105, "response_variance"]
    blank = replace(SETTINGS, include_blank=True)
    with_blank = unit_scores(ds, blank).loc[105, "response_variance"]
    means = pd.Series(ds["spike_counts"][:, 5].to_numpy()).groupby(ds["frame"].to_numpy()).mean()
    assert without == pytest.approx(means[means.index >= 0].var(ddof=1))
    assert with_blank == pytest.approx(means.var(ddof=1))
    assert with_blank > 2 * without


def test_rank_and_select_sorts_best_first_and_never_selects_invalid_units():
    table = rank_and_select(unit_scores(count_table(60, 20), SETTINGS), SETTINGS)
    assert list(table["rank"]) == list(range(1, 9))
    assert set(table.index[-2:]) == {106, 107}  # invalid units last
    finite = table["oracle"].dropna().to_numpy()
    assert (np.diff(finite) <= 0).all()
    assert table.loc[[106, 107], "selected"].sum() == 0
    # 6 valid units: oracle above its 60th percentile leaves the best 2, variance agrees
    assert set(table.index[table["selected"] == 1]) == {104, 105}
    capped = rank_and_select(
        unit_scores(count_table(60, 20), SETTINGS), replace(SETTINGS, max_units=1)
    )
    assert list(capped.index[capped["selected"] == 1]) == [105]


def test_an_area_without_units_is_a_clear_error():
    with pytest.raises(RankingError, match=r"no units of area 'LGd'.*\['VISam', 'VISp'\]"):
        area_units(count_table(), "LGd")
    assert area_units(count_table(), "VISam").sizes["unit"] == 2


@pytest.mark.slow
def test_a_gabor_position_without_trials_changes_only_that_position(tiny_run):
    # the tiny session's tables, with the 6 presentations of gabor position (0, 0) deleted
    results = tiny_run / "results" / str(TINY_SESSION)
    ranked = read_netcdf(results / "VISp" / "ranking.nc")
    params = json.loads(ranked.attrs["meiflow_config"])
    scenes = read_netcdf(results / "counts" / "natural_scenes.nc").load()
    gabors = read_netcdf(results / "counts" / "gabors.nc").load()
    at = (gabors["x_position"].to_numpy() == 0) & (gabors["y_position"].to_numpy() == 0)
    assert at.sum() == 6
    ranking = area_ranking(
        scenes,
        gabors.isel(presentation=np.flatnonzero(~at)),
        "VISp",
        settings_from(RankingSettings, params["ranking"], "ranking"),
        settings_from(ScreenGeometry, params["screen"], "screen"),
        settings_from(ImageSettings, params["images"], "images"),
    )
    # the workflow's intact grid is reported complete, in the file and in the log
    log = (results / "logs" / "VISp" / "rank_neurons.log").read_text()
    assert "gabors grid complete: 81 positions x 3 orientations, 6 presentations" in log
    assert (
        ranked.attrs["gabor_grid_complete"] == 1
        and ranked.attrs["gabor_missing_x_position"].size == 0
    )
    assert ranking.attrs["gabor_grid_complete"] == 0
    np.testing.assert_array_equal(ranking.attrs["gabor_missing_x_position"], [0.0])
    np.testing.assert_array_equal(ranking.attrs["gabor_missing_y_position"], [0.0])
    assert "1 of 81 positions without presentations (x 0, y 0 deg)" in ranking.attrs["gabor_grid"]
    # nothing but the receptive fields changes; their map only at (0, 0), now NaN
    other = [name for name in ranking.data_vars if not str(name).startswith("rf_")]
    xr.testing.assert_equal(ranking[other], ranked[other])
    lost = ranked["rf_map"].copy()
    lost.loc[{"rf_x": 0.0, "rf_y": 0.0}] = np.nan
    xr.testing.assert_equal(ranking["rf_map"], lost)
    # a unit whose fitted centre lies more than one grid step (10 deg) from the lost position
    # keeps it within a quarter step; one whose map peaked there may move by up to 1.5 steps
    # (the tiny session's 2 repeats make few maps significant: every fitted centre is checked)
    full_centre = np.isfinite(ranked["rf_center_x"].to_numpy())
    assert full_centre.any()
    np.testing.assert_array_equal(np.isfinite(ranking["rf_center_x"]), full_centre)
    far = np.hypot(ranked["rf_center_x"], ranked["rf_center_y"]).to_numpy() > 10.0
    assert (far & full_centre).any()
    shift = np.hypot(
        ranking["rf_center_x"] - ranked["rf_center_x"],
        ranking["rf_center_y"] - ranked["rf_center_y"],
    ).to_numpy()
    assert (shift[far & full_centre] <= 2.5).all(), shift
    assert (shift[full_centre] <= 15.0).all(), shift


def scene_totals(ds: xr.Dataset) -> np.ndarray:
    """Each unit's spikes over the scene trials (blank left out), by a plain loop."""
    frames = ds["frame"].to_numpy()
    counts = ds["spike_counts"].to_numpy()
    scene = np.flatnonzero(frames >= 0)
    return np.array([sum(counts[t, u] for t in scene) for u in range(counts.shape[1])])


def test_an_area_without_a_usable_unit_has_nan_scores_with_reasons_and_no_selection():
    ds = count_table()
    settings = replace(SETTINGS, min_spikes=100_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = rank_and_select(unit_scores(ds, settings), settings)
    totals = dict(zip(ds["unit"].to_numpy(), scene_totals(ds), strict=True))
    expected = {u: f"too few spikes ({n} < 100000000)" for u, n in totals.items()}
    expected[106] = "no spikes"
    assert table["reason"].to_dict() == expected
    assert table[list(SCORES) + ["anomaly_score"]].isna().all().all()
    assert (table["anomaly"] == 0).all() and (table["max_correlation_unit"] == -1).all()
    assert table["selected"].sum() == 0 and list(table["rank"]) == list(range(1, 9))
    np.testing.assert_allclose(table.loc[107, "mean_rate"], 3 / 0.25)  # still measured
    ranking = xr.Dataset.from_dataframe(table)
    assert empty_area_reason(ranking) == (
        "no unit of the area passed the selection rule "
        "(0 of 8 units valid; too few spikes: 7, no spikes: 1)"
    )


def test_an_area_with_one_usable_unit_scores_it_alone_and_selects_nothing():
    ds = count_table(n_images=60, repeats=20)
    intact = unit_scores(ds, SETTINGS)
    totals = scene_totals(ds)
    settings = replace(SETTINGS, min_spikes=int(totals[5]))  # only unit 105 has that many
    assert (np.delete(totals, 5) < totals[5]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = rank_and_select(unit_scores(ds, settings), settings)
    alone = ["oracle", "oracle_notebook", "fev", "response_variance", "entropy", "mean_rate"]
    pd.testing.assert_series_equal(table.loc[105, alone], intact.loc[105, alone])
    assert (table.drop(index=105)["reason"] != "").all()
    # no other valid unit: no partner, no anomaly score; one oracle is not above its percentile
    assert (
        np.isnan(table.loc[105, "max_correlation"]) and table.loc[105, "max_correlation_unit"] == -1
    )
    assert np.isnan(table.loc[105, "anomaly_score"]) and table.loc[105, "anomaly"] == 0
    assert table["selected"].sum() == 0 and table.index[0] == 105


def test_invalid_summary_counts_the_reasons_without_their_detail():
    reasons = np.array(
        [
            "",
            "no spikes",
            "too few spikes (3 < 50)",
            "",
            "too few spikes (7 < 50)",
            "constant response",
        ]
    )
    assert invalid_summary(reasons) == "too few spikes: 2, no spikes: 1, constant response: 1"
    assert invalid_summary(np.array(["", ""])) == invalid_summary(np.array([], dtype=str)) == ""
    ranking = xr.Dataset({"reason": ("unit", reasons)})
    assert empty_area_reason(ranking) == (
        "no unit of the area passed the selection rule (2 of 6 units valid; "
        "too few spikes: 2, no spikes: 1, constant response: 1)"
    )
