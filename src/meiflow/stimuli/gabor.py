"""The one Gabor renderer of meiflow: model receptive fields, the Allen 'gabors' stimulus, searches.

Orientation follows PsychoPy / the Allen stimulus tables: 0 deg = vertical bars (luminance varies
along x), increasing clockwise on the screen (45 deg bars run from bottom-left to top-right,
90 deg bars are horizontal). Positions are visual-field degrees with y up (see ScreenGeometry).
"""

import math
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def gabor(
    x_deg: np.ndarray,
    y_deg: np.ndarray,
    center_x: ArrayLike,
    center_y: ArrayLike,
    orientation_deg: ArrayLike,
    sf_cpd: ArrayLike,
    phase_rad: ArrayLike,
    sigma_deg: ArrayLike,
) -> np.ndarray:
    """Gabor patch exp(-r^2 / (2 sigma^2)) * cos(2 pi sf u + phase), peak value 1.

    u is the projection of (x - cx, y - cy) on the unit vector (cos theta, -sin theta), so the
    carrier has its crest (cos = 1 at phase 0) through the centre.

    The six parameters (``center_x`` to ``sigma_deg``) are arrays broadcast together to a shape P.

    Args:
        x_deg: (H, W) visual-field x position of every pixel (ScreenGeometry.pixel_grid).
        y_deg: (H, W) visual-field y position of every pixel (ScreenGeometry.pixel_grid).
        center_x: patch centre x in deg.
        center_y: patch centre y in deg.
        orientation_deg: bar orientation in deg (0 = vertical, clockwise).
        sf_cpd: carrier spatial frequency in cycles/deg.
        phase_rad: carrier phase in radians.
        sigma_deg: standard deviation of the Gaussian envelope in deg.

    Returns:
        P + (H, W) float64.
    """
    params = np.broadcast_arrays(
        *(
            np.asarray(p, dtype=float)[..., None, None]
            for p in (center_x, center_y, orientation_deg, sf_cpd, phase_rad, sigma_deg)
        )
    )
    return gabor_formula(np, x_deg, y_deg, *params)


def gabor_formula(
    xp: ModuleType,
    x_deg: Any,
    y_deg: Any,
    center_x: Any,
    center_y: Any,
    orientation_deg: Any,
    sf_cpd: Any,
    phase_rad: Any,
    sigma_deg: Any,
) -> Any:
    """The formula of :func:`gabor` on arrays of the namespace ``xp`` (numpy or torch).

    The one implementation behind :func:`gabor` (numpy) and the differentiable torch rendering
    of :mod:`meiflow.mei.gabor_search`. No conversion or broadcasting of its own: the arguments are
    arrays (or tensors) of ``xp`` that already broadcast together, e.g. parameters shaped
    P + (1, 1) against pixel positions (H, W); the result has the broadcast shape and dtype.
    """
    dx, dy = x_deg - center_x, y_deg - center_y
    theta = xp.deg2rad(orientation_deg)
    u = dx * xp.cos(theta) - dy * xp.sin(theta)
    envelope = xp.exp(-(dx**2 + dy**2) / (2 * sigma_deg**2))
    return envelope * xp.cos(2 * math.pi * sf_cpd * u + phase_rad)


def allen_gabor_stimulus(
    x_deg: np.ndarray,
    y_deg: np.ndarray,
    center_x: ArrayLike,
    center_y: ArrayLike,
    orientation_deg: ArrayLike,
    phase_rad: ArrayLike,
    size_deg: float = 20.0,
    sf_cpd: float = 0.08,
    contrast: float = 0.8,
    background: float = 0.5,
) -> np.ndarray:
    """One frame of the Allen 'gabors' stimulus, luminance in [0, 1] on a mean-gray screen.

    background * (1 + contrast * gabor(..., sigma = size_deg / 6)): PsychoPy's 'gauss' mask has a
    standard deviation of 1/6 of the stimulus size; its truncation at the size square
    (envelope < 0.012 there) is ignored.

    ``center_x``, ``center_y``, ``orientation_deg`` and ``phase_rad`` are arrays broadcast to a
    shape P.

    Args:
        x_deg: (H, W) pixel x positions in deg.
        y_deg: (H, W) pixel y positions in deg.
        center_x: the Allen table's x_position.
        center_y: the Allen table's y_position.
        orientation_deg: the Allen table's orientation.
        phase_rad: phase in radians.
        size_deg: stimulus size (deg); the Allen setting is 20 deg.
        sf_cpd: spatial frequency (cycles/deg); the Allen setting is 0.08 cpd.
        contrast: the Allen setting is 0.8.
        background: the Allen setting is 0.5.

    Returns:
        P + (H, W) float64 in [0, 1].
    """
    patch = gabor(
        x_deg, y_deg, center_x, center_y, orientation_deg, sf_cpd, phase_rad, size_deg / 6
    )
    return background + background * contrast * patch
