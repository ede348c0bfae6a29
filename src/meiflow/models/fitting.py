"""Training one chunk of an area's selected units, and the session's shared-core model.

Readout candidates, the batched networks of every (member, unit, candidate), the choice of each
unit's candidate, and the chunk's dataset; the shared core's readout starts and its dataset.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch
import xarray as xr

from meiflow.io.netcdf import describe
from meiflow.models.chunks import chunk_units
from meiflow.models.ensemble import Ensemble
from meiflow.models.gabor_responses import condition_means, drifting_frames, predict_conditions
from meiflow.models.network import PerNeuronCNN, select
from meiflow.models.settings import ModelsSettings
from meiflow.models.shared_core import (
    CoreMember,
    SharedCoreCNN,
    shared_core_predict,
    train_shared_core,
)
from meiflow.models.training import correlations, predict, train_chunk
from meiflow.models.training_data import (
    ENERGY_SCALES_DEG,
    energy_peak,
    image_targets,
    pixel_to_grid,
    readout_candidates,
)
from meiflow.stimuli.geometry import ScreenGeometry

__all__ = [
    "TrainedChunk",
    "TrainedSharedCore",
    "fit_chunk",
    "fit_shared_core",
    "model_seed",
    "shared_core_positions",
]

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


class TrainedSharedCore(NamedTuple):
    """What :func:`fit_shared_core` returns.

    Attributes:
        dataset: the model's scores (``shared_core/scores.nc``).
        cores: the trained cores (``shared_core/model.pt``): per scope group (the session, or
            each analysed area) ``models.ensemble`` members.
    """

    dataset: xr.Dataset
    cores: list[CoreMember]


def shared_core_positions(
    units: np.ndarray,
    means: np.ndarray,
    rankings: list[xr.Dataset],
    per_neuron: list[xr.Dataset],
    images: xr.DataArray,
    split: np.ndarray,
    geometry: ScreenGeometry,
) -> tuple[np.ndarray, np.ndarray]:
    """Where each unit's shared-core readout starts, and from what, (col, row) image pixels.

    A unit with a per-neuron model starts at its chosen readout candidate
    (``readout_candidate_col``/``_row`` of its chunk's ``models/chunk_{i}.nc``): ``per_neuron``;
    else at its
    significant receptive field's fitted centre (``ranking.nc``): ``receptive_field``; else at
    the peak of the correlation of its responses with the training scenes' local contrast
    energy (:func:`meiflow.models.training_data.energy_peak`): ``energy_peak``.

    Args:
        units: (n_units,) the units of the shared core.
        means: (n_frames, n_units) their mean count per frame of ``images``
            (:func:`meiflow.models.training_data.image_targets`).
        rankings: the analysed areas' ``ranking.nc``.
        per_neuron: the analysed areas' per-neuron chunks (``models/chunk_{i}.nc``; an area
            without a selected unit has none).
        images: the scenes (frame, y, x) at model resolution.
        split: (n_frames,) of ``images``.
        geometry: the screen.

    Returns:
        pixels (n_units, 2) as (col, row) and the source (n_units,) str of each.
    """
    pixels = np.full((units.size, 2), np.nan)
    source = np.full(units.size, "energy_peak", dtype=object)
    train = split == "train"
    height, width = images.shape[1:]
    ppd_y, ppd_x = geometry.pixels_per_degree(height, width)
    pixels[:, 0], pixels[:, 1] = energy_peak(
        images.to_numpy()[train],
        means[train],
        [(sd * ppd_y, sd * ppd_x) for sd in ENERGY_SCALES_DEG],
    )
    for ranking in rankings:
        fitted = ranking["rf_significant"].to_numpy().astype(bool)
        fitted &= np.isfinite(ranking["rf_center_col"].to_numpy())
        at = np.isin(units, ranking["unit"].to_numpy()[fitted])
        chosen = ranking.sel(unit=units[at])
        pixels[at] = np.stack([chosen["rf_center_col"], chosen["rf_center_row"]], axis=1)
        source[at] = "receptive_field"
    for scores in per_neuron:
        if "readout_candidate_col" not in scores:
            continue
        at = np.isin(units, scores["unit"].to_numpy())
        chosen = scores.sel(unit=units[at])
        pixels[at] = np.stack(
            [chosen["readout_candidate_col"], chosen["readout_candidate_row"]], axis=1
        )
        source[at] = "per_neuron"
    return pixels, source.astype(str)


def fit_shared_core(
    counts: xr.Dataset,
    images: xr.DataArray,
    split: np.ndarray,
    rankings: list[xr.Dataset],
    per_neuron: list[xr.Dataset],
    settings: ModelsSettings,
    geometry: ScreenGeometry,
    device: torch.device,
) -> TrainedSharedCore:
    """Train the session's shared-core model on every unit of its count table.

    The readouts of all units the quality filter keeps (the count table's) train the core: with
    ``models.shared_core.scope`` ``session`` one core for every area's units, with ``area`` one
    core per analysed area (``rankings``) for that area's units. The selected units of the
    analysed areas (``rankings``' ``selected``) are the ones whose mean validation correlation
    stops the training (:func:`meiflow.models.shared_core.train_shared_core`). Readouts start
    at :func:`shared_core_positions`. Each core is trained ``models.ensemble`` times, member m
    from seed ``models.shared_core.seed + m`` (initial kernels and mini-batch order), and the
    predictions are the members' mean (Walker et al. 2019, as for the per-neuron models).

    Args:
        counts: the natural-scene count table (all valid units, ``area`` on ``unit``).
        images: the scenes (frame, y, x) at model resolution, in [0, 1].
        split: (n_frames,) ``train``, ``validation`` or ``test``.
        rankings: the analysed areas' ``ranking.nc`` (``area`` attribute).
        per_neuron: the analysed areas' per-neuron chunks (``readout_candidate_col``/``_row``),
            or an empty list.
        settings: ``architecture`` with ``shared_core``'s channels and first kernel,
            ``training``, ``ensemble`` and ``shared_core.scope``.
        geometry: the screen.
        device: where to train.

    Returns:
        :class:`TrainedSharedCore`; its dataset holds per unit (all of the count table's, or of
        the analysed areas' with scope ``area``) ``predicted_rate`` (unit, frame) in spikes per
        presentation, ``validation_correlation``, ``test_correlation``, ``selected`` (bool),
        ``area``, ``core_group`` (its core's group: ``session`` or its area), the readout's
        start ``readout_start_col``/``_row`` (pixels) and ``readout_start`` (its source); per core
        (dim ``core``: coordinates ``group`` and ``member``) and epoch
        ``train_loss`` and ``validation_curve`` (NaN after a core stopped) and ``best_epoch``;
        attributes ``scope``, ``n_members`` and ``device``.

    A unit without a valid presentation of some scene (its probe's invalid times) is left out
    and named in the attribute ``left_out_units``; where no unit of a core's group is selected,
    every unit's validation correlation stops that core's training (attribute ``scored``:
    ``group: selected`` or ``group: all units`` for each group, e.g. ``session: selected``).

    With scope ``area``, an analysed area none of whose units is valid gets no core (a
    warning says so; attribute ``coreless_areas``).
    """
    frames = images["frame"].to_numpy()
    units = _units_with_every_frame(counts, frames)
    left_out = np.setdiff1d(counts["unit"].to_numpy(), units)
    if left_out.size:
        log.warning("units %s left out: a scene without a valid presentation", left_out.tolist())
    areas = counts["area"].sel(unit=units).to_numpy().astype(str)
    scope = settings.shared_core.scope
    if scope == "area":
        analysed = [_area_of(ranking) for ranking in rankings]
        empty = [area for area in analysed if area not in areas]
        if empty:  # every unit left out (e.g. one probe's invalid times): no core, no MEI
            log.warning("no valid unit in area(s) %s: no shared core for them", empty)
        keep = np.isin(areas, analysed)
        units, areas = units[keep], areas[keep]
        groups = areas
    else:
        groups = np.full(units.size, "session")
    selected = np.zeros(units.size, dtype=bool)
    for ranking in rankings:
        chosen = ranking["selected"].to_numpy().astype(bool)  # stored as 0 or 1
        selected |= np.isin(units, ranking["unit"].to_numpy()[chosen])
    if not selected.any():
        log.warning("no analysed area selected a unit: every unit's validation r stops training")
    means, repeats = image_targets(counts, units, frames)
    pixels, source = shared_core_positions(
        units, means, rankings, per_neuron, images, split, geometry
    )
    architecture = settings.shared_core_architecture
    height, width = images.shape[1:]
    log.info(
        "shared core (scope %s, %d member(s)): %d units (%d selected; readouts from %s) on %s",
        scope,
        settings.ensemble,
        units.size,
        selected.sum(),
        dict(zip(*np.unique(source, return_counts=True), strict=True)),
        device,
    )
    grid = pixel_to_grid(pixels[:, 0], pixels[:, 1], height, width, architecture.pool)
    x = torch.as_tensor(images.to_numpy()[:, None], dtype=torch.float32, device=device)
    y = torch.as_tensor(means, dtype=torch.float32, device=device)
    r = torch.as_tensor(repeats, dtype=torch.float32, device=device)
    cores, curves = [], []
    for group in dict.fromkeys(groups):
        of_group = groups == group
        scored = selected[of_group] if selected[of_group].any() else np.ones(of_group.sum(), bool)
        for member in range(settings.ensemble):
            seed = settings.shared_core.seed + member
            model = SharedCoreCNN(int(of_group.sum()), height, width, architecture, seed)
            model = model.to(device)
            model.set_positions(torch.as_tensor(grid[of_group], dtype=torch.float32))
            training = replace(settings.training, seed=seed)
            log.info("core %s, member %d: %d units", group, member, of_group.sum())
            index = torch.as_tensor(np.flatnonzero(of_group), device=device)
            result = train_shared_core(
                model, x, y[:, index], r if r.dim() == 1 else r[:, index], split, scored, training
            )
            cores.append(CoreMember(result.model, units[of_group], str(group), member))
            curves.append(result)
    predicted_units, predicted = shared_core_predict(cores, x)
    column = {int(u): i for i, u in enumerate(predicted_units)}
    predicted = predicted[:, torch.as_tensor([column[int(u)] for u in units], device=device)]
    scores = {
        f"{part}_correlation": correlations(predicted[split == part], y[split == part])
        for part in ("validation", "test")
    }
    n_epochs = max(c.train_loss.size for c in curves)

    def padded(values: np.ndarray) -> np.ndarray:
        return np.pad(values.astype(float), (0, n_epochs - values.size), constant_values=np.nan)

    ds = xr.Dataset(
        {
            "predicted_rate": (("unit", "frame"), predicted.cpu().numpy().T),
            **{name: ("unit", r.cpu().numpy()) for name, r in scores.items()},
            "selected": ("unit", selected),
            "readout_start_col": ("unit", pixels[:, 0]),
            "readout_start_row": ("unit", pixels[:, 1]),
            "readout_start": ("unit", source),
            "train_loss": (("core", "epoch"), np.stack([padded(c.train_loss) for c in curves])),
            "validation_curve": (
                ("core", "epoch"),
                np.stack([padded(c.validation_correlation) for c in curves]),
            ),
            "best_epoch": ("core", np.array([c.best_epoch for c in curves])),
        },
        coords={
            "unit": units,
            "area": ("unit", areas),
            "core_group": ("unit", groups.astype(str)),
            "frame": frames,
            "split": ("frame", split),
            "epoch": np.arange(n_epochs),
            "group": ("core", [c.group for c in cores]),
            "member": ("core", [c.member for c in cores]),
        },
        attrs={
            "scope": scope,
            "n_members": settings.ensemble,
            "device": str(device),
            "scored": "; ".join(
                f"{group}: {'selected' if selected[groups == group].any() else 'all units'}"
                for group in dict.fromkeys(groups)
            ),
            "coreless_areas": ", ".join(empty) if scope == "area" else "",
            "left_out_units": ", ".join(str(u) for u in left_out),
        },
    )
    described = {
        "predicted_rate": ("shared-core prediction per scene (members' mean)", "spikes"),
        "validation_correlation": ("correlation with the mean counts, validation scenes", "1"),
        "test_correlation": ("correlation with the mean counts, test scenes", "1"),
        "selected": ("selected in its area (its validation r stops the training)", "1"),
        "readout_start_col": ("column where the readout started", "px"),
        "readout_start_row": ("row where the readout started", "px"),
        "readout_start": ("what the start came from", ""),
        "train_loss": ("mean Poisson loss per unit, training scenes", "1"),
        "validation_curve": ("mean validation correlation of the core's scored units", "1"),
        "best_epoch": ("epoch of the core's best mean validation correlation", "1"),
    }
    describe(ds, described)
    log.info(
        "shared core: median test r of the scored units %.3f",
        float(np.nanmedian(ds["test_correlation"].to_numpy()[selected if selected.any() else ...])),
    )
    return TrainedSharedCore(ds, cores)


def _area_of(ranking: xr.Dataset) -> str:
    """The area a ranking belongs to (its ``area`` attribute)."""
    return str(ranking.attrs["area"])


def _units_with_every_frame(counts: xr.Dataset, frames: np.ndarray) -> np.ndarray:
    """The units of a count table with a valid presentation of every one of ``frames``."""
    shown = counts["frame"].to_numpy()
    if "valid" not in counts:  # every trial valid
        return counts["unit"].to_numpy()
    valid = counts["valid"].transpose("presentation", "unit").to_numpy().astype(bool)
    complete = [np.isin(frames, shown[valid[:, k]]).all() for k in range(valid.shape[1])]
    return counts["unit"].to_numpy()[np.array(complete, dtype=bool)]
