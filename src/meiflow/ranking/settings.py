"""The ranking stage's settings: reliability scores, receptive fields, selection rule.

Config section ``ranking``; a plain frozen dataclass whose defaults are ``config/config.yaml``'s
(see :mod:`meiflow.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RankingSettings"]


@dataclass(frozen=True)
class RankingSettings:
    """Reliability scores, receptive fields and the selection rule (config section ``ranking``).

    Attributes:
        include_blank: count the blank (frame -1) as an image in the reliability scores.
        min_spikes: units with fewer spikes over all scene trials get NaN scores and a reason.
        notebook_passes: passes of the notebook's randomized oracle estimator.
        entropy_bins: bins of the histogram of per-image means whose entropy is reported.
        anomaly_estimators: trees of the isolation forest that flags anomalous units.
        seed: seed of the randomized oracle, the isolation forest and the receptive-field
            shuffles.
        oracle_percentile: selected units have an oracle above this percentile of the area's.
        variance_percentile: ... and a variance of the per-image means above this percentile.
        min_fev: ... and, if not None, an FEV at least this (Sensorium: 0.15).
        max_units: keep at most this many units (best oracle first); None: no cap.
        rf_shuffles: shuffles of the gabor position labels for a receptive field's p-value.
        rf_alpha: significance level below which a map counts as a receptive field.
    """

    include_blank: bool = False
    min_spikes: int = 50
    notebook_passes: int = 50
    entropy_bins: int = 10
    anomaly_estimators: int = 200
    seed: int = 0
    oracle_percentile: float = 60.0
    variance_percentile: float = 50.0
    min_fev: float | None = None
    max_units: int | None = None
    rf_shuffles: int = 1000
    rf_alpha: float = 0.01
