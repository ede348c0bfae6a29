"""The metrics stage's settings: the mask of the image metrics.

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
    """

    mask_fraction: float = 0.9
