"""Mapping between image pixels and positions in the visual field.

A scene image is shown full screen and covers a rectangle of the visual field centred on
(0, 0) deg; x grows to the right, y grows UP. Pixel (row 0, col 0) is the top-left pixel.
The mapping is linear (a flat screen without the spherical warping of the real rig).
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class ImageSettings:
    """Model resolution of the natural scenes (config section ``images``; the notebook's 60 x 96).

    Attributes:
        height: pixels.
        width: pixels.
    """

    height: int = 60
    width: int = 96


@dataclass(frozen=True)
class ScreenGeometry:
    """Visual field covered by a (full-screen) scene image, centred on (0, 0) deg.

    Attributes:
        width_deg: horizontal extent of the image in degrees.
        height_deg: vertical extent of the image in degrees.
    """

    width_deg: float = 120.0
    height_deg: float = 95.0

    def pixels_per_degree(self, height: int, width: int) -> tuple[float, float]:
        """(along y, along x) pixels per degree for an image of height x width pixels."""
        return height / self.height_deg, width / self.width_deg

    def deg_to_pixel(
        self, x_deg: ArrayLike, y_deg: ArrayLike, height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(col, row) float pixel coordinates of positions given in degrees; broadcasts.

        Coordinate 0 is the centre of the first pixel, so the image spans -0.5 .. n - 0.5.
        """
        ppd_y, ppd_x = self.pixels_per_degree(height, width)
        col = (np.asarray(x_deg, dtype=float) + self.width_deg / 2) * ppd_x - 0.5
        row = (self.height_deg / 2 - np.asarray(y_deg, dtype=float)) * ppd_y - 0.5
        return col, row

    def pixel_to_deg(
        self, col: ArrayLike, row: ArrayLike, height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(x_deg, y_deg) of float pixel coordinates (col, row); inverse of deg_to_pixel."""
        ppd_y, ppd_x = self.pixels_per_degree(height, width)
        x_deg = (np.asarray(col, dtype=float) + 0.5) / ppd_x - self.width_deg / 2
        y_deg = self.height_deg / 2 - (np.asarray(row, dtype=float) + 0.5) / ppd_y
        return x_deg, y_deg

    def pixel_grid(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(x_deg, y_deg), each (height, width) float64: position of every pixel centre.

        Row 0 is the top of the image (largest y), column 0 the left edge (smallest x).
        """
        row, col = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        return self.pixel_to_deg(col, row, height, width)
