"""Reliability scores of units from repeated presentations of natural scenes.

All functions take a spike-count table ``counts`` of shape (n_trials, n_units), non-negative
integer spike counts per trial and unit (zero-count trials included: a table listing only
non-zero counts biases every score), and ``images`` of shape (n_trials,), the natural-scene frame
id of each trial (-1 is the blank screen; the caller decides whether to drop it beforehand, and
every image left in the table counts as an image shown). Everything is vectorized over trials,
images and units. Scores that are undefined for a unit (a constant response, too few pairs) are
NaN, computed without spilling floating-point warnings.

Definitions follow the Sinz-lab neuralpredictors measures and Sensorium; the randomized oracle is
the one of the notebook this project grew from.
"""

import numpy as np
import pandas as pd

from meiflow.stats import group_sums, group_trials, pearson, standardize

__all__ = [
    "fev",
    "image_means",
    "invalid_reason",
    "max_correlation",
    "oracle_correlation",
    "oracle_notebook",
    "response_correlations",
    "response_entropy",
    "response_variance",
    "select_units",
]

#: Relative tolerance within which two correlations count as tied (:func:`max_correlation`):
#: far above float64 round-off of a Pearson r, far below any difference that means something.
TIE_RTOL = 1e-9


def image_means(
    counts: np.ndarray, images: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean spike count of every unit for every image.

    Args:
        counts: (n_trials, n_units) spike counts per trial.
        images: (n_trials,) image id per trial.

    Returns:
        means: (n_images, n_units) float64, mean spike count per trial of each image.
        repeats: (n_images,) int, number of trials (repeats) of each image.
        image_ids: (n_images,) the image ids, sorted ascending (the row order of ``means``).
    """
    _, image_ids, _, repeats, sums = group_trials(counts, images)
    return sums / repeats[:, None], repeats, image_ids


def oracle_correlation(counts: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Jackknife (leave-one-out) oracle correlation of every unit, (n_units,).

    For every trial of every image with at least two repeats, the trial's count is paired with
    the mean count of the other repeats of that image; the score is the Pearson r over all these
    pairs. Images shown once are left out. NaN where either side of the pairs is constant.

    The leave-one-out mean is itself noisy, so the score underestimates the correlation of a
    single trial with the true (noise-free) mean response, the more so with few repeats; the
    within-image pairs (a trial above its image mean leaves a lower mean of the others) pull it
    slightly further down. It is deterministic, unlike :func:`oracle_notebook`.
    """
    counts, _, inverse, repeats, sums = group_trials(counts, images)
    trial_repeats = repeats[inverse]
    paired = trial_repeats >= 2
    trial_counts = counts[paired]
    others = (sums[inverse[paired]] - trial_counts) / (trial_repeats[paired, None] - 1)
    return pearson(trial_counts, others)


def oracle_notebook(
    counts: np.ndarray, images: np.ndarray, n_passes: int = 50, seed: int = 0
) -> np.ndarray:
    """Randomized oracle of the notebook, (n_units,).

    In each pass one random trial is drawn per image with at least two repeats (the same draw
    for all units, like selecting rows of a table) and paired with the mean of the remaining
    trials of that image; the Pearson r across images is multiplied by the fraction
    (images with >= 2 repeats) / (images in the table). The score is the mean over the passes in
    which r is defined (NaN if none is); the passes are computed together.

    Draws: ``rng = np.random.default_rng(seed)``, then one call
    ``rng.integers(0, n, size=(n_passes, n_used))`` where ``n`` (n_used,) are the repeat numbers
    of the images used in ascending image-id order; the draw ``k`` picks the k-th trial of that
    image in table order.

    Compared with :func:`oracle_correlation`, one trial per image gives a noisier r (n_used
    pairs per pass instead of all trials) that, being taken across images only, runs slightly
    higher; like it, it underestimates the correlation with the noise-free mean. The
    image-fraction factor is a penalty, not an estimate: it lowers the score of every unit of a
    table in which some images were shown once. Passes in which a unit's drawn trials are all
    equal are skipped rather than making the score NaN, which slightly favours sparse units.
    """
    counts, _, inverse, repeats, sums = group_trials(counts, images)
    used = np.flatnonzero(repeats >= 2)
    # Trials sorted by image (stable: table order within an image); first trial of every image.
    by_image = np.argsort(inverse, kind="stable")
    first = np.concatenate(([0], np.cumsum(repeats)[:-1]))
    draws = np.random.default_rng(seed).integers(0, repeats[used], size=(n_passes, used.size))
    picked = counts[by_image[first[used] + draws]]  # (n_passes, n_used, n_units)
    rest = (sums[used] - picked) / (repeats[used, None] - 1)
    r = pearson(picked, rest, axis=1)  # (n_passes, n_units)
    defined = np.isfinite(r)
    n_defined = defined.sum(axis=0)
    mean_r = np.divide(
        np.where(defined, r, 0.0).sum(axis=0),
        n_defined,
        out=np.full(r.shape[1], np.nan),
        where=n_defined > 0,
    )
    return mean_r * (used.size / repeats.size)


def fev(counts: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Fraction of explainable variance of every unit, (n_units,).

    ``(total_var - noise_var) / total_var`` with ``total_var`` the variance of the counts over all
    trials (ddof=1) and ``noise_var`` the mean over images with >= 2 repeats of the variance across
    the repeats of that image (ddof=1; an image shown once has no repeat variance). NaN where
    ``total_var`` is 0 or no image has two repeats.

    Both variances are unbiased, their ratio is not: with few repeats FEV is noisy, and it can be
    negative for unreliable units (not clipped). ``total_var`` weights images by their number of
    trials, ``noise_var`` weights them equally, so with unequal repeats the two do not match.
    """
    counts, _, inverse, repeats, sums = group_trials(counts, images)
    means = sums / repeats[:, None]
    squares = group_sums((counts - means[inverse]) ** 2, inverse, repeats.size)
    repeated = repeats >= 2
    repeat_var = squares[repeated] / (repeats[repeated, None] - 1)
    total_var = counts.var(axis=0, ddof=1)
    defined = (total_var > 0) & repeated.any()
    noise_var = repeat_var.sum(axis=0) / max(repeated.sum(), 1)
    return np.divide(
        total_var - noise_var, total_var, out=np.full(total_var.shape, np.nan), where=defined
    )


def response_variance(counts: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Variance across images of the per-image mean counts (ddof=1), (n_units,), counts^2.

    Overestimates the stimulus-driven (signal) variance: each per-image mean carries the noise
    variance of its repeats divided by their number, so a noisy but unselective unit also scores
    high; this is why the notebook combines it with the oracle.
    """
    means, _, _ = image_means(counts, images)
    return means.var(axis=0, ddof=1)


def response_entropy(counts: np.ndarray, images: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Shannon entropy (bits) of every unit's per-image mean responses, (n_units,).

    The per-image means of a unit are binned into ``n_bins`` equal-width bins spanning that unit's
    own range [min, max] (as ``np.histogram(means, bins=n_bins)``: half-open bins, the last one
    closed), and ``H = -sum_b p_b log2 p_b`` over the non-empty bins, p_b the fraction of images
    in bin b. The score is invariant to the unit's scale and offset and lies in
    [0, log2(min(n_bins, n_images))]: low for a sparse unit driven by a few images, high for
    responses spread evenly over their range. NaN where all per-image means are equal.

    The plug-in estimate underestimates the entropy of the underlying distribution (by about
    (n_nonempty_bins - 1) / (2 n_images ln 2) bits) and depends on ``n_bins``; a single outlying
    image compresses all others into the lowest bins.
    """
    means, _, _ = image_means(counts, images)
    n_images, n_units = means.shape
    low, high = means.min(axis=0), means.max(axis=0)
    # Inner edges computed as np.linspace does, so that a value on an edge gets the same bin.
    edges = np.arange(1, n_bins)[:, None] * ((high - low) / n_bins) + low  # (n_bins - 1, n_units)
    bins = np.sum(means[:, None, :] >= edges, axis=1)  # (n_images, n_units), 0 .. n_bins - 1
    flat = (bins + np.arange(n_units) * n_bins).ravel()
    hist = np.bincount(flat, minlength=n_units * n_bins).reshape(n_units, n_bins)
    p = hist / n_images
    entropy = -np.sum(p * np.log2(np.where(p > 0, p, 1.0)), axis=1)
    return np.where(high > low, entropy, np.nan)


def response_correlations(counts: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(n_units, n_units) Pearson r across images between the units' per-image mean responses.

    Rows and columns of constant units are NaN (computed without warnings); the diagonal of the
    others is 1. Shared trial-to-trial noise inflates the values (see :func:`max_correlation`).
    """
    means, _, _ = image_means(counts, images)
    return means_correlations(means)


def means_correlations(means: np.ndarray) -> np.ndarray:
    """(n_units, n_units) Pearson r between the columns of ``means`` (n_images, n_units).

    Constant columns (and columns with a NaN) give NaN rows and columns.
    """
    z = standardize(means)
    return np.clip(z.T @ z, -1.0, 1.0)


def max_correlation(counts: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Highest correlation of every unit's per-image mean responses with another unit's.

    Flags duplicated units (the same neuron sorted twice gives r near 1); shared noise across
    repeats and the sampling of 118 images both inflate it, so it overestimates the similarity of
    the units' tuning.

    Returns:
        max_r: (n_units,) the largest Pearson r across images between the unit's per-image means
            and those of any other unit; NaN when the unit or all other units are constant.
        partner_index: (n_units,) int, column of ``counts`` of that other unit, -1 where ``max_r``
            is NaN. Correlations within ``TIE_RTOL`` of the largest (relative, and absolute near 0)
            are ties, broken by the lowest column, so the partner does not hang on round-off.
        Both empty for a table without units.
    """
    return max_mean_correlation(image_means(counts, images)[0])


def max_mean_correlation(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`max_correlation` of per-image means (n_images, n_units) computed beforehand.

    For units whose means come from different trials (their own valid trials, see
    :func:`meiflow.ingest.counts.valid_subsets`).
    """
    r = means_correlations(means)
    if r.shape[0] == 0:  # no unit (e.g. an area whose units are all invalid)
        return np.empty(0), np.empty(0, dtype=np.int64)
    r[np.isnan(r)] = -np.inf
    np.fill_diagonal(r, -np.inf)
    best = r.max(axis=1)
    defined = np.isfinite(best)
    # ties (equal up to round-off, as for two copies of one unit) go to the lowest column
    tied = np.isclose(r, best[:, None], rtol=TIE_RTOL, atol=TIE_RTOL) & defined[:, None]
    partner = np.argmax(tied, axis=1)
    return np.where(defined, best, np.nan), np.where(defined, partner, -1)


def select_units(
    table: pd.DataFrame,
    oracle_percentile: float = 60,
    variance_percentile: float = 50,
    min_fev: float | None = None,
    max_units: int | None = None,
) -> pd.Series:
    """The notebook's selection rule; boolean Series aligned with ``table``.

    ``table`` has one row per unit and columns ``oracle`` (either oracle estimator) and
    ``response_variance``, plus ``fev`` when ``min_fev`` is given. A unit is selected when

    - ``oracle > percentile(oracle, oracle_percentile)`` (strict), and
    - ``response_variance > percentile(response_variance, variance_percentile)`` (strict), and
    - ``fev >= min_fev`` if ``min_fev`` is given (non-strict, as "FEV >= 0.15" in Sensorium).

    Each percentile is taken over the rows where that score is finite, with linear interpolation
    (``np.percentile`` and ``pandas.Series.quantile``). Strict comparisons mean that units tied
    at a threshold are left out, and a column whose finite values are all equal selects nothing.
    Rows with a NaN in a score used are never selected. With ``max_units``, only the selected
    units with the highest oracle are kept (ties in table order).
    """
    used = ["oracle", "response_variance"] + (["fev"] if min_fev is not None else [])
    scores = table[used].to_numpy(dtype=np.float64)
    finite = np.isfinite(scores)
    ranked = np.where(finite, scores, -np.inf)  # a non-finite score passes no threshold
    keep = finite.all(axis=1)
    for column, percentile in ((0, oracle_percentile), (1, variance_percentile)):
        if finite[:, column].any():
            keep &= ranked[:, column] > np.percentile(scores[finite[:, column], column], percentile)
    if min_fev is not None:
        keep &= ranked[:, 2] >= min_fev
    if max_units is not None and keep.sum() > max_units:
        order = np.argsort(-np.where(keep, ranked[:, 0], -np.inf), kind="stable")
        keep[order[max_units:]] = False
    return pd.Series(keep, index=table.index, name="selected")


def invalid_reason(counts: np.ndarray, images: np.ndarray, min_spikes: int = 50) -> np.ndarray:
    """Why a unit's scores are unusable, (n_units,) str; "" for a usable unit.

    Reasons, the first that applies: ``"no spikes"`` (all counts 0), ``"too few spikes (N < M)"``
    (total count N below ``min_spikes`` M: the per-image means are then mostly 0 and every score
    rests on a handful of spikes; the default 50 is fewer than one spike per two scenes in a
    118-scene table), ``"constant response"`` (the same count on every trial),
    ``"constant image means"`` (all per-image means equal: no tuning to correlate), ``"no image
    shown twice"`` (no repeats: the oracle and FEV are undefined for every unit). The caller sets
    all scores of such units to NaN. A table without units gives an empty array.
    """
    counts = np.asarray(counts)
    means, repeats, _ = image_means(counts, images)
    total = counts.sum(axis=0)
    too_few = np.char.add(np.char.add("too few spikes (", total.astype(str)), f" < {min_spikes})")
    conditions = [
        total == 0,
        total < min_spikes,
        np.ptp(counts, axis=0) == 0,
        np.ptp(means, axis=0) == 0,
        np.full(total.shape, repeats.max(initial=0) < 2),
    ]
    reasons = np.select(
        conditions,
        ["no spikes", too_few, "constant response", "constant image means", "no image shown twice"],
        default="",
    )
    return reasons.astype(str)
