"""Generic statistics (meiflow.stats) against independent computations and known cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import zscore
from sklearn.metrics import roc_auc_score

from meiflow.stats import masked_correlation, nan_median, pearson_rows, roc_auc, zscore_rows

H, W = 30, 48


def test_masked_correlation_uses_only_the_masked_pixels():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, H, W))
    mask = np.zeros((3, H, W), bool)
    mask[:, 5:15, 10:30] = True
    mask[2, 20:, :] = True
    b = rng.normal(size=(3, H, W))  # outside the mask: unrelated values
    b[0] = np.where(mask[0], 2 * a[0] + 1, b[0])
    b[1] = np.where(mask[1], -a[1], b[1])
    r = masked_correlation(a, b, mask)
    np.testing.assert_allclose(r[:2], [1.0, -1.0])
    np.testing.assert_allclose(r[2], np.corrcoef(a[2][mask[2]], b[2][mask[2]])[0, 1])


def test_masked_correlation_is_nan_without_warnings_where_undefined():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3, H, W))
    mask = np.zeros((3, H, W), bool)
    mask[:, 4:12, 6:20] = True
    a[0, mask[0]] = 0.0  # constant over its mask (a black MEI), varying outside it
    mask[1] = False  # an empty mask
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        r = masked_correlation(a, b, mask)
    assert np.isnan(r[:2]).all()
    assert r[2] == pytest.approx(np.corrcoef(a[2][mask[2]], b[2][mask[2]])[0, 1])


def test_nan_median_equals_numpys_and_is_nan_without_warnings_when_nothing_is_defined():
    values = np.random.default_rng(2).normal(size=11)
    values[[1, 4, 7]] = np.nan
    assert nan_median(values) == np.nanmedian(values)
    # float32 values (model responses): the middle pair averaged in float32, as numpy does, which
    # differs from the float64 average here
    one = np.float32(1.0)
    pair = np.array([one, np.nextafter(one, np.float32(2)), np.nan, 0.5, 2.0], np.float32)
    assert nan_median(pair) == np.nanmedian(pair)
    assert nan_median(pair) != np.median(pair[~np.isnan(pair)].astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(nan_median([np.nan, np.nan])) and np.isnan(nan_median([]))


def test_pearson_rows_equals_corrcoef():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(9, 30))
    b = a + rng.normal(size=a.shape) * np.linspace(0.1, 3, 9)[:, None]
    a[3] = 1.5  # constant row
    b[5] = 0.0
    expected = [np.nan if i in (3, 5) else np.corrcoef(a[i], b[i])[0, 1] for i in range(a.shape[0])]
    np.testing.assert_allclose(pearson_rows(a, b), expected, rtol=1e-12, atol=1e-12)
    assert np.isnan(pearson_rows(a[:, :1], b[:, :1])).all()
    with pytest.raises(ValueError, match="shapes differ"):
        pearson_rows(a, b[:, :-1])


def test_roc_auc_known_cases():
    labels = np.array([True, True, False, False])
    assert roc_auc([3.0, 4.0, 1.0, 2.0], labels) == 1.0
    assert roc_auc([1.0, 2.0, 3.0, 4.0], labels) == 0.0
    assert roc_auc([5.0, 5.0, 5.0, 5.0], labels) == 0.5
    # pairs (1 vs 2, 1 vs 0, 2 vs 2, 2 vs 0): 0 + 1 + 0.5 + 1 out of 4
    assert roc_auc([1.0, 2.0, 2.0, 0.0], labels) == 0.625
    rng = np.random.default_rng(5)
    scores, flags = rng.integers(0, 6, 200).astype(float), rng.random(200) < 0.4
    assert roc_auc(scores, flags) == pytest.approx(roc_auc_score(flags, scores), abs=1e-12)


def test_roc_auc_rejects_bad_input():
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1.0, 2.0], [True, True])
    with pytest.raises(ValueError, match="finite"):
        roc_auc([1.0, np.nan], [True, False])
    with pytest.raises(ValueError, match="boolean"):
        roc_auc([1.0, 2.0], [1, 0])


def test_zscore_rows():
    x = np.random.default_rng(8).normal(3.0, 2.0, (4, 30))
    x[1] = 5.0
    x[2, 3] = np.nan
    x[3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = zscore_rows(x)
    np.testing.assert_allclose(z[0], zscore(x[0]), rtol=1e-12)
    np.testing.assert_array_equal(z[1], 0.0)
    np.testing.assert_allclose(z[2], zscore(x[2], nan_policy="omit"), rtol=1e-12)
    assert np.isnan(z[2, 3]) and np.isnan(z[3]).all()
    np.testing.assert_array_equal(zscore_rows(np.full(6, 0.1)), 0.0)  # inexact mean: still 0
