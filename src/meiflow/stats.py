"""Generic statistics used across the stages.

Grouping trials by image, standardizing, Pearson r (batched, row-wise and masked), z-scoring rows,
the ROC AUC and the median of the defined values.

Everything is vectorized over the batch axes and returns NaN, without floating-point warnings,
where a statistic is undefined.
"""

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "group_sums",
    "group_trials",
    "masked_correlation",
    "nan_median",
    "pearson",
    "pearson_rows",
    "roc_auc",
    "standardize",
    "zscore_rows",
]


def group_sums(values: np.ndarray, inverse: np.ndarray, n_images: int) -> np.ndarray:
    """Sum the rows of ``values`` (n_trials, n_units) per image: (n_images, n_units) float64.

    One bincount over the flattened (image, unit) index; integer counts are summed exactly.
    """
    n_units = values.shape[1]
    flat = inverse[:, None] * n_units + np.arange(n_units)
    sums = np.bincount(flat.ravel(), weights=values.ravel(), minlength=n_images * n_units)
    return sums.reshape(n_images, n_units)


def group_trials(
    counts: np.ndarray, images: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group the trials by image.

    Returns:
        counts: ``counts`` as float64 (n_trials, n_units).
        image_ids: (n_images,) sorted.
        inverse: (n_trials,) the row of each trial's image in ``image_ids``.
        repeats: (n_images,) the number of trials of each image.
        sums: (n_images, n_units) the summed counts of each image.
    """
    counts = np.asarray(counts, dtype=np.float64)
    image_ids, inverse, repeats = np.unique(
        np.asarray(images), return_inverse=True, return_counts=True
    )
    return counts, image_ids, inverse, repeats, group_sums(counts, inverse, image_ids.size)


def standardize(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Centre ``x`` along ``axis`` and scale it to unit Euclidean norm there.

    Slices that are constant along ``axis`` (exact test on the range) become NaN, so that a
    product-sum of two standardized arrays is their Pearson r, NaN where it is undefined.
    """
    centred = x - x.mean(axis=axis, keepdims=True)
    norm = np.sqrt(np.sum(centred**2, axis=axis, keepdims=True))
    varies = np.ptp(x, axis=axis, keepdims=True) > 0
    return np.divide(centred, norm, out=np.full(centred.shape, np.nan), where=varies)


def pearson(x: np.ndarray, y: np.ndarray, axis: int = 0) -> np.ndarray:
    """Pearson r of ``x`` and ``y`` (same shape) along ``axis``; the other axes are batched.

    NaN where either side is constant or fewer than two pairs exist; clipped to [-1, 1].
    """
    if x.shape[axis] < 2:
        return np.full(np.delete(x.shape, axis), np.nan)
    r = np.sum(standardize(x, axis) * standardize(y, axis), axis=axis)
    return np.clip(r, -1.0, 1.0)


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson r of two arrays of the same shape (..., n), e.g. (n_units, n): (...,).

    E.g. predicted vs true rates of simulated units on test scenes. NaN for rows in which either
    side is constant (or n < 2), without warnings; clipped to [-1, 1].
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    return pearson(a, b, axis=-1)


def zscore_rows(x: np.ndarray) -> np.ndarray:
    """Z-score every row (along the last axis): (x - mean) / sd, sd with ddof 0.

    NaN entries are ignored by the statistics and stay NaN; a row whose finite values are all
    equal (constant, e.g. a silent unit) becomes zeros, an all-NaN row stays NaN. No warnings.

    Returns:
        An array of the shape of ``x``, float64.
    """
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    n = finite.sum(axis=-1, keepdims=True)
    values = np.where(finite, x, 0.0)
    mean = np.divide(values.sum(axis=-1, keepdims=True), n, out=np.zeros(n.shape), where=n > 0)
    centred = np.where(finite, x - mean, 0.0)
    sd = np.sqrt(
        np.divide((centred**2).sum(axis=-1, keepdims=True), n, out=np.zeros(n.shape), where=n > 0)
    )
    high = np.where(finite, x, -np.inf).max(axis=-1, keepdims=True, initial=-np.inf)
    low = np.where(finite, x, np.inf).min(axis=-1, keepdims=True, initial=np.inf)
    varies = (high > low) & (sd > 0)
    z = np.divide(centred, sd, out=np.zeros(x.shape), where=varies)
    return np.where(finite, z, np.nan)


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve of scores for labels True vs False (Mann-Whitney U / (n+ n-)).

    The probability that a random positive scores above a random negative, ties counted half:
    1 for a perfect separation, 0 for a perfectly inverted one, 0.5 when all scores tie.
    Compares all n+ x n- pairs at once (memory n+ * n- booleans).

    Args:
        scores: (n,) finite real scores (e.g. phase_invariance_index).
        labels: (n,) booleans (e.g. True = complex cell); both classes must occur.

    Returns:
        The area under the curve, in [0, 1].

    Raises:
        ValueError: shapes that are not (n,), labels that are not booleans, non-finite scores,
            or a class that does not occur.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or scores.shape != labels.shape or labels.dtype != bool:
        raise ValueError(
            f"scores and labels must be (n,) with boolean labels, got {scores.shape} and "
            f"{labels.shape} {labels.dtype}"
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    positive, negative = scores[labels], scores[~labels]
    if positive.size == 0 or negative.size == 0:
        raise ValueError("both classes (True and False) must occur in labels")
    diff = positive[:, None] - negative[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def masked_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pearson r of a[k] and b[k] over the pixels where mask[k]; all (n, H, W) -> (n,).

    NaN, without warnings, where either side is constant over its mask or the mask is empty.
    """
    weight = mask.astype(float)
    count = np.maximum(weight.sum(axis=(-2, -1), keepdims=True), 1.0)  # empty mask: r is NaN
    da = (a - (a * weight).sum(axis=(-2, -1), keepdims=True) / count) * weight
    db = (b - (b * weight).sum(axis=(-2, -1), keepdims=True) / count) * weight
    covariance = (da * db).sum(axis=(-2, -1))
    norm = np.sqrt((da**2).sum(axis=(-2, -1)) * (db**2).sum(axis=(-2, -1)))
    return np.divide(covariance, norm, out=np.full(covariance.shape, np.nan), where=norm > 0)


def nan_median(values: ArrayLike) -> float:
    """Median of the values that are not NaN, as ``np.nanmedian``.

    Returns NaN, without a warning, where there is none (no value, or all NaN).
    """
    values = np.asarray(values)  # in its own precision, as np.nanmedian: float32 stays float32
    defined = values[~np.isnan(values)]
    return float(np.median(defined)) if defined.size else np.nan
