"""The metrics stage's settings: the image metrics' mask, the model's mask and the MEI flag.

Config section ``metrics``; a plain frozen dataclass whose defaults are ``config/config.yaml``'s
(see :mod:`meiflow.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MetricsSettings"]


@dataclass(frozen=True)
class MetricsSettings:
    """Image metrics of the MEIs and Gabors (config section ``metrics``).

    Attributes:
        mask_fraction: the share of an image's departure from its background that the mask
            around it holds (see :func:`image_mask`).
        rf_mask_fraction: the share of the model's gradient energy that its receptive-field
            mask holds (:func:`meiflow.metrics.trust.rf_mask`).
        max_init_spread: an MEI whose predicted response varies across starts by more than
            this share of the best is flagged (:func:`meiflow.metrics.trust.mei_flags`).
        max_ensemble_spread: ... whose members' predicted responses have a larger coefficient
            of variation is flagged.
        min_model_correlation: ... whose model's mean correlation on the validation and on the
            test scenes is lower is flagged.

    Raises:
        ValueError: a fraction outside (0, 1], a negative spread limit, or a correlation limit
            outside [-1, 1].
    """

    mask_fraction: float = 0.9
    rf_mask_fraction: float = 0.99
    max_init_spread: float = 0.1
    max_ensemble_spread: float = 0.2
    min_model_correlation: float = 0.6

    def __post_init__(self) -> None:
        """Check the ranges (see the class docstring)."""
        for name in ("mask_fraction", "rf_mask_fraction"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"metrics.{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("max_init_spread", "max_ensemble_spread"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"metrics.{name} must be >= 0, got {getattr(self, name)}")
        if not -1 <= self.min_model_correlation <= 1:
            raise ValueError(
                "metrics.min_model_correlation must be in [-1, 1], got "
                f"{self.min_model_correlation}"
            )
