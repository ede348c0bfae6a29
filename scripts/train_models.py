"""Rule train_models: one chunk of per-neuron CNNs, trained as one batched network."""

import numpy as np
import torch
import xarray as xr

from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.models.ensemble import Ensemble
from meiflow.models.gabor_responses import condition_means, drifting_frames, predict_conditions
from meiflow.models.model_io import chunk_units, scene_inputs
from meiflow.models.network import (
    ModelSettings,
    PerNeuronCNN,
    checkpoint_state,
    keep_freed_memory,
    select,
)
from meiflow.models.scene_data import image_targets, pixel_to_grid, readout_candidates
from meiflow.models.training import TrainSettings, correlations, device_for, predict, train_chunk
from meiflow.stimuli.geometry import ScreenGeometry


def model_seed(seed: int, unit: int, start: int, member: int) -> int:
    """Seed of one network, from its unit, candidate start and ensemble member alone (member 0
    gets the seed a single network has)."""
    key = [seed, unit, start] + ([member] if member else [])
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def main(smk) -> None:
    log = log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    settings = smk.params.models
    architecture = ModelSettings(**settings["architecture"])
    training = TrainSettings(**settings["training"])
    device = device_for(settings["device"])
    if device.type == "cpu":
        keep_freed_memory()  # glibc would unmap and re-fault large activations every step
    ranking = read_netcdf(smk.input.ranking, ("selected",))
    units = chunk_units(ranking, int(smk.wildcards.chunk), settings["chunk_size"])
    images, split = scene_inputs(smk.input.images, settings["split"])
    frames = images["frame"].to_numpy()
    height, width = images.shape[1:]
    means, repeats = image_targets(read_netcdf(smk.input.scenes), units, frames)
    ridge = read_netcdf(smk.input.linear)["weights"].sel(unit=units).to_numpy()
    geometry = ScreenGeometry(**smk.params.screen)
    train, val = split == "train", split == "validation"
    unit_index, pixels = readout_candidates(
        ranking, units, ridge, geometry, images.to_numpy()[train], means[train]
    )
    # models.ensemble networks per (unit, candidate start), member-major; each seeded by its
    # unit, candidate and member only (member 0 by the seed a single network has)
    members, n_starts = int(settings["ensemble"]), len(unit_index)
    seeds = [
        model_seed(training.seed, int(units[k]), j, m)
        for m in range(members)
        for j, k in enumerate(unit_index)
    ]
    log.info(
        "%d units, %d candidate readout starts x %d ensemble members on %s",
        units.size,
        n_starts,
        members,
        device,
    )
    model = PerNeuronCNN(len(seeds), height, width, architecture, seeds).to(device)
    grid = pixel_to_grid(pixels[:, 0], pixels[:, 1], height, width, architecture.pool)
    model.set_positions(torch.as_tensor(np.tile(grid, (members, 1)), dtype=torch.float32))
    x = torch.as_tensor(images.to_numpy()[:, None], dtype=torch.float32, device=device)
    y = torch.as_tensor(means[:, unit_index], dtype=torch.float32, device=device)
    r = torch.as_tensor(repeats, device=device)
    targets = y.repeat(1, members)
    result = train_chunk(model, x[train], targets[train], r[train], x[val], targets[val], training)

    # keep, for every unit, the candidate start whose ensemble validates best
    candidates = Ensemble(result.model, members)  # an ensemble of the candidate starts
    start_r = correlations(candidates.mean(predict(result.model, x[val])), y[val])
    start_r = start_r.cpu().numpy()
    best = np.array(
        [
            np.flatnonzero(unit_index == k)[np.argmax(start_r[unit_index == k])]
            for k in range(units.size)
        ]
    )
    rows = best[:, None] + n_starts * np.arange(members)  # (unit, member) rows of the network
    chosen = Ensemble(select(result.model, rows.T.ravel().tolist()), members)  # member-major
    predicted = chosen.mean(predict(chosen.network, x)).cpu().numpy()
    # generalization to another stimulus: the 243 gabors conditions, never trained on
    gabors = condition_means(read_netcdf(smk.input.gabors), units)
    frames_gabor = torch.as_tensor(drifting_frames(gabors, geometry, height, width), device=device)
    observed_gabor = torch.as_tensor(gabors["mean_count"].to_numpy().T, device=device)
    predicted_gabor = chosen.mean(predict_conditions(chosen.network, frames_gabor))
    gabor_r = correlations(predicted_gabor, observed_gabor.float())
    torch.save({**checkpoint_state(chosen.network), "units": units.tolist()}, smk.output.checkpoint)
    failure = [
        "; ".join(
            f"member {m}: {why}" if members > 1 else why for m, why in enumerate(reasons) if why
        )
        for reasons in result.failure[rows]
    ]
    ds = xr.Dataset(
        {
            "predicted_rate": (("unit", "frame"), predicted.T),
            "validation_correlation": ("unit", start_r[best]),
            "gabor_correlation": ("unit", gabor_r.cpu().numpy()),
            "training_failure": ("unit", failure),
            "best_epoch": (("unit", "member"), result.best_epoch[rows]),
            "member_validation_correlation": (
                ("unit", "member"),
                result.best_validation_correlation[rows],
            ),
            "train_loss": (("unit", "member", "epoch"), result.train_loss[rows]),
            "validation_curve": (("unit", "member", "epoch"), result.validation_correlation[rows]),
            "readout_start_col": ("unit", pixels[best, 0]),
            "readout_start_row": ("unit", pixels[best, 1]),
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
    ds.attrs.update(device=str(device), checkpoint=str(smk.output.checkpoint))
    write_netcdf(ds, smk.output.nc, config=dict(smk.params.items()), inputs=list(smk.input))
    for unit, reason in zip(units, failure, strict=True):
        if reason:
            log.warning("unit %d: training stopped early, %s (best state kept)", unit, reason)
    log.info("median validation r %.3f", float(np.median(ds["validation_correlation"])))


main(snakemake)  # noqa: F821
