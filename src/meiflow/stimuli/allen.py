"""Facts of the Allen Brain Observatory Visual Coding - Neuropixels stimuli that every stage uses.

From the Allen Institute's technical white paper ("Neuropixels Visual Coding", 2019) and the
session tables AllenSDK returns (``stimulus_presentations``): natural scenes and gabors are each
shown for 250 ms; the natural-scene set holds 118 photographs (frames 0-117, frame -1 the blank
mean-gray screen) in three blocks; the gabors stimulus covers a 9 x 9 grid of positions 10 deg
apart at three orientations (243 conditions), 45 presentations per position. A session's table may
differ from that design (presentations removed, a position shown less often, an extra position or
orientation): :func:`gabor_grid_state` says how.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Duration of one natural-scene or gabors presentation (s).
PRESENTATION_S = 0.25
#: Orientations of the gabors stimulus (deg).
GABOR_ORIENTATIONS = (0.0, 45.0, 90.0)
#: x and y positions of the gabors grid (deg of visual field, centred on the screen).
GABOR_POSITIONS = tuple(float(p) for p in range(-40, 41, 10))
#: Number of natural scenes (frames 0 .. N_SCENES - 1).
N_SCENES = 118
#: Natural-scene blocks per session.
SCENE_BLOCKS = 3

__all__ = [
    "GABOR_ORIENTATIONS",
    "GABOR_POSITIONS",
    "N_SCENES",
    "PRESENTATION_S",
    "SCENE_BLOCKS",
    "GaborGridState",
    "gabor_conditions",
    "gabor_grid_state",
]
#: Positions and orientations are matched to the design to this many decimals (deg).
_DECIMALS = 6
#: Positions listed by :meth:`GaborGridState.summary` per kind (the attributes hold them all).
_LISTED = 10


def gabor_conditions() -> pd.DataFrame:
    """All 243 gabor conditions, orientation-major, one row each.

    Columns: ``orientation``, ``y_position``, ``x_position`` (deg).
    """
    o, y, x = np.meshgrid(GABOR_ORIENTATIONS, GABOR_POSITIONS, GABOR_POSITIONS, indexing="ij")
    return pd.DataFrame(
        {"orientation": o.ravel(), "y_position": y.ravel(), "x_position": x.ravel()}
    )


@dataclass(frozen=True)
class GaborGridState:
    """How a session's gabors presentations cover the design of :func:`gabor_conditions`.

    Positions are (n, 2) float64 arrays of (x_position, y_position) in deg, sorted by y, then x
    (the order of a receptive-field map's rows, then columns).

    Attributes:
        missing_positions: design positions without any presentation.
        off_grid_positions: positions with presentations that are not in the design.
        uneven_positions: positions with presentations whose number differs from
            ``trials_per_position``.
        uneven_trials: (n,) int, the number of presentations at each of ``uneven_positions``.
        trials_per_position: the most common number of presentations per position shown (the
            larger on a tie); 0 when no presentation has a position.
        missing_orientations: design orientations (deg) without any presentation.
        off_grid_orientations: orientations (deg) with presentations that are not in the design.
    """

    missing_positions: np.ndarray
    off_grid_positions: np.ndarray
    uneven_positions: np.ndarray
    uneven_trials: np.ndarray
    trials_per_position: int
    missing_orientations: np.ndarray
    off_grid_orientations: np.ndarray

    @property
    def complete(self) -> bool:
        """Every design condition shown, nothing else, the same number of times per position."""
        return not any(
            len(a)
            for a in (
                self.missing_positions,
                self.off_grid_positions,
                self.uneven_positions,
                self.missing_orientations,
                self.off_grid_orientations,
            )
        )

    def summary(self) -> str:
        """One line for the log, e.g. ``gabors grid incomplete: 1 of 81 positions without ...``."""
        n_design = len(GABOR_POSITIONS) ** 2
        if self.complete:
            return (
                f"gabors grid complete: {n_design} positions x {len(GABOR_ORIENTATIONS)} "
                f"orientations, {self.trials_per_position} presentations per position"
            )
        parts = []
        if len(self.missing_positions):
            parts.append(
                f"{len(self.missing_positions)} of {n_design} positions without presentations "
                f"({_positions_text(self.missing_positions)})"
            )
        if len(self.off_grid_positions):
            parts.append(
                f"{_positions_count(self.off_grid_positions)} off the grid "
                f"({_positions_text(self.off_grid_positions)})"
            )
        if len(self.uneven_positions):
            parts.append(
                f"{_positions_count(self.uneven_positions)} with another number of presentations "
                f"than the usual {self.trials_per_position} "
                f"({_positions_text(self.uneven_positions, self.uneven_trials)})"
            )
        if len(self.missing_orientations):
            parts.append(
                f"orientations without presentations: {_deg_text(self.missing_orientations)}"
            )
        if len(self.off_grid_orientations):
            parts.append(f"orientations off the design: {_deg_text(self.off_grid_orientations)}")
        return "gabors grid incomplete or irregular: " + "; ".join(parts)


def _deg_text(values: np.ndarray) -> str:
    """``0, 45 deg``: values in deg, as short as they print."""
    return ", ".join(f"{v:g}" for v in values) + " deg"


def _positions_count(positions: np.ndarray) -> str:
    """``1 position``, ``2 positions``."""
    return f"{len(positions)} position" + "s" * (len(positions) != 1)


def _positions_text(positions: np.ndarray, trials: np.ndarray | None = None) -> str:
    """``x 10, y 0 deg; ...`` (with ``: n presentations`` per position), the first _LISTED."""
    items = [
        f"x {x:g}, y {y:g} deg" + ("" if trials is None else f": {trials[i]}")
        for i, (x, y) in enumerate(positions[:_LISTED])
    ]
    if len(positions) > _LISTED:
        items.append(f"{len(positions) - _LISTED} more")
    return "; ".join(items)


def gabor_grid_state(
    orientation: np.ndarray, x_position: np.ndarray, y_position: np.ndarray
) -> GaborGridState:
    """Compare a session's gabors presentations with the design of :func:`gabor_conditions`.

    Presentations with a non-finite position (blank sweeps) are left out of the positions, those
    with a non-finite orientation out of the orientations. Values are matched to the design to
    1e-6 deg.

    Args:
        orientation: (n_presentations,) orientation of each presentation (deg).
        x_position: (n_presentations,) x position of each presentation's Gabor centre (deg).
        y_position: (n_presentations,) y position (deg, up).

    Returns:
        What differs from the design; :attr:`GaborGridState.complete` when nothing does.

    Raises:
        ValueError: the three arrays differ in length.
    """
    orientation, x, y = (
        np.round(np.asarray(a, dtype=np.float64).ravel(), _DECIMALS)
        for a in (orientation, x_position, y_position)
    )
    if not orientation.size == x.size == y.size:
        raise ValueError(
            f"orientation, x_position and y_position differ in length: "
            f"{orientation.size}, {x.size}, {y.size}"
        )
    shown = np.isfinite(x) & np.isfinite(y)
    positions, trials = np.unique(
        np.stack([x[shown], y[shown]], axis=1), axis=0, return_counts=True
    )
    by_row = np.lexsort((positions[:, 0], positions[:, 1]))  # by y, then x: a map's rows
    positions, trials = positions[by_row], trials[by_row]
    design_x, design_y = np.meshgrid(GABOR_POSITIONS, GABOR_POSITIONS)  # by y, then x
    design = np.stack([design_x.ravel(), design_y.ravel()], axis=1)
    in_design = (positions[:, None, :] == design[None]).all(axis=2)  # (n_shown, n_design)
    if trials.size:
        sizes, frequency = np.unique(trials, return_counts=True)
        usual = int(sizes[frequency == frequency.max()].max())
    else:
        usual = 0
    uneven = trials != usual
    orientations = np.unique(orientation[np.isfinite(orientation)])
    return GaborGridState(
        missing_positions=design[~in_design.any(axis=0)],
        off_grid_positions=positions[~in_design.any(axis=1)],
        uneven_positions=positions[uneven],
        uneven_trials=trials[uneven].astype(np.int64),
        trials_per_position=usual,
        missing_orientations=np.setdiff1d(GABOR_ORIENTATIONS, orientations),
        off_grid_orientations=np.setdiff1d(orientations, GABOR_ORIENTATIONS),
    )
