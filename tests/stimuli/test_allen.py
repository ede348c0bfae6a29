"""The Allen gabors design and how a session's presentations cover it (meiflow.stimuli.allen)."""

from __future__ import annotations

import numpy as np
import pytest

from meiflow.stimuli.allen import gabor_conditions, gabor_grid_state


def design_table(repeats: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(orientation, x, y) of every presentation: each of the 243 conditions ``repeats`` times."""
    conditions = gabor_conditions().loc[np.repeat(np.arange(243), repeats)]
    return tuple(conditions[k].to_numpy() for k in ("orientation", "x_position", "y_position"))


def test_the_full_design_is_complete_and_blank_sweeps_do_not_count():
    o, x, y = design_table(3)
    o, x, y = (np.append(a, np.nan) for a in (o, x, y))  # a blank sweep
    grid = gabor_grid_state(o, x, y)
    assert grid.complete
    assert grid.trials_per_position == 9  # 3 orientations x 3 repeats
    for empty in (grid.missing_positions, grid.off_grid_positions, grid.uneven_positions):
        assert empty.shape == (0, 2)
    assert grid.summary() == (
        "gabors grid complete: 81 positions x 3 orientations, 9 presentations per position"
    )


def test_every_departure_from_the_design_is_named():
    o, x, y = design_table(2)  # 6 presentations per position
    gone = ((x == 10) & (y == 0)) | ((x == -40) & (y == 40))  # two positions without any
    fewer = np.flatnonzero((x == 30) & (y == -20))[:4]  # 2 presentations left there
    no_45 = o == 45
    keep = ~gone & ~no_45
    keep[fewer] = False
    o, x, y = o[keep], x[keep], y[keep]  # 4 per position now (two orientations)
    # an extra position off the grid, and an orientation off the design, 4 presentations
    o = np.concatenate([o, [0.0, 90.0, 0.0, 90.0], [135.0] * 4])
    x = np.concatenate([x, [5.0] * 4, [0.0] * 4])
    y = np.concatenate([y, [5.0] * 4, [0.0] * 4])
    grid = gabor_grid_state(o, x, y)
    assert not grid.complete
    np.testing.assert_array_equal(grid.missing_positions, [[10.0, 0.0], [-40.0, 40.0]])
    np.testing.assert_array_equal(grid.off_grid_positions, [[5.0, 5.0]])
    # (30, -20) lost its 45 deg presentations and 4 more; (0, 0) gained the 135 deg ones
    np.testing.assert_array_equal(grid.uneven_positions, [[30.0, -20.0], [0.0, 0.0]])
    np.testing.assert_array_equal(grid.uneven_trials, [2, 8])
    assert grid.trials_per_position == 4
    np.testing.assert_array_equal(grid.missing_orientations, [45.0])
    np.testing.assert_array_equal(grid.off_grid_orientations, [135.0])
    summary = grid.summary()
    for text in (
        "2 of 81 positions without presentations (x 10, y 0 deg; x -40, y 40 deg)",
        "1 position off the grid (x 5, y 5 deg)",
        "2 positions with another number of presentations than the usual 4 "
        "(x 30, y -20 deg: 2; x 0, y 0 deg: 8)",
        "orientations without presentations: 45 deg",
        "orientations off the design: 135 deg",
    ):
        assert text in summary, summary


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="orientation, x_position and y_position"):
        gabor_grid_state(np.zeros(3), np.zeros(3), np.zeros(2))
