"""Tests of meiflow.ranking.reliability against direct loop computations on small tables."""

import warnings

import numpy as np
import pandas as pd
import pytest

from meiflow.ranking import reliability as rel

N_UNITS = 7


def make_table(seed: int, n_images: int = 12, max_repeats: int = 6) -> tuple[np.ndarray, ...]:
    """Poisson counts (n_trials, N_UNITS) with unequal repeats, single-repeat images and zeros.

    Images 0 and 1 are shown once; the others 2 .. max_repeats times; trials are shuffled.
    """
    rng = np.random.default_rng(seed)
    repeats = np.concatenate(([1, 1], rng.integers(2, max_repeats + 1, n_images - 2)))
    images = np.repeat(np.arange(n_images) * 3 - 1, repeats)  # ids -1, 2, 5, ...
    rng.shuffle(images)
    rates = rng.gamma(1.0, 1.0, (n_images, N_UNITS))
    counts = rng.poisson(rates[(images + 1) // 3])
    return counts, images


def loop_groups(images: np.ndarray) -> list[np.ndarray]:
    """Trial indices of every image, images in ascending id order, trials in table order."""
    return [np.flatnonzero(images == i) for i in np.unique(images)]


def loop_pearson(x, y) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    return float(np.corrcoef(x, y)[0, 1])


def loop_oracle(counts: np.ndarray, images: np.ndarray) -> np.ndarray:
    out = np.full(counts.shape[1], np.nan)
    for unit in range(counts.shape[1]):
        x, y = [], []
        for trials in loop_groups(images):
            if len(trials) < 2:
                continue
            for t in trials:
                x.append(counts[t, unit])
                y.append(np.mean([counts[s, unit] for s in trials if s != t]))
        out[unit] = loop_pearson(x, y)
    return out


def loop_notebook(counts: np.ndarray, images: np.ndarray, n_passes: int, seed: int) -> np.ndarray:
    groups = loop_groups(images)
    used = [trials for trials in groups if len(trials) >= 2]
    draws = np.random.default_rng(seed).integers(
        0, [len(trials) for trials in used], size=(n_passes, len(used))
    )
    r = np.full((n_passes, counts.shape[1]), np.nan)
    for p in range(n_passes):
        for unit in range(counts.shape[1]):
            x, y = [], []
            for trials, k in zip(used, draws[p], strict=True):
                x.append(counts[trials[k], unit])
                y.append(np.delete(counts[trials, unit], k).mean())
            r[p, unit] = loop_pearson(x, y)
    return np.nanmean(r, axis=0) * len(used) / len(groups)


def loop_means(counts: np.ndarray, images: np.ndarray) -> np.ndarray:
    return np.array([counts[trials].mean(axis=0) for trials in loop_groups(images)])


@pytest.fixture
def no_warnings():
    """Turn every warning and floating-point error into an exception."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("seed", range(5))
def test_image_means_matches_loop(seed):
    counts, images = make_table(seed)
    means, repeats, ids = rel.image_means(counts, images)
    np.testing.assert_array_equal(ids, np.unique(images))
    np.testing.assert_array_equal(repeats, [len(t) for t in loop_groups(images)])
    np.testing.assert_allclose(means, loop_means(counts, images), rtol=0, atol=1e-12)
    assert means.dtype == np.float64


@pytest.mark.parametrize("seed", range(8))
def test_jackknife_oracle_matches_loop(seed, no_warnings):
    counts, images = make_table(seed)
    assert (counts == 0).any()
    expected = loop_oracle(counts, images)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(rel.oracle_correlation(counts, images), expected, rtol=0, atol=1e-10)


def test_jackknife_oracle_ignores_single_repeat_images(no_warnings):
    counts, images = make_table(3)
    single = np.isin(images, [-1, 2])  # the two images shown once
    extra = counts[single] * 100  # wild values that would dominate r if they were paired
    full = np.vstack([counts[~single], extra])
    labels = np.concatenate([images[~single], images[single]])
    np.testing.assert_allclose(
        rel.oracle_correlation(full, labels),
        rel.oracle_correlation(counts[~single], images[~single]),
        rtol=0,
        atol=1e-12,
    )


def test_oracles_nan_without_repeats(no_warnings):
    counts = np.arange(12).reshape(4, 3)
    images = np.arange(4)
    assert np.isnan(rel.oracle_correlation(counts, images)).all()
    assert np.isnan(rel.oracle_notebook(counts, images, n_passes=3)).all()
    assert np.isnan(rel.fev(counts, images)).all()
    # ... and every unit says why (the blank-free table of a session whose scenes ran once)
    assert list(rel.invalid_reason(counts, images, min_spikes=1)) == ["no image shown twice"] * 3


def test_notebook_deterministic_and_seeded(no_warnings):
    counts, images = make_table(0, n_images=20)
    first = rel.oracle_notebook(counts, images, n_passes=10, seed=4)
    np.testing.assert_array_equal(first, rel.oracle_notebook(counts, images, n_passes=10, seed=4))
    assert not np.allclose(first, rel.oracle_notebook(counts, images, n_passes=10, seed=5))


@pytest.mark.parametrize("seed", range(3))
def test_notebook_matches_loop_with_identical_draws(seed):
    counts, images = make_table(seed, n_images=15)
    expected = loop_notebook(counts, images, n_passes=20, seed=seed)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        got = rel.oracle_notebook(counts, images, n_passes=20, seed=seed)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_notebook_image_fraction_penalty(no_warnings):
    counts, images = make_table(1, n_images=16)  # images -1 and 2 are shown once
    repeated = ~np.isin(images, [-1, 2])
    # The draws only depend on the repeated images, so dropping the others changes only the factor.
    penalized = rel.oracle_notebook(counts, images, n_passes=30, seed=2)
    clean = rel.oracle_notebook(counts[repeated], images[repeated], n_passes=30, seed=2)
    np.testing.assert_allclose(penalized, clean * 14 / 16, rtol=1e-12)


def test_notebook_close_to_jackknife_on_average():
    """Different estimators of similar quantities: the pooled jackknife r also counts within-image
    pairs, whose leave-one-out means anticorrelate with the trial, so only rough agreement."""
    rng = np.random.default_rng(0)
    images = np.repeat(np.arange(40), 10)
    rates = rng.gamma(2.0, 2.0, (40, 5))
    counts = rng.poisson(rates[images])
    many = rel.oracle_notebook(counts, images, n_passes=2000, seed=0)
    np.testing.assert_allclose(many, rel.oracle_correlation(counts, images), atol=0.05)


@pytest.mark.parametrize("seed", range(5))
def test_fev_matches_loop(seed, no_warnings):
    counts, images = make_table(seed)
    groups = [t for t in loop_groups(images) if len(t) >= 2]
    for unit in range(N_UNITS):
        total = np.var(counts[:, unit], ddof=1)
        noise = np.mean([np.var(counts[t, unit], ddof=1) for t in groups])
        assert rel.fev(counts, images)[unit] == pytest.approx((total - noise) / total, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_response_variance_matches_loop(seed):
    counts, images = make_table(seed)
    means = loop_means(counts, images)
    expected = [np.var(means[:, unit], ddof=1) for unit in range(N_UNITS)]
    np.testing.assert_allclose(rel.response_variance(counts, images), expected, atol=1e-12)


@pytest.mark.parametrize(("seed", "n_bins"), [(0, 10), (1, 4), (2, 7), (3, 10)])
def test_response_entropy_matches_histogram(seed, n_bins, no_warnings):
    counts, images = make_table(seed, n_images=30, max_repeats=2)  # many means on bin edges
    means = loop_means(counts, images)
    expected = []
    for unit in range(N_UNITS):
        hist, _ = np.histogram(means[:, unit], bins=n_bins)
        p = hist[hist > 0] / hist.sum()
        expected.append(-np.sum(p * np.log2(p)))
    got = rel.response_entropy(counts, images, n_bins=n_bins)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert (got <= np.log2(n_bins) + 1e-12).all()


def test_response_entropy_extremes(no_warnings):
    images = np.repeat(np.arange(8), 2)
    counts = np.zeros((16, 3), dtype=int)
    counts[:, 0] = np.repeat(np.arange(8), 2)  # one image per bin: log2(8) bits
    counts[images == 5, 1] = 4  # a single driving image: low entropy
    got = rel.response_entropy(counts, images, n_bins=8)
    assert got[0] == pytest.approx(3.0)
    assert got[1] == pytest.approx(-(7 / 8) * np.log2(7 / 8) - (1 / 8) * np.log2(1 / 8))
    assert np.isnan(got[2])


@pytest.mark.parametrize("seed", range(40))
def test_max_correlation_matches_loop(seed, no_warnings):
    counts, images = make_table(seed, n_images=20)
    counts[:, 3] = counts[:, 5] * 2 + 1  # a duplicated unit: r = 1 with each other
    means = loop_means(counts, images)
    max_r, partner = rel.max_correlation(counts, images)
    for unit in range(N_UNITS):
        r = [loop_pearson(means[:, unit], means[:, v]) if v != unit else -np.inf for v in range(7)]
        assert max_r[unit] == pytest.approx(np.max(r), abs=1e-12)
        # units 3 and 5 tie for every other unit (r is invariant to 2x + 1), up to round-off
        # that differs between the loop and the vectorized sums: the lower column wins
        tied = np.flatnonzero(np.isclose(r, np.max(r), rtol=1e-9, atol=1e-9))
        assert partner[unit] == tied[0]
    assert (partner[3], partner[5]) == (5, 3)
    assert max_r[3] == pytest.approx(1.0)


def test_max_correlation_undefined(no_warnings):
    images = np.repeat(np.arange(5), 3)
    counts = np.zeros((15, 3), dtype=int)
    counts[:, 1] = images
    max_r, partner = rel.max_correlation(counts, images)  # unit 0 silent; 1 has no partner
    assert np.isnan(max_r).all()
    np.testing.assert_array_equal(partner, [-1, -1, -1])


@pytest.mark.parametrize("n_units", [0, 1, 2])
def test_max_correlation_of_fewer_than_three_units(n_units, no_warnings):
    counts, images = make_table(4)
    max_r, partner = rel.max_correlation(counts[:, :n_units], images)
    assert max_r.shape == partner.shape == (n_units,)
    assert partner.dtype.kind == "i"
    if n_units == 1:  # no other unit to correlate with
        assert np.isnan(max_r[0]) and partner[0] == -1
    if n_units == 2:  # each is the other's partner, at r of their image means
        means = loop_means(counts, images)
        assert max_r == pytest.approx([loop_pearson(means[:, 0], means[:, 1])] * 2, abs=1e-12)
        np.testing.assert_array_equal(partner, [1, 0])


def degenerate_table() -> tuple[np.ndarray, np.ndarray]:
    """Units 0-3 are silent, constant, nearly silent and flat across images; 4-11 are fine."""
    rng = np.random.default_rng(7)
    images = np.repeat(np.arange(30), 6)
    counts = rng.poisson(rng.gamma(2.0, 3.0, (30, 12))[images])
    counts[:, 0] = 0
    counts[:, 1] = 4
    counts[:, 2] = 0
    counts[[0, 50, 100], 2] = 1
    counts[:, 3] = np.tile([2, 3, 2, 3, 2, 3], 30)  # varies across trials, same mean per image
    return counts, images


def test_invalid_reason(no_warnings):
    counts, images = degenerate_table()
    reasons = rel.invalid_reason(counts, images, min_spikes=10)
    assert reasons.shape == (12,)
    assert list(reasons[:4]) == [
        "no spikes",
        "constant response",
        "too few spikes (3 < 10)",
        "constant image means",
    ]
    assert (reasons[4:] == "").all()


def test_degenerate_units_nan_without_warnings_and_never_selected(no_warnings):
    counts, images = degenerate_table()
    oracle = rel.oracle_correlation(counts, images)
    assert np.isnan(oracle[:2]).all() and np.isnan(rel.oracle_notebook(counts, images)[:2]).all()
    assert np.isnan(rel.fev(counts, images)[:2]).all()
    assert np.isnan(rel.response_entropy(counts, images)[[0, 1, 3]]).all()
    assert np.isnan(rel.max_correlation(counts, images)[0][[0, 1, 3]]).all()
    table = pd.DataFrame(
        {
            "oracle": oracle,
            "response_variance": rel.response_variance(counts, images),
            "fev": rel.fev(counts, images),
        }
    )
    table[rel.invalid_reason(counts, images, min_spikes=10) != ""] = np.nan
    selected = rel.select_units(table, oracle_percentile=0, variance_percentile=0)
    assert not selected[:4].any()
    assert selected[4:].sum() >= 6


def hand_table() -> pd.DataFrame:
    """Oracle p60 over its 11 finite values is 0.7; variance p50 over its 11 finite values is 9."""
    return pd.DataFrame(
        {
            "oracle": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, np.nan, 0.95],
            "response_variance": [5, 6, 7, 8, 9, 1, 50, 10, 11, 12, 100, np.nan],
            "fev": [0.5] * 7 + [0.10, 0.15, 0.9, 0.9, 0.9],
        },
        index=[f"u{i}" for i in range(12)],
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["u7", "u8", "u9"]),  # u6 sits on the oracle threshold, u4 on the variance one
        ({"min_fev": 0.15}, ["u8", "u9"]),  # fev >= min_fev is inclusive
        ({"max_units": 2}, ["u8", "u9"]),
        ({"max_units": 1, "min_fev": 0.15}, ["u9"]),
        ({"max_units": 10}, ["u7", "u8", "u9"]),
        (
            {"oracle_percentile": 0, "variance_percentile": 0},
            ["u1", "u2", "u3", "u4", "u6"] + ["u7", "u8", "u9"],
        ),
    ],
)
def test_select_units_hand_table(kwargs, expected):
    table = hand_table()
    selected = rel.select_units(table, **kwargs)
    assert selected.dtype == bool
    assert selected.index.equals(table.index)
    assert list(table.index[selected]) == expected


def test_select_units_nan_fev_not_selected():
    table = hand_table()
    table.loc["u9", "fev"] = np.nan
    assert list(table.index[rel.select_units(table, min_fev=0.0)]) == ["u7", "u8"]
    assert list(table.index[rel.select_units(table)]) == ["u7", "u8", "u9"]  # fev unused


def test_response_correlations_equal_numpy_on_image_means():
    rng = np.random.default_rng(8)
    images = np.repeat(np.arange(12), 5)
    counts = rng.poisson(rng.gamma(2.0, 1.0, (12, 4))[images])
    counts[:, 3] = 2  # constant unit
    r = rel.response_correlations(counts, images)
    means = np.stack([counts[images == i].mean(axis=0) for i in range(12)])
    np.testing.assert_allclose(r[:3, :3], np.corrcoef(means[:, :3].T), atol=1e-12)
    assert np.isnan(r[3]).all() and np.isnan(r[:, 3]).all()
