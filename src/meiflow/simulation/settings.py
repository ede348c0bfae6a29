"""The simulator's settings: units, cell types, repeats, latency and seed.

Config section ``simulation``; a plain frozen dataclass whose defaults are
``config/config.yaml``'s (see :mod:`meiflow.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SimulationSettings"]


@dataclass(frozen=True)
class SimulationSettings:
    """The simulator behind ``source: simulated`` (config section ``simulation``).

    Attributes:
        seed: seed of every random choice (scenes, neurons, stimulus order, spikes).
        units_per_area: units per brain area (one probe per area).
        cell_types: shares of cell types among units of visual areas (CA1 units are untuned).
        fraction_failing_quality: share of units whose quality metrics fail AllenSDK's default
            unit filter.
        scene_repeats: repeats of each natural scene and of the blank (three blocks).
        gabor_repeats: repeats of each gabor condition (orientation x position).
        latency_s: response latency of the model neurons after a stimulus onset (s).
    """

    seed: int = 0
    units_per_area: dict[str, int] = field(
        default_factory=lambda: {"VISp": 40, "VISam": 40, "VISl": 40, "CA1": 8}
    )
    cell_types: dict[str, float] = field(
        default_factory=lambda: {"simple": 0.4, "complex": 0.35, "untuned": 0.25}
    )
    fraction_failing_quality: float = 0.15
    scene_repeats: int = 50
    gabor_repeats: int = 15
    latency_s: float = 0.05
