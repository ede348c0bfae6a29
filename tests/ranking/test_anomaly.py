"""Tests of meiflow.ranking.anomaly: determinism, a planted outlier, invalid rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from meiflow.ranking.anomaly import anomaly_scores


def population(seed: int, n_units: int = 60, n_images: int = 40) -> np.ndarray:
    """Per-image means (n_units, n_images): mixtures of three shared tuning profiles + noise."""
    rng = np.random.default_rng(seed)
    profiles = rng.gamma(2.0, 1.0, (3, n_images))
    weights = rng.dirichlet(np.ones(3), n_units)
    scale = rng.uniform(2.0, 10.0, (n_units, 1))
    return scale * (weights @ profiles + 0.1 * rng.normal(size=(n_units, n_images)))


def test_deterministic_for_a_seed():
    x = population(0)
    a, fa = anomaly_scores(x, seed=3, n_estimators=50)
    b, fb = anomaly_scores(x, seed=3, n_estimators=50)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fa, fb)
    c, _ = anomaly_scores(x, seed=4, n_estimators=50)
    assert not np.array_equal(a, c)
    assert a.shape == fa.shape == (60,) and fa.dtype == bool
    assert np.all((a > 0) & (a <= 1))


def test_a_unit_driven_by_one_image_scores_highest():
    x = population(1)
    x[17] = 1.0
    x[17, 5] = 60.0  # sparse: an unusual shape, at an ordinary scale
    score, flag = anomaly_scores(x, seed=0)
    assert np.argmax(score) == 17 and flag[17]
    assert score[17] > np.max(np.delete(score, 17)) + 0.05


def test_scale_outlier_needs_standardize_false():
    x = population(2)
    x[8] *= 30.0  # same shape as the others, 30 times the rate
    raw, raw_flag = anomaly_scores(x, seed=0, standardize=False)
    assert np.argmax(raw) == 8 and raw_flag[8]
    shape, _ = anomaly_scores(x, seed=0)
    assert np.argmax(shape) != 8


def test_invalid_rows_are_nan_and_left_out_of_the_fit():
    x = population(3)
    with_nan = x.copy()
    with_nan[[2, 40]] = np.nan
    with_nan[10, 3] = np.inf
    score, flag = anomaly_scores(with_nan, seed=0, n_estimators=50)
    assert np.isnan(score[[2, 10, 40]]).all() and not flag[[2, 10, 40]].any()
    valid = np.setdiff1d(np.arange(60), [2, 10, 40])
    alone, alone_flag = anomaly_scores(x[valid], seed=0, n_estimators=50)
    np.testing.assert_allclose(score[valid], alone)
    np.testing.assert_array_equal(flag[valid], alone_flag)


def test_contamination_fraction_flags_that_many():
    _, flag = anomaly_scores(population(4), seed=0, contamination=0.1)
    assert flag.sum() == 6


@pytest.mark.parametrize("n_valid", [0, 1])
def test_fewer_than_two_valid_units(n_valid):
    x = np.full((4, 10), np.nan)
    x[:n_valid] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score, flag = anomaly_scores(x)
    assert np.isnan(score).all() and not flag.any()
    score, flag = anomaly_scores(np.zeros((0, 10)))
    assert score.shape == flag.shape == (0,)
