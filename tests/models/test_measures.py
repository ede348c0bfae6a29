"""Tests of meiflow.models.measures against loop computations and simulated tables."""

import warnings

import numpy as np
import pytest

from meiflow.models import measures
from meiflow.ranking.reliability import fev

N_UNITS = 6


def make_table(seed: int, n_images: int = 15, max_repeats: int = 6) -> tuple[np.ndarray, ...]:
    """Poisson counts (n_trials, N_UNITS), unequal repeats, two single-repeat images, shuffled.

    Image ids are non-contiguous and unsorted in the table. Returns counts, images, the sorted
    ids and the true rates (n_images, N_UNITS) in sorted-id order.
    """
    rng = np.random.default_rng(seed)
    repeats = np.concatenate(([1, 1], rng.integers(2, max_repeats + 1, n_images - 2)))
    ids = np.arange(n_images) * 7 - 1
    images = np.repeat(ids, repeats)
    order = rng.permutation(images.size)
    rates = rng.gamma(1.5, 1.0, (n_images, N_UNITS))
    counts = rng.poisson(rates[(images + 1) // 7])
    return counts[order], images[order], ids, rates


def loop_groups(counts: np.ndarray, images: np.ndarray) -> list[np.ndarray]:
    """Counts of every image (repeats, n_units), images in ascending id order."""
    return [counts[images == i].astype(float) for i in np.unique(images)]


def loop_feve(predicted: np.ndarray, counts: np.ndarray, images: np.ndarray) -> np.ndarray:
    """neuralpredictors' fev, one loop over images; single-repeat images out of the noise term."""
    groups = loop_groups(counts, images)
    squared_errors = np.vstack([(g - p) ** 2 for g, p in zip(groups, predicted, strict=True)])
    noise_var = np.mean([np.var(g, axis=0, ddof=1) for g in groups if len(g) >= 2], axis=0)
    total_var = np.var(np.vstack(groups), axis=0, ddof=1)
    return 1 - (squared_errors.mean(axis=0) - noise_var) / (total_var - noise_var)


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_correlation_to_average_equals_loop():
    counts, images, ids, rates = make_table(0)
    predicted = rates + np.random.default_rng(1).normal(0, 0.5, rates.shape)
    means = np.array([g.mean(axis=0) for g in loop_groups(counts, images)])
    expected = [np.corrcoef(means[:, u], predicted[:, u])[0, 1] for u in range(N_UNITS)]
    got = measures.correlation_to_average(predicted, counts, images)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_correlation_to_average_nan_and_shape():
    counts, images, ids, rates = make_table(2)
    counts[:, 0] = 3  # constant unit
    predicted = rates.copy()
    predicted[:, 1] = 1.0  # constant prediction
    got = measures.correlation_to_average(predicted, counts, images)
    assert np.isnan(got[:2]).all() and np.isfinite(got[2:]).all()
    with pytest.raises(ValueError, match="one row per unique image"):
        measures.correlation_to_average(rates[1:], counts, images)


def test_feve_equals_loop():
    counts, images, ids, rates = make_table(3)
    predicted = rates * np.random.default_rng(4).uniform(0.5, 1.5, rates.shape)
    np.testing.assert_allclose(
        measures.feve(predicted, counts, images), loop_feve(predicted, counts, images), rtol=1e-10
    )


def test_feve_true_rates_near_one_grand_mean_near_zero():
    """Large Poisson table, equal repeats: the true rates score 1 in expectation, the grand mean
    0 (exactly (total_var / n_trials) / (total_var - noise_var))."""
    rng = np.random.default_rng(5)
    n_images, repeats, n_units = 300, 10, 40
    rates = rng.gamma(2.0, 1.5, (n_images, n_units))
    images = np.repeat(np.arange(n_images), repeats)
    counts = rng.poisson(rates[images])
    score = measures.feve(rates, counts, images)
    assert abs(score.mean() - 1) < 0.01
    np.testing.assert_allclose(score, 1, atol=0.08)

    noise_var = (1 - fev(counts, images)) * counts.var(axis=0, ddof=1)
    total_var = counts.var(axis=0, ddof=1)
    grand = np.broadcast_to(counts.mean(axis=0), rates.shape)
    np.testing.assert_allclose(
        measures.feve(grand, counts, images),
        (total_var / counts.shape[0]) / (total_var - noise_var),
        rtol=1e-9,
    )
    assert np.abs(measures.feve(grand, counts, images)).max() < 0.01


def test_feve_in_sample_means_exceed_one():
    """Fitted to the same trials, the per-image means give 1 + noise_var / (r (tv - nv))."""
    rng = np.random.default_rng(6)
    images = np.repeat(np.arange(50), 4)
    counts = rng.poisson(rng.gamma(2.0, 1.0, (50, 3))[images])
    means = np.array([g.mean(axis=0) for g in loop_groups(counts, images)])
    total_var = counts.var(axis=0, ddof=1)
    noise_var = np.mean([g.var(axis=0, ddof=1) for g in loop_groups(counts, images)], axis=0)
    np.testing.assert_allclose(
        measures.feve(means, counts, images),
        1 + noise_var / (4 * (total_var - noise_var)),
        rtol=1e-10,
    )


def test_feve_undefined():
    counts, images, ids, rates = make_table(7)
    counts[:, 0] = 2  # constant: total_var = noise_var = 0
    # unit 1: noise only, each image's repeats identical in distribution and no signal,
    # built so that total_var < noise_var: alternate 0 / 10 within every image
    rank = np.zeros(images.size, dtype=int)
    for i in np.unique(images):
        rank[images == i] = np.arange(np.sum(images == i))
    counts[:, 1] = 10 * (rank % 2)
    got = measures.feve(rates, counts, images)
    assert np.isnan(got[:2]).all() and np.isfinite(got[2:]).all()
    single = np.arange(5)  # every image shown once: no noise estimate
    assert np.isnan(measures.feve(np.ones((5, 2)), np.arange(10).reshape(5, 2), single)).all()


def test_fraction_of_oracle():
    test = np.array([0.3, 0.4, 0.2, np.nan, 0.5, -0.1])
    oracle = np.array([0.6, 0.4, 0.0, 0.5, -0.2, 0.5])
    np.testing.assert_allclose(
        measures.fraction_of_oracle(test, oracle), [0.5, 1.0, np.nan, np.nan, np.nan, -0.2]
    )
    oracle[1] = np.nan
    assert np.isnan(measures.fraction_of_oracle(test, oracle)[1])


def test_single_trial_correlation_equals_numpy_over_trials():
    rng = np.random.default_rng(12)
    images = np.repeat(np.arange(15), 4)
    counts = rng.poisson(rng.gamma(2.0, 1.0, (15, 3))[images])
    predicted = rng.gamma(2.0, 1.0, (15, 3))
    r = measures.single_trial_correlation(predicted, counts, images)
    for u in range(3):
        expected = np.corrcoef(predicted[images, u], counts[:, u])[0, 1]
        assert r[u] == pytest.approx(expected, abs=1e-12)
