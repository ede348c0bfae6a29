"""Rule compare_gabors: recorded and in-silico best Gabors of one chunk, and every response."""

import numpy as np
import torch
import xarray as xr

from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.mei.gabor_search import PARAMETERS, GaborGrid, best_gabors, recorded_best_gabor
from meiflow.mei.synthesis import at_best_start
from meiflow.metrics.image_metrics import image_mask
from meiflow.models.gabor_responses import condition_means
from meiflow.models.model_io import load_chunk
from meiflow.stimuli.geometry import ScreenGeometry

PARAMETER_UNITS = {
    "center_x_deg": "deg",
    "center_y_deg": "deg",
    "orientation_deg": "deg",
    "sf_cpd": "cycles/deg",
    "phase_rad": "rad",
    "sigma_deg": "deg",
}


def main(smk) -> None:
    log = log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    settings = smk.params.gabors
    geometry = ScreenGeometry(**smk.params.screen)
    chunk, ensemble, device = load_chunk(smk.input.chunk, smk.input.checkpoint, smk.params.device)
    units = chunk["unit"].to_numpy()
    response = ensemble.response
    height, width = ensemble.height, ensemble.width
    meis = read_netcdf(smk.input.meis, ("mei",))
    mei = at_best_start(meis)

    conditions = condition_means(read_netcdf(smk.input.gabors), units)
    recorded, ranked = recorded_best_gabor(
        conditions["mean_count"].to_numpy(),
        conditions["orientation"].to_numpy(),
        conditions["x_position"].to_numpy(),
        conditions["y_position"].to_numpy(),
        settings["recorded_top_k"],
        geometry,
        height,
        width,
    )

    center_row, center_col, _ = image_mask(mei)
    centers = np.stack(geometry.pixel_to_deg(center_col, center_row, height, width), axis=1)
    window = settings["window"]
    mei_t = torch.as_tensor(mei, dtype=torch.float32, device=device)
    log.info(
        "%d units: in-silico Gabor search (window %s around the MEI centres) on %s",
        units.size,
        window,
        device,
    )
    found = best_gabors(
        response,
        units.size,
        mei_t.mean(dim=(1, 2)),
        mei_t.std(dim=(1, 2), correction=0),
        height,
        width,
        geometry,
        GaborGrid.walker(height, width),
        top_k=settings["top_k"],
        refine_steps=settings["refine_steps"],
        batch_size=settings["batch_size"],
        centers_deg=None if window is None else centers,
        window=None if window is None else tuple(window),
    )
    insilico = found.images.cpu().numpy()
    stack = np.stack([mei, insilico, recorded], axis=1)
    with torch.no_grad():
        responses = response(torch.as_tensor(stack, dtype=torch.float32, device=device))
    responses = responses.cpu().numpy()
    scenes = chunk["predicted_rate"].sel(frame=chunk["frame"] >= 0)
    best_scene = scenes.argmax("frame").to_numpy()

    ds = xr.Dataset(
        {
            "recorded_gabor": (("unit", "y", "x"), recorded),
            "insilico_gabor": (("unit", "y", "x"), insilico),
            "recorded_conditions": (
                ("unit", "rank"),
                conditions["condition"].to_numpy()[ranked],
            ),
            **{
                f"insilico_{name}": ("unit", found.parameters[:, k].cpu().numpy())
                for k, name in enumerate(PARAMETERS)
            },
            "response_mei": ("unit", responses[:, 0]),
            "response_insilico_gabor": ("unit", responses[:, 1]),
            "response_recorded_gabor": ("unit", responses[:, 2]),
            "response_insilico_grid": ("unit", found.grid_response.cpu().numpy()),
            "response_best_scene": ("unit", scenes.max("frame").to_numpy()),
            "best_scene_frame": ("unit", scenes["frame"].to_numpy()[best_scene]),
        },
        coords={
            "unit": units,
            "y": np.arange(height),
            "x": np.arange(width),
            "rank": np.arange(ranked.shape[1]),
        },
    )
    for control in ("insilico_gabor", "recorded_gabor", "best_scene"):
        ds[f"mei_over_{control}"] = ds["response_mei"] / ds[f"response_{control}"]
        ds[f"mei_over_{control}"].attrs = {
            "long_name": f"predicted response to the MEI / to the {control.replace('_', ' ')}",
            "units": "1",
        }
    for name, unit in PARAMETER_UNITS.items():
        ds[f"insilico_{name}"].attrs = {"long_name": f"in-silico best Gabor: {name}", "units": unit}
    for name in ("mei", "insilico_gabor", "recorded_gabor", "insilico_grid", "best_scene"):
        ds[f"response_{name}"].attrs = {
            "long_name": f"predicted response to the {name.replace('_', ' ')}",
            "units": "spikes",
        }
    ds["recorded_gabor"].attrs = {
        "long_name": "mean of the static frames of the best recorded gabors conditions",
        "units": "1",
    }
    ds["insilico_gabor"].attrs = {
        "long_name": "Gabor of highest predicted response, matched to the MEI's mean and std",
        "units": "1",
    }
    write_netcdf(ds, smk.output[0], config=dict(smk.params.items()), inputs=list(smk.input))
    log.info(
        "median ratios MEI / in-silico Gabor %.3f, / recorded Gabor %.3f, / best scene %.3f",
        *(
            float(np.nanmedian(ds[f"mei_over_{c}"]))
            for c in ("insilico_gabor", "recorded_gabor", "best_scene")
        ),
    )


main(snakemake)  # noqa: F821
