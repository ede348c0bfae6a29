"""Anomalous units: the notebook's isolation forest over the units' per-image mean responses.

A descriptive statistic, not a quality filter: it points at units whose responses across the
images look unlike those of the other units of the table.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from meiflow.stats import zscore_rows

__all__ = ["anomaly_scores"]


def anomaly_scores(
    responses: np.ndarray,
    seed: int = 0,
    n_estimators: int = 200,
    contamination: float | str = "auto",
    *,
    standardize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Isolation-forest anomaly score and flag of every unit.

    Args:
        responses: (n_units, n_images) per-image mean responses (one row per unit, the images are
            the features). Rows with any non-finite value (units with invalid responses) are left
            out of the fit and get score NaN, flag False.
        seed: ``random_state`` of the forest; the result is deterministic for a seed.
        n_estimators: number of trees.
        contamination: sklearn's ``contamination``: ``"auto"`` flags the units whose score
            exceeds 0.5 (the threshold of the original paper), a float in (0, 0.5] flags that
            fraction of the valid units.
        standardize: z-score each unit's row across images first
            (:func:`meiflow.stats.zscore_rows`; a constant row becomes zeros), so that the
            forest looks at the *shape* of the tuning across images, not at its scale. Without it
            the features are in the response's units and the most isolated units are mostly those
            with the highest (or lowest) overall rate or response range, which the firing rate and
            response variance already report; with it a unit is anomalous for an unusual pattern,
            e.g. driven by a single image. Default True.

    Returns:
        score: (n_units,) float64, higher = more anomalous: ``-IsolationForest.score_samples``,
            i.e. the anomaly score s(x, n) = 2 ** (-E[h(x)] / c(n)) of Liu et al. (2008), in
            (0, 1] (sklearn's ``score_samples`` is its opposite, lower = more abnormal). Values
            near 1 are isolated quickly; well below 0.5 are ordinary.
        flag: (n_units,) bool, the forest's outlier prediction (``predict == -1``).

        With fewer than two valid units (or no images) there is nothing to compare: all NaN /
        False.
    """
    x = np.asarray(responses, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"responses must be (n_units, n_images), got shape {x.shape}")
    n_units = x.shape[0]
    score = np.full(n_units, np.nan)
    flag = np.zeros(n_units, dtype=bool)
    valid = np.isfinite(x).all(axis=1)
    if valid.sum() < 2 or x.shape[1] == 0:
        return score, flag
    features = zscore_rows(x[valid]) if standardize else x[valid]
    forest = IsolationForest(
        n_estimators=n_estimators, contamination=contamination, random_state=seed
    ).fit(features)
    score[valid] = -forest.score_samples(features)
    flag[valid] = forest.predict(features) == -1
    return score, flag
