"""Natural scenes at model resolution: the images every later stage sees."""

from __future__ import annotations

import numpy as np
import xarray as xr

from meiflow.ingest.resize import area_resize

#: Luminance of the blank (mean-gray) screen, frame -1, in [0, 1].
BLANK_LEVEL = 0.5
BLANK_FRAME = -1


def model_images(templates: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scene templates (n, H, W) uint8 -> (n, height, width) float32 in [0, 1] (area-averaged)."""
    if templates.dtype != np.uint8 or templates.ndim != 3:
        raise ValueError(
            f"scene templates must be (n, height, width) uint8, got {templates.dtype} "
            f"{templates.shape}"
        )
    resized = area_resize(templates.astype(np.float64) / 255.0, height, width)
    return np.clip(resized, 0.0, 1.0).astype(np.float32)


def with_blank(images: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Append the blank frame: (n, h, w), (n,) -> (n + 1, h, w), (n + 1,), blank first."""
    blank = np.full((1, *images.shape[1:]), BLANK_LEVEL, dtype=images.dtype)
    return np.concatenate([blank, images]), np.concatenate([[BLANK_FRAME], frames])


def images_dataset(
    templates: np.ndarray, frames: np.ndarray, height: int, width: int
) -> xr.Dataset:
    """The ``images.nc`` dataset: ``images`` (frame, y, x) float32 in [0, 1], blank (-1) included.

    ``templates`` (n, H, W) uint8 are the scenes numbered ``frames`` (n,), all >= 0.
    """
    frames = np.asarray(frames, dtype=np.int64)
    images, all_frames = with_blank(model_images(templates, height, width), frames)
    ds = xr.Dataset(
        {"images": (("frame", "y", "x"), images)},
        coords={"frame": all_frames, "y": np.arange(height), "x": np.arange(width)},
    )
    ds["images"].attrs = {
        "long_name": "natural scene luminance at model resolution (0 black, 1 white)",
        "units": "1",
        "valid_range": [0.0, 1.0],
    }
    ds["frame"].attrs = {"long_name": "natural scene template number (-1 = blank, mean gray)"}
    ds["y"].attrs = {"long_name": "pixel row (0 = top)", "units": "pixel"}
    ds["x"].attrs = {"long_name": "pixel column (0 = left)", "units": "pixel"}
    ds.attrs = {
        "original_height": int(templates.shape[1]),
        "original_width": int(templates.shape[2]),
        "resize": "area averaging (meiflow.ingest.resize.area_resize) of template / 255",
        "blank_level": BLANK_LEVEL,
    }
    return ds
