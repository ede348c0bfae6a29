"""The ingest stage's settings: the counting window and the PSTH timing.

Config keys ``counting_window`` and ``timing``; plain frozen dataclasses whose defaults are
``config/config.yaml``'s (see :mod:`meiflow.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CountingWindow", "TimingSettings"]


@dataclass(frozen=True)
class CountingWindow:
    """The spike-counting window [start, stop), in s after each presentation's onset.

    Config key ``counting_window`` (``{start, stop}``; or ``auto``, see :func:`counting_window`).

    Raises:
        ValueError: ``stop`` not after ``start``.
    """

    start: float = 0.0
    stop: float = 0.25

    def __post_init__(self) -> None:
        """Check that the window is not empty."""
        if not self.stop > self.start:
            raise ValueError(f"stop ({self.stop}) must be after start ({self.start})")


@dataclass(frozen=True)
class TimingSettings:
    """PSTHs of the natural-scene presentations and the raster (config section ``timing``).

    Attributes:
        psth_bin_s: PSTH bin width (s).
        psth_start_s: start of the PSTH window relative to each onset (s).
        psth_stop_s: end of the PSTH window relative to each onset (s).
        smoothing_sd_s: standard deviation of the Gaussian kernel that smooths the PSTH (s).
        raster_bin_s: bin width of the population raster over the scene blocks (s).
    """

    psth_bin_s: float = 0.005
    psth_start_s: float = -0.1
    psth_stop_s: float = 0.35
    smoothing_sd_s: float = 0.01
    raster_bin_s: float = 0.1
