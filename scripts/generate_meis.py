"""Rule generate_meis: the MEIs of one chunk of trained models, batched over units and starts."""

import dataclasses

import numpy as np
import torch
import xarray as xr

from meiflow.io.netcdf import write_netcdf
from meiflow.io.runtime import log_to
from meiflow.mei.synthesis import (
    MEISettings,
    best_init,
    init_similarity,
    initial_images,
    synthesize,
)
from meiflow.models.model_io import load_chunk, scene_inputs


def main(smk) -> None:
    log = log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    config = dict(smk.params.meis)
    chunk, ensemble, device = load_chunk(smk.input.chunk, smk.input.checkpoint, smk.params.device)
    units = chunk["unit"].to_numpy()
    images, split = scene_inputs(smk.input.images, smk.params.split)
    training = images.to_numpy()[(split == "train") & (images["frame"].to_numpy() >= 0)]
    target_std = float(training.std(axis=(1, 2)).mean())  # C*: mean std of the training scenes
    kinds = list(config.pop("initializations"))
    seed = int(config.pop("seed"))
    settings = MEISettings(**config)
    log.info(
        "%d units x %d starts, %d steps (%s) on %s, C* = %.3f",
        units.size,
        len(kinds),
        settings.steps,
        settings.method,
        device,
        target_std,
    )
    initial = initial_images(units.size, ensemble.height, ensemble.width, kinds, seed, device)
    result = synthesize(ensemble.response, initial, settings, target_std)
    best = best_init(result).cpu().numpy()
    ds = xr.Dataset(
        {
            "mei": (("unit", "init", "y", "x"), result.images.cpu().numpy()),
            "response": (("unit", "init"), result.response.cpu().numpy()),
            "response_trace": (("unit", "init", "step"), result.response_trace.cpu().numpy()),
            "std_trace": (("unit", "init", "step"), result.std_trace.cpu().numpy()),
            "best_init": ("unit", best),
            "init_similarity": ("unit", init_similarity(result.images).cpu().numpy()),
        },
        coords={
            "unit": units,
            "init": kinds,
            "y": np.arange(ensemble.height),
            "x": np.arange(ensemble.width),
            "step": np.arange(settings.steps),
        },
    )
    attrs = {
        "mei": ("most exciting input, luminance (0 black, 1 white)", "1"),
        "response": ("predicted response to the MEI", "spikes"),
        "response_trace": ("predicted response at the start of each step", "spikes"),
        "std_trace": ("pixel standard deviation at the start of each step", "1"),
        "best_init": ("index of the initialization with the highest response", "1"),
        "init_similarity": ("mean pairwise correlation of the MEIs across starts", "1"),
    }
    for name, (long_name, unit) in attrs.items():
        ds[name].attrs = {"long_name": long_name, "units": unit}
    ds.attrs.update(
        target_std=target_std,
        device=str(device),
        **{f"setting_{k}": v for k, v in dataclasses.asdict(settings).items()},
    )
    write_netcdf(ds, smk.output[0], config=dict(smk.params.items()), inputs=list(smk.input))
    log.info(
        "median response %.3f, median similarity across starts %.3f",
        float(np.median(result.response.cpu().numpy().max(1))),
        float(np.nanmedian(ds["init_similarity"])),
    )


main(snakemake)  # noqa: F821
