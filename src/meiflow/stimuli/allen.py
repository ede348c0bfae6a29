"""Facts of the Allen Brain Observatory Visual Coding - Neuropixels stimuli that every stage uses.

From the Allen Institute's technical white paper ("Neuropixels Visual Coding", 2019) and the
session tables AllenSDK returns (``stimulus_presentations``): natural scenes and gabors are each
shown for 250 ms; the natural-scene set holds 118 photographs (frames 0-117, frame -1 the blank
mean-gray screen) in three blocks; the gabors stimulus covers a 9 x 9 grid of positions 10 deg
apart at three orientations (243 conditions).
"""

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
    "gabor_conditions",
]


def gabor_conditions() -> pd.DataFrame:
    """All 243 gabor conditions, orientation-major, one row each.

    Columns: ``orientation``, ``y_position``, ``x_position`` (deg).
    """
    o, y, x = np.meshgrid(GABOR_ORIENTATIONS, GABOR_POSITIONS, GABOR_POSITIONS, indexing="ij")
    return pd.DataFrame(
        {"orientation": o.ravel(), "y_position": y.ravel(), "x_position": x.ravel()}
    )
