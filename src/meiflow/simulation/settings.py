"""The simulator's settings: units, cell types, repeats, latency and seed.

Config section ``simulation``; a plain frozen dataclass whose defaults are
``config/config.yaml``'s (see :mod:`meiflow.settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CELL_TYPES", "VISUAL_PREFIX", "SimulationSettings", "check_cell_type_shares"]

#: The simulator's cell types (:mod:`meiflow.simulation.neurons`).
CELL_TYPES = ("simple", "complex", "center_surround", "conjunction", "untuned")

#: Areas whose acronym starts with this are visual; the others hold untuned units only.
VISUAL_PREFIX = "VIS"


def check_cell_type_shares(shares: Mapping[str, float], where: str) -> None:
    """Check one mix of cell-type shares (cell type -> share, normalized by its users).

    Args:
        shares: the mix.
        where: named in the error (a config key, or the caller's argument).

    Raises:
        ValueError: a type not among CELL_TYPES, a negative share, or shares all 0.
    """
    unknown = sorted(set(shares) - set(CELL_TYPES))
    if unknown:
        raise ValueError(f"{where}: unknown cell types {unknown}; known: {CELL_TYPES}")
    if any(v < 0 for v in shares.values()) or not sum(shares.values()) > 0:
        raise ValueError(f"{where}: shares must be >= 0 and not all 0, got {dict(shares)}")


@dataclass(frozen=True)
class SimulationSettings:
    """The simulator behind ``source: simulated`` (config section ``simulation``).

    Attributes:
        seed: seed of every random choice (scenes, neurons, stimulus order, spikes).
        units_per_area: units per brain area (one probe per area).
        cell_types: shares of cell types among the units of visual areas (areas outside the
            visual cortex, such as CA1, hold untuned units only): ``simple``, ``complex``,
            ``center_surround``, ``conjunction``, ``untuned``
            (:mod:`meiflow.simulation.neurons`; types left out get none). Either one mapping of
            shares for every visual area, or one per area (area -> shares), naming every
            simulated visual area. The default mixes change along the hierarchy: in VISp half the
            units are simple and complex cells, in VISl and VISam a quarter and a fifth, with
            more conjunction units and more centre-surround units, which natural scenes drive
            but the Allen gabors hardly do, as fewer neurons respond to gratings and fewer have
            a mapped receptive field in the higher areas (de Vries et al. 2020, Nat Neurosci
            23:138; Siegle et al. 2021, Nature 592:86).
        fraction_failing_quality: share of units whose quality metrics fail AllenSDK's default
            unit filter.
        scene_repeats: repeats of each natural scene and of the blank (three blocks).
        gabor_repeats: repeats of each gabor condition (orientation x position).
        latency_s: response latency of the model neurons after a stimulus onset (s).
        rf_size_scale: factor on the receptive-field sizes of each area's units (areas not
            named: 1): receptive fields grow along the visual hierarchy (mouse: VISp < VISl <
            VISam; Siegle et al. 2021, Nature 592:86).
        modulation_range: [low, high] of the uniform draw of each area's units' modulation
            (0 <= low <= high <= 1; areas not named: MODULATION_RANGE of
            :mod:`meiflow.simulation.neurons`): responses follow the stimulus less along the
            hierarchy, so fewer units are reliable and fewer have a receptive field the Allen
            gabors map (Siegle et al. 2021).
        heldout_images: natural images never shown in the session, cut from other photographs,
            with every unit's true rate (``ground_truth.nc``), for the models' held-out scores.
    """

    seed: int = 0
    units_per_area: dict[str, int] = field(
        default_factory=lambda: {"VISp": 40, "VISam": 40, "VISl": 40, "CA1": 8}
    )
    cell_types: dict[str, float] | dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "VISp": {
                "simple": 0.2,
                "complex": 0.3,
                "center_surround": 0.05,
                "conjunction": 0.2,
                "untuned": 0.25,
            },
            "VISl": {
                "simple": 0.15,
                "complex": 0.1,
                "center_surround": 0.25,
                "conjunction": 0.25,
                "untuned": 0.25,
            },
            "VISam": {
                "simple": 0.1,
                "complex": 0.1,
                "center_surround": 0.3,
                "conjunction": 0.25,
                "untuned": 0.25,
            },
        }
    )
    fraction_failing_quality: float = 0.15
    scene_repeats: int = 50
    gabor_repeats: int = 15
    latency_s: float = 0.05
    rf_size_scale: dict[str, float] = field(
        default_factory=lambda: {"VISp": 1.0, "VISl": 1.15, "VISam": 1.3}
    )
    modulation_range: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"VISp": (0.3, 1.0), "VISl": (0.13, 0.85), "VISam": (0.13, 0.85)}
    )
    heldout_images: int = 500

    def __post_init__(self) -> None:
        """Check the cell-type shares, the per-area factors and the held-out images.

        Raises:
            ValueError: cell-type shares that are neither one mapping of numbers nor one per
                area, per-area shares that leave out a visual area of ``units_per_area``, or
                shares negative or all zero; a size factor not > 0; a modulation range not
                0 <= low <= high <= 1; or fewer than 2 held-out images (an area the per-area
                keys name but ``units_per_area`` does not simulate is ignored, with a warning in
                the simulation's log).
        """
        for area, shares in self.cell_type_mixes().items():
            check_cell_type_shares(shares, "simulation.cell_types" + (f".{area}" if area else ""))
        for area in self.units_per_area:
            if area.startswith(VISUAL_PREFIX):
                self.cell_types_of(area)  # raises naming an area the shares leave out
        bad = {area: f for area, f in self.rf_size_scale.items() if not f > 0}
        if bad:
            raise ValueError(f"simulation.rf_size_scale: factors {bad} must be > 0")
        bad = {
            area: r
            for area, r in self.modulation_range.items()
            if not isinstance(r, (list, tuple)) or len(r) != 2 or not 0.0 <= r[0] <= r[1] <= 1.0
        }
        if bad:
            raise ValueError(
                f"simulation.modulation_range: {bad} must be [low, high], 0 <= low <= high <= 1"
            )
        # a config's [low, high] lists as the default's tuples
        object.__setattr__(
            self, "modulation_range", {a: tuple(r) for a, r in self.modulation_range.items()}
        )
        if self.heldout_images < 2:
            raise ValueError(f"simulation.heldout_images must be >= 2, got {self.heldout_images}")

    def cell_type_mixes(self) -> dict[str, dict[str, float]]:
        """The cell-type shares by area, as given (not normalized).

        Returns:
            area -> (cell type -> share); the single key ``""`` where one mapping serves every
            visual area.

        Raises:
            ValueError: ``cell_types`` neither maps cell types to shares nor areas to such
                mappings.
        """
        values = list(self.cell_types.values())
        if all(isinstance(v, Mapping) for v in values) and values:
            return dict(self.cell_types)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return {"": dict(self.cell_types)}
        raise ValueError(
            "simulation.cell_types must map cell types to shares, or areas to such mappings; "
            f"got {self.cell_types}"
        )

    def cell_types_of(self, area: str) -> dict[str, float]:
        """The cell-type shares of one visual area's units.

        Args:
            area: a visual area's acronym (starting with VISUAL_PREFIX).

        Returns:
            cell type -> share (as given; :func:`meiflow.simulation.neurons.sample_unit_params`
            normalizes them).

        Raises:
            ValueError: per-area shares that do not name the area, or ``cell_types`` of neither
                form.
        """
        mixes = self.cell_type_mixes()
        if "" in mixes:
            return mixes[""]
        if area not in mixes:
            raise ValueError(
                f"simulation.cell_types gives no shares for {area}, which "
                f"simulation.units_per_area simulates: add {area} to simulation.cell_types, or "
                "give one mapping of shares for every area"
            )
        return mixes[area]
