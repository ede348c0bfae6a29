"""Datasets of the model stage: what a chunk, the linear baseline and the area summary hold."""

from __future__ import annotations

import logging

import numpy as np
import torch
import xarray as xr

from meiflow.io.netcdf import read_netcdf
from meiflow.models.ensemble import Ensemble
from meiflow.models.network import load_checkpoint
from meiflow.models.settings import SplitSettings
from meiflow.models.shared_core import (
    LEFT_OUT_ADVICE,
    load_shared_core,
    shared_core_ensemble,
)
from meiflow.models.training import model_device
from meiflow.models.training_data import split_scenes

log = logging.getLogger(__name__)


def selected_units(ranking: xr.Dataset) -> np.ndarray:
    """Unit ids of the selected units, best rank first."""
    return ranking["unit"].to_numpy()[ranking["selected"].to_numpy() == 1]


def chunk_units(ranking: xr.Dataset, chunk: int, chunk_size: int) -> np.ndarray:
    """The selected units of chunk number ``chunk`` (best ranks in chunk 0)."""
    units = selected_units(ranking)[chunk * chunk_size : (chunk + 1) * chunk_size]
    if units.size == 0:
        raise ValueError(f"chunk {chunk} is empty: the ranking selects fewer units")
    return units


def scene_inputs(images: xr.Dataset, split: SplitSettings) -> tuple[xr.DataArray, np.ndarray]:
    """The images (frame, y, x) of ``images.nc`` and each frame's split.

    Returns:
        ``images["images"]`` and the (n_frames,) split (``train``, ``validation``, ``test``).
    """
    frames = images["frame"].to_numpy()
    return images["images"], split_scenes(frames, split.validation, split.test, split.seed)


def load_chunk(
    chunk_path, checkpoint_path, device_name: str, shared_core_scores=None
) -> tuple[xr.Dataset, Ensemble, torch.device]:
    """A trained chunk for the rules that use it, through the model ``meis.model`` names.

    Args:
        chunk_path: the per-neuron chunk's ``models/chunk_{i}.nc`` (its units).
        checkpoint_path: its ``chunk_{i}.pt``, or with ``shared_core_scores`` the shared core's
            ``shared_core/model.pt``.
        device_name: ``models.device``.
        shared_core_scores: None (the per-neuron models), or the shared core's
            ``shared_core/scores.nc``.

    Returns:
        The chunk's dataset (``unit``; ``predicted_rate`` (unit, frame) of the model; attribute
        ``model``: ``per_neuron`` or ``shared_core``); its networks as an
        :class:`~meiflow.models.ensemble.Ensemble` (per-neuron: of the dataset's ``member``
        count, 1 without that dimension, ``models.ensemble``; shared core: its members, each
        with the readouts of the chunk's units, ``meiflow.models.shared_core.
        shared_core_ensemble``), in eval mode with frozen parameters (and so are its members,
        each holding the chunk's units in order); and the device, ``device_name`` resolved by
        ``meiflow.models.training.model_device`` (``auto``: CUDA when present; on the CPU, freed
        memory is kept for reuse).

    Raises:
        NetCDFError: the chunk file or the shared core's scores are missing, corrupt or lack
            ``predicted_rate``.
        FileNotFoundError: see ``meiflow.models.network.load_checkpoint``.
        CheckpointError: see ``meiflow.models.network.load_checkpoint`` (also when the
            checkpoint does not hold members x units models) and
            ``meiflow.models.shared_core.load_shared_core``.
        ValueError: no unit of the chunk is in the shared core (a unit it left out is dropped
            from the chunk, with a warning: the MEI stage's files lack it).
    """
    device = model_device(device_name)
    chunk = read_netcdf(chunk_path, ("predicted_rate",))
    if shared_core_scores is not None:
        predicted = read_netcdf(shared_core_scores, ("predicted_rate",))["predicted_rate"]
        units = chunk["unit"].to_numpy()
        held = np.isin(units, predicted["unit"].to_numpy())
        if not held.all():  # the chunk's other units still get their MEIs
            log.warning(
                "units %s dropped: not in the shared core (%s)",
                units[~held].tolist(),
                LEFT_OUT_ADVICE,
            )
        if not held.any():
            raise ValueError(
                f"no unit of {chunk_path} ({units.tolist()}) is in the shared core "
                f"({LEFT_OUT_ADVICE})"
            )
        units = units[held]
        ensemble = shared_core_ensemble(load_shared_core(checkpoint_path, device), units)
        chunk = xr.Dataset(
            {"predicted_rate": predicted.sel(unit=units).reset_coords(drop=True)},
            attrs={"model": "shared_core"},
        )
        return chunk, ensemble, device
    n_units, members = chunk.sizes["unit"], chunk.sizes.get("member", 1)
    network = load_checkpoint(checkpoint_path, device, n_models=n_units * members)
    chunk.attrs["model"] = "per_neuron"
    return chunk, Ensemble(network.eval().requires_grad_(False), members), device


def failed_units(scores: xr.Dataset) -> dict[int, str]:
    """Units of ``model_scores.nc`` whose training failed, with the reason.

    These are the units whose ``training_failure`` is not empty; they are dropped from the MEI
    comparison and the image metrics.
    """
    if "training_failure" not in scores or scores.sizes.get("unit", 0) == 0:
        return {}
    reasons = scores["training_failure"].to_numpy().astype(str)
    units = scores["unit"].to_numpy()
    return {int(u): str(r) for u, r in zip(units, reasons, strict=True) if r}


def drop_units(ds: xr.Dataset, dropped: dict[int, str]) -> xr.Dataset:
    """``ds`` without the units of ``dropped`` (unit id -> reason).

    Its ``dropped_units`` attribute lists them as "unit: reason" entries separated by "; ".
    """
    kept = ds.drop_sel(unit=[u for u in dropped if u in ds["unit"].to_numpy()])
    if dropped:
        kept.attrs["dropped_units"] = "; ".join(f"{u}: {r}" for u, r in dropped.items())
    return kept
