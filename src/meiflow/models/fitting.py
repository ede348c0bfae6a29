"""Training one chunk of an area's selected units.

Readout candidates, the batched networks of every (member, unit, candidate), the choice of each
unit's candidate, and the chunk's dataset.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import torch
import xarray as xr

from meiflow.models.chunks import chunk_units
from meiflow.models.ensemble import Ensemble
from meiflow.models.gabor_responses import condition_means, drifting_frames, predict_conditions
from meiflow.models.network import PerNeuronCNN, select
from meiflow.models.settings import ModelsSettings
from meiflow.models.training import correlations, predict, train_chunk
from meiflow.models.training_data import image_targets, pixel_to_grid, readout_candidates
from meiflow.stimuli.geometry import ScreenGeometry

__all__ = ["TrainedChunk", "fit_chunk", "model_seed"]

log = logging.getLogger(__name__)


class TrainedChunk(NamedTuple):
    """What :func:`fit_chunk` returns.

    Attributes:
        dataset: the chunk's dataset (``models/chunk_{i}.nc``).
        ensemble: its trained ensemble (members x units networks, member-major; ``chunk_{i}.pt``).
    """

    dataset: xr.Dataset
    ensemble: Ensemble


def model_seed(seed: int, unit: int, candidate: int, member: int) -> int:
    """Seed of one network, from its unit, readout candidate and ensemble member alone.

    Member 0 gets the seed a single network has.
    """
    key = [seed, unit, candidate] + ([member] if member else [])
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def fit_chunk(
    ranking: xr.Dataset,
    chunk: int,
    images: xr.DataArray,
    split: np.ndarray,
    scenes: xr.Dataset,
    linear: xr.Dataset,
    gabors: xr.Dataset,
    settings: ModelsSettings,
    geometry: ScreenGeometry,
    device: torch.device,
) -> TrainedChunk:
    """Train the networks of chunk number ``chunk`` of an area's selected units.

    Every unit gets ``models.ensemble`` networks per readout candidate
    (:func:`meiflow.models.training_data.readout_candidates`), all trained as one batched network
    (:func:`meiflow.models.training.train_chunk`); each unit keeps the candidate whose
    ensemble validates best. The kept networks are also shown the gabors conditions the session
    shows (243 on a complete grid), never trained on (``gabor_correlation``).

    Args:
        ranking: the area's ranking (``selected``, receptive fields).
        chunk: the chunk number (chunk 0 holds the best ranks).
        images: the scenes at model resolution (frame, y, x) in [0, 1].
        split: (n_frames,) ``train``, ``validation`` or ``test`` of each frame.
        scenes: the natural-scene count table.
        linear: the area's ridge baseline (``weights`` (unit, y, x)).
        gabors: the gabors count table.
        settings: architecture, training, chunk size and ensemble size.
        geometry: the screen.
        device: where to train.

    Returns:
        :class:`TrainedChunk`. The dataset holds, per unit, ``predicted_rate`` (unit, frame) in
        spikes per presentation, ``validation_correlation``, ``gabor_correlation``,
        ``training_failure``, the chosen readout candidate's position, and per member
        ``best_epoch``, ``member_validation_correlation``, ``train_loss`` and
        ``validation_curve``.

    Raises:
        ValueError: ``chunk`` holds no selected unit.
    """
    architecture, training = settings.architecture, settings.training
    units = chunk_units(ranking, chunk, settings.chunk_size)
    frames = images["frame"].to_numpy()
    height, width = images.shape[1:]
    means, repeats = image_targets(scenes, units, frames)
    ridge = linear["weights"].sel(unit=units).to_numpy()
    train, val = split == "train", split == "validation"
    unit_index, pixels = readout_candidates(
        ranking, units, ridge, geometry, images.to_numpy()[train], means[train]
    )
    # models.ensemble networks per (unit, readout candidate), member-major; each seeded by its
    # unit, candidate and member only (member 0 by the seed a single network has)
    members, n_candidates = settings.ensemble, len(unit_index)
    seeds = [
        model_seed(training.seed, int(units[k]), j, m)
        for m in range(members)
        for j, k in enumerate(unit_index)
    ]
    log.info(
        "%d units, %d readout candidates x %d ensemble members on %s",
        units.size,
        n_candidates,
        members,
        device,
    )
    model = PerNeuronCNN(len(seeds), height, width, architecture, seeds).to(device)
    grid = pixel_to_grid(pixels[:, 0], pixels[:, 1], height, width, architecture.pool)
    model.set_positions(torch.as_tensor(np.tile(grid, (members, 1)), dtype=torch.float32))
    x = torch.as_tensor(images.to_numpy()[:, None], dtype=torch.float32, device=device)
    y = torch.as_tensor(means[:, unit_index], dtype=torch.float32, device=device)
    if repeats.ndim == 2:  # units with their own valid trials: one column per network
        repeats = np.tile(repeats[:, unit_index], (1, members))
    r = torch.as_tensor(repeats, device=device)
    targets = y.repeat(1, members)
    result = train_chunk(model, x[train], targets[train], r[train], x[val], targets[val], training)

    # keep, for every unit, the readout candidate whose ensemble validates best
    candidates = Ensemble(result.model, members)  # an ensemble of the readout candidates
    candidate_r = correlations(candidates.mean(predict(result.model, x[val])), y[val])
    candidate_r = candidate_r.cpu().numpy()
    best = np.array(
        [
            np.flatnonzero(unit_index == k)[np.argmax(candidate_r[unit_index == k])]
            for k in range(units.size)
        ]
    )
    rows = best[:, None] + n_candidates * np.arange(members)  # (unit, member) rows of the network
    chosen = Ensemble(select(result.model, rows.T.ravel().tolist()), members)  # member-major
    predicted = chosen.mean(predict(chosen.network, x)).cpu().numpy()
    # generalization to another stimulus: the gabors conditions shown, never trained on
    gabors = condition_means(gabors, units)
    frames_gabor = torch.as_tensor(drifting_frames(gabors, geometry, height, width), device=device)
    observed_gabor = torch.as_tensor(gabors["mean_count"].to_numpy().T, device=device)
    predicted_gabor = chosen.mean(predict_conditions(chosen.network, frames_gabor))
    gabor_r = correlations(predicted_gabor, observed_gabor.float())
    failure = [
        "; ".join(
            f"member {m}: {why}" if members > 1 else why for m, why in enumerate(reasons) if why
        )
        for reasons in result.failure[rows]
    ]
    ds = xr.Dataset(
        {
            "predicted_rate": (("unit", "frame"), predicted.T),
            "validation_correlation": ("unit", candidate_r[best]),
            "gabor_correlation": ("unit", gabor_r.cpu().numpy()),
            "training_failure": ("unit", failure),
            "best_epoch": (("unit", "member"), result.best_epoch[rows]),
            "member_validation_correlation": (
                ("unit", "member"),
                result.best_validation_correlation[rows],
            ),
            "train_loss": (("unit", "member", "epoch"), result.train_loss[rows]),
            "validation_curve": (("unit", "member", "epoch"), result.validation_correlation[rows]),
            "readout_candidate_col": ("unit", pixels[best, 0]),
            "readout_candidate_row": ("unit", pixels[best, 1]),
            "readout_candidates": ("unit", np.bincount(unit_index, minlength=units.size)),
        },
        coords={
            "unit": units,
            "member": np.arange(members),
            "frame": frames,
            "split": ("frame", split),
            "epoch": np.arange(result.train_loss.shape[1]),
        },
    )
    ds["predicted_rate"].attrs = {"long_name": "CNN prediction per scene", "units": "spikes"}
    ds.attrs["device"] = str(device)
    for unit, reason in zip(units, failure, strict=True):
        if reason:
            log.warning("unit %d: training stopped early, %s (best state kept)", unit, reason)
    log.info("median validation r %.3f", float(np.median(ds["validation_correlation"])))
    return TrainedChunk(ds, chosen)
