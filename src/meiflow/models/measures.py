"""Scores of model predictions against recorded responses, as in neuralpredictors and Sensorium.

The response tables are those of :mod:`meiflow.ranking.reliability`: ``counts`` (n_trials, n_units)
spike counts per trial (zero-count trials included) and ``images`` (n_trials,) the image id of each
trial. A model gives ONE prediction per image and unit, ``predicted`` (n_images, n_units), its
rows in the order of the sorted unique image ids of ``images`` (the row order of
:func:`meiflow.ranking.reliability.image_means`). Everything is vectorized over trials, images and
units; scores that are undefined for a unit are NaN, computed without spilling floating-point
warnings.

Which estimator to read how:

- :func:`correlation_to_average` (Pearson r of prediction and per-image mean response) is bounded
  below 1 by the noise left in the means; it rises with the number of repeats, so values from
  tables with different repeats are not comparable.
- :func:`feve` (fraction of explainable variance explained) corrects the squared error for the
  trial-to-trial noise; it is unbiased-ish in numerator and denominator but a noisy ratio, wild
  for units with little explainable variance (hence Sensorium's FEV >= 0.15 filter).
- :func:`fraction_of_oracle` relates a test correlation to the unit's oracle correlation.
- :func:`meiflow.stats.pearson_rows` is the plain row-wise r, e.g. for predicted vs true rates of
  simulated units.
"""

import numpy as np

from meiflow.stats import group_sums, group_trials, pearson

__all__ = ["correlation_to_average", "feve", "fraction_of_oracle"]


def _check_predicted(predicted: np.ndarray, n_images: int, n_units: int) -> np.ndarray:
    """``predicted`` as float64, checked to have one row per image of the table."""
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.shape != (n_images, n_units):
        raise ValueError(
            f"predicted has shape {predicted.shape}, expected (n_images, n_units) = "
            f"{(n_images, n_units)}: one row per unique image id of the table, in sorted order"
        )
    return predicted


def correlation_to_average(
    predicted: np.ndarray, counts: np.ndarray, images: np.ndarray
) -> np.ndarray:
    """Pearson r across images of the prediction and the mean response over repeats, (n_units,).

    Every image of the table counts once, whatever its number of repeats. NaN where the
    prediction or the per-image means of a unit are constant, or fewer than two images exist.

    Underestimates the correlation with the noise-free mean response: each per-image mean still
    carries the noise variance of its repeats divided by their number, so even a perfect model
    scores below 1 (about ``sqrt(signal_var / (signal_var + noise_var / repeats))``), and the
    score rises with the number of repeats. Overestimates generalization when the prediction was
    fitted to these same images (use held-out images).

    Args:
        predicted: (n_images, n_units) one prediction per image, rows in the order of the sorted
            unique image ids of ``images``.
        counts: (n_trials, n_units) spike counts per trial.
        images: (n_trials,) image id per trial.
    """
    _, _, _, repeats, sums = group_trials(counts, images)
    means = sums / repeats[:, None]
    predicted = _check_predicted(predicted, *means.shape)
    return pearson(predicted, means)


def single_trial_correlation(
    predicted: np.ndarray, counts: np.ndarray, images: np.ndarray
) -> np.ndarray:
    """Pearson r over trials of every trial's count and its image's prediction, (n_units,).

    Parameters are as in :func:`correlation_to_average`. The single-trial counterpart of
    :func:`meiflow.ranking.reliability.oracle_correlation` (the numerator of
    :func:`fraction_of_oracle`):
    trial-to-trial noise caps it well below 1 even for a perfect model, at about the oracle.
    """
    counts, _, inverse, repeats, sums = group_trials(counts, images)
    predicted = _check_predicted(predicted, repeats.size, sums.shape[1])
    return pearson(predicted[inverse], counts)


def feve(predicted: np.ndarray, counts: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Fraction of explainable variance explained of every unit, (n_units,).

    ``1 - (MSE - noise_var) / (total_var - noise_var)`` where ``MSE`` is the mean over all trials
    of (count - prediction of the trial's image)^2, ``total_var`` the variance of the counts over
    all trials (ddof=1) and ``noise_var`` the mean over images with >= 2 repeats of the variance
    across the repeats of that image (ddof=1), as in :func:`meiflow.ranking.reliability.fev` (an
    image shown once has no repeat variance, but its trials count in ``MSE`` and ``total_var``). NaN
    where ``total_var <= noise_var`` (no explainable variance; includes constant units) or no
    image has two repeats.

    Parameters are as in :func:`correlation_to_average`.

    Predicting the true mean rates gives 1 in expectation (``MSE`` then estimates the noise
    variance, with equal repeats); predicting the grand mean gives about 0
    (exactly ``(total_var / n_trials) / (total_var - noise_var)``). Not clipped: it is negative
    for predictions worse than the grand mean, and it exceeds 1 when the prediction was fitted to
    these trials (the in-sample per-image means give ``1 + noise_var / (r (total_var -
    noise_var))`` with r repeats per image), so it overestimates on training data. Numerator and
    denominator are differences of unbiased variances, their ratio is not unbiased and is very
    noisy when ``total_var - noise_var`` is small: Sensorium reports it only for units with
    FEV >= 0.15. ``MSE`` and ``total_var`` weight images by their trials, ``noise_var`` weights
    them equally, so with unequal repeats the correction is approximate. Same as
    neuralpredictors' ``fev`` (``return_exp_var=False``), which however gives NaN as soon as an
    image is shown once.
    """
    counts, _, inverse, repeats, sums = group_trials(counts, images)
    means = sums / repeats[:, None]
    predicted = _check_predicted(predicted, *means.shape)
    mse = np.mean((counts - predicted[inverse]) ** 2, axis=0)
    squares = group_sums((counts - means[inverse]) ** 2, inverse, repeats.size)
    repeated = repeats >= 2
    noise_var = np.sum(squares[repeated] / (repeats[repeated, None] - 1), axis=0) / max(
        repeated.sum(), 1
    )
    total_var = counts.var(axis=0, ddof=1) if counts.shape[0] >= 2 else np.zeros(counts.shape[1])
    explainable = total_var - noise_var
    defined = (explainable > 0) & repeated.any()
    return np.divide(
        explainable - (mse - noise_var),
        explainable,
        out=np.full(explainable.shape, np.nan),
        where=defined,
    )


def fraction_of_oracle(test_correlation: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """Test correlation as a fraction of the oracle correlation, per unit (same shape).

    ``test_correlation / oracle``, NaN where ``oracle <= 0`` or either is not finite. Walker et
    al. 2019 / neuralpredictors report instead the slope through the origin of test correlation
    vs oracle across units, ``sum(t * o) / sum(o^2)``, which weights units by their oracle.

    Both must be computed on the same kind of response, single trials of the same test images
    (the jackknife oracle of :func:`meiflow.ranking.reliability.oracle_correlation` is a
    single-trial score): a correlation to the average over repeats divided by a single-trial oracle
    exceeds 1 for a good model. The oracle (a leave-one-out mean of few repeats) underestimates the
    achievable correlation, so the fraction overestimates how close the model gets to it and can
    exceed 1; for units with an oracle near 0 the ratio of two noisy numbers is meaningless,
    hence the slope across units (or an oracle threshold) in the literature.
    """
    test_correlation = np.asarray(test_correlation, dtype=np.float64)
    oracle = np.asarray(oracle, dtype=np.float64)
    defined = (oracle > 0) & np.isfinite(test_correlation) & np.isfinite(oracle)
    shape = np.broadcast_shapes(test_correlation.shape, oracle.shape)
    return np.divide(test_correlation, oracle, out=np.full(shape, np.nan), where=defined)
