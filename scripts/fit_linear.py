"""Rule fit_linear: ridge regression on pixels for every selected unit of an area."""

import numpy as np
import xarray as xr

from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.models.linear import fit_ridge
from meiflow.models.model_io import scene_inputs, selected_units
from meiflow.models.scene_data import image_targets


def main(smk) -> None:
    log = log_to(smk.log[0])
    units = selected_units(read_netcdf(smk.input.ranking, ("selected",)))
    images, split = scene_inputs(smk.input.images, smk.params.split)
    frames = images["frame"].to_numpy()
    pixels = images.to_numpy()
    ds = xr.Dataset(
        coords={
            "unit": units,
            "frame": frames,
            "split": ("frame", split),
            "y": images["y"].to_numpy(),
            "x": images["x"].to_numpy(),
        }
    )
    if units.size:
        means, _ = image_targets(read_netcdf(smk.input.scenes), units, frames)
        train, val = split == "train", split == "validation"
        fit = fit_ridge(
            pixels[train], means[train], pixels[val], means[val], downsample=smk.params.downsample
        )
        ds["weights"] = (("unit", "y", "x"), fit.weights)
        ds["alpha"] = ("unit", fit.alpha)
        ds["validation_correlation"] = ("unit", fit.validation_correlation)
        ds["predicted_rate"] = (("unit", "frame"), fit.predict(pixels).T)
        log.info(
            "ridge: median validation r %.3f over %d units",
            np.nanmedian(fit.validation_correlation),
            units.size,
        )
    else:
        log.warning("no selected unit: the linear baseline is empty")
    ds.attrs["description"] = "ridge regression on pixels, alpha chosen per unit on validation"
    write_netcdf(ds, smk.output[0], config=dict(smk.params.items()), inputs=list(smk.input))


main(snakemake)  # noqa: F821
