"""The simulator's settings: units, cell types, repeats, latency and seed.

Config section ``simulation``; a plain frozen dataclass whose defaults are
``config/config.yaml``'s (see :mod:`meiflow.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SimulationSettings"]


@dataclass(frozen=True)
class SimulationSettings:
    """The simulator behind ``source: simulated`` (config section ``simulation``).

    Attributes:
        seed: seed of every random choice (scenes, neurons, stimulus order, spikes).
        units_per_area: units per brain area (one probe per area).
        cell_types: shares of cell types among units of visual areas (CA1 units are untuned):
            ``simple``, ``complex``, ``center_surround``, ``conjunction``, ``untuned``
            (:mod:`meiflow.simulation.neurons`); types left out get none.
        fraction_failing_quality: share of units whose quality metrics fail AllenSDK's default
            unit filter.
        scene_repeats: repeats of each natural scene and of the blank (three blocks).
        gabor_repeats: repeats of each gabor condition (orientation x position).
        latency_s: response latency of the model neurons after a stimulus onset (s).
        rf_size_scale: factor on the receptive-field sizes of each area's units (areas not
            named: 1): receptive fields grow along the visual hierarchy (mouse: VISp < VISl <
            VISam; Siegle et al. 2021, Nature 592:86).
        modulation_scale: factor on the modulation of each area's units (areas not named: 1):
            responses follow the stimulus less along the hierarchy, so fewer units are
            reliable and fewer have a receptive field the Allen gabors map (Siegle et al. 2021).
        heldout_images: natural images never shown in the session, cut from other photographs,
            with every unit's true rate (``ground_truth.nc``), for the models' held-out scores.
    """

    seed: int = 0
    units_per_area: dict[str, int] = field(
        default_factory=lambda: {"VISp": 40, "VISam": 40, "VISl": 40, "CA1": 8}
    )
    cell_types: dict[str, float] = field(
        default_factory=lambda: {
            "simple": 0.2,
            "complex": 0.2,
            "center_surround": 0.15,
            "conjunction": 0.2,
            "untuned": 0.25,
        }
    )
    fraction_failing_quality: float = 0.15
    scene_repeats: int = 50
    gabor_repeats: int = 15
    latency_s: float = 0.05
    rf_size_scale: dict[str, float] = field(
        default_factory=lambda: {"VISp": 1.0, "VISl": 1.15, "VISam": 1.3}
    )
    modulation_scale: dict[str, float] = field(
        default_factory=lambda: {"VISp": 1.0, "VISl": 0.85, "VISam": 0.85}
    )
    heldout_images: int = 500

    def __post_init__(self) -> None:
        """Check the per-area factors and the held-out images.

        Raises:
            ValueError: a modulation factor outside [0, 1], a size factor not > 0, or fewer than
                2 held-out images (an area the factors name but ``units_per_area`` does not
                simulate is ignored, with a warning in the simulation's log).
        """
        for name in ("rf_size_scale", "modulation_scale"):
            factors = getattr(self, name)
            low, high = (0.0, 1.0) if name == "modulation_scale" else (1e-9, np.inf)
            bad = {area: f for area, f in factors.items() if not low <= f <= high}
            if bad:
                raise ValueError(f"simulation.{name}: factors {bad} outside [{low}, {high}]")
        if self.heldout_images < 2:
            raise ValueError(f"simulation.heldout_images must be >= 2, got {self.heldout_images}")
