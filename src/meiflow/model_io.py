"""Datasets of the model stage: what a chunk, the linear baseline and the area summary hold."""

from __future__ import annotations

import numpy as np
import xarray as xr

from meiflow.netcdf import read_netcdf
from meiflow.scene_data import split_scenes


def selected_units(ranking: xr.Dataset) -> np.ndarray:
    """Unit ids of the selected units, best rank first."""
    return ranking["unit"].to_numpy()[ranking["selected"].to_numpy() == 1]


def chunk_units(ranking: xr.Dataset, chunk: int, chunk_size: int) -> np.ndarray:
    """The selected units of chunk number ``chunk`` (best ranks in chunk 0)."""
    units = selected_units(ranking)[chunk * chunk_size : (chunk + 1) * chunk_size]
    if units.size == 0:
        raise ValueError(f"chunk {chunk} is empty: the ranking selects fewer units")
    return units


def scene_inputs(images_path, split: dict) -> tuple[xr.DataArray, np.ndarray]:
    """The images (frame, y, x) and each frame's split (train / validation / test)."""
    images = read_netcdf(images_path, ("images",))["images"]
    frames = images["frame"].to_numpy()
    return images, split_scenes(frames, split["validation"], split["test"], split["seed"])
