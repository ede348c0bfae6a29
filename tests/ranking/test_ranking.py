"""Ranking assembly: scores per unit, invalid units, sorting and selection, partner ids."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from meiflow.ranking.selection import (
    RankingError,
    RankingSettings,
    area_units,
    rank_and_select,
    unit_scores,
)

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
