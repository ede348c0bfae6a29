"""Rule image_metrics: an area's MEIs and Gabors gathered, and their image metrics."""

import numpy as np
import xarray as xr

from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.mei.synthesis import at_best_start
from meiflow.metrics.image_metrics import image_metrics, image_spectra
from meiflow.models.model_io import EMPTY_AREA_REASON, drop_units, failed_units, gather_units
from meiflow.stimuli.geometry import ScreenGeometry

IMAGE_KINDS = ("mei", "recorded_gabor", "insilico_gabor")


def main(smk) -> None:
    log = log_to(smk.log[0])
    meis = gather_units(smk.input.meis, ("mei",), EMPTY_AREA_REASON)
    gabors = gather_units(smk.input.gabors, ("insilico_gabor",), EMPTY_AREA_REASON)
    invariance = gather_units(smk.input.invariance, ("phase_invariance",), EMPTY_AREA_REASON)
    dropped = failed_units(read_netcdf(smk.input.scores))
    for unit, reason in dropped.items():
        log.warning("unit %d dropped: training failed (%s)", unit, reason)
    meis, gabors, invariance = (drop_units(ds, dropped) for ds in (meis, gabors, invariance))
    inputs = list(smk.input)
    units = meis["unit"].to_numpy()
    if units.size == 0 and dropped:
        meis.attrs["empty_reason"] = gabors.attrs["empty_reason"] = (
            "the training of every selected unit failed"
        )
    write_netcdf(meis, smk.output.meis, inputs=inputs)
    write_netcdf(gabors, smk.output.gabors, inputs=inputs)
    if units.size == 0:
        log.warning("no unit to compare in this area: empty MEIs, Gabors and metrics")
        metrics = xr.Dataset(coords={"unit": units, "image_kind": list(IMAGE_KINDS)})
        kept = ("empty_reason", "dropped_units")
        metrics.attrs = {k: v for k, v in meis.attrs.items() if k in kept}
        write_netcdf(metrics, smk.output.metrics, inputs=inputs)
        metrics.to_dataframe().to_csv(smk.output.csv)
        return

    images = np.stack(
        [
            at_best_start(meis),
            gabors["recorded_gabor"].sel(unit=units).to_numpy(),
            gabors["insilico_gabor"].sel(unit=units).to_numpy(),
        ],
        axis=1,
    )
    height, width = images.shape[-2:]
    ppd = ScreenGeometry(**smk.params.screen).pixels_per_degree(height, width)
    scalars = image_metrics(images, ppd, fraction=smk.params.metrics["mask_fraction"])
    spectrum = image_spectra(images)
    metrics = xr.Dataset(
        {name: (("unit", "image_kind"), values) for name, values in scalars.items()},
        coords={"unit": units, "image_kind": list(IMAGE_KINDS)},
    )
    metrics["log_power"] = (("unit", "image_kind", "fy", "fx"), spectrum["log_power"])
    metrics["radial_power"] = (
        ("unit", "image_kind", "radial_frequency"),
        spectrum["radial_power"],
    )
    metrics = metrics.assign_coords(
        fy=spectrum["fy"], fx=spectrum["fx"], radial_frequency=spectrum["radial_frequency"]
    )
    metrics["phase_invariance"] = invariance["phase_invariance"].sel(unit=units)
    if "dropped_units" in meis.attrs:
        metrics.attrs["dropped_units"] = meis.attrs["dropped_units"]
    for name in ("fy", "fx", "radial_frequency"):
        metrics[name].attrs = {"long_name": f"spatial frequency ({name})", "units": "cycles/pixel"}
    metrics["log_power"].attrs = {"long_name": "log(1 + |FFT|^2) of the mean-subtracted image"}
    write_netcdf(metrics, smk.output.metrics, config=dict(smk.params.items()), inputs=inputs)
    table = metrics[list(scalars)].to_dataframe()
    table["phase_invariance"] = (
        metrics["phase_invariance"]
        .to_series()
        .reindex(table.index.get_level_values("unit"))
        .to_numpy()
    )
    table.to_csv(smk.output.csv)
    log.info("metrics of %d units x %d image kinds", units.size, len(IMAGE_KINDS))


main(snakemake)  # noqa: F821
