"""Rule phase_invariance: one chunk's responses to scenes with their local phase scrambled."""

import numpy as np
import torch
import xarray as xr

from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.mei.phase_invariance import local_phase_scramble, phase_invariance_index
from meiflow.models.model_io import load_chunk
from meiflow.stimuli.geometry import ScreenGeometry


def main(smk) -> None:
    log = log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    settings = smk.params.phase_invariance
    chunk, ensemble, device = load_chunk(smk.input.chunk, smk.input.checkpoint, smk.params.device)
    units = chunk["unit"].to_numpy()
    height, width = ensemble.height, ensemble.width
    images = read_netcdf(smk.input.images, ("images",))["images"]
    scenes = images.sel(frame=images["frame"] >= 0)
    original = chunk["predicted_rate"].sel(frame=scenes["frame"]).transpose("unit", "frame")
    # the receptive field: each unit's readout position (the members' mean), and a radius in
    # degrees
    col, row = ensemble.readout_pixels().T
    radius_px = settings["radius_deg"] * max(
        ScreenGeometry(**smk.params.screen).pixels_per_degree(height, width)
    )
    seeds = [settings["seed"] + k for k in range(settings["seeds"])]
    log.info(
        "%d units, %d scenes, %d phase fields, window radius %.1f px",
        units.size,
        scenes.sizes["frame"],
        len(seeds),
        radius_px,
    )
    scrambled = np.empty((units.size, len(seeds), scenes.sizes["frame"]), dtype=np.float32)
    for k, seed in enumerate(seeds):  # one phase field at a time bounds the memory
        frames = local_phase_scramble(
            scenes.to_numpy(), row, col, np.full(units.size, radius_px), [seed]
        )[:, 0]
        paired = torch.as_tensor(frames, dtype=torch.float32, device=device).transpose(0, 1)
        predicted = ensemble.predict(paired)
        scrambled[:, k] = predicted.T.cpu().numpy()
    index = phase_invariance_index(original.to_numpy(), scrambled)
    ds = xr.Dataset(
        {
            "phase_invariance": ("unit", index),
            "scrambled_rate": (("unit", "seed", "frame"), scrambled),
            "rf_col": ("unit", col),
            "rf_row": ("unit", row),
        },
        coords={"unit": units, "seed": seeds, "frame": scenes["frame"].to_numpy()},
    )
    ds["phase_invariance"].attrs = {
        "long_name": "mean over phase fields of the correlation across scenes between the "
        "predicted responses to the scenes and to their locally phase-scrambled versions",
        "units": "1",
    }
    ds["scrambled_rate"].attrs = {
        "long_name": "predicted response to the phase-scrambled scene",
        "units": "spikes",
    }
    ds.attrs.update(radius_px=radius_px, taper=0.5)
    write_netcdf(ds, smk.output[0], config=dict(smk.params.items()), inputs=list(smk.input))
    log.info("median phase invariance %.3f", float(np.nanmedian(index)))


main(snakemake)  # noqa: F821
