"""Rule collect_models: scores of every model of an area, in model_scores.nc."""

import numpy as np

from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.models.measures import (
    correlation_to_average,
    feve,
    fraction_of_oracle,
    single_trial_correlation,
)
from meiflow.models.model_io import EMPTY_AREA_REASON, gather_units
from meiflow.models.scene_data import frames_of


def main(smk) -> None:
    log = log_to(smk.log[0])
    ranking = read_netcdf(smk.input.ranking, ("oracle",))
    linear = read_netcdf(smk.input.linear)
    ds = gather_units(smk.input.chunks, ("predicted_rate",), EMPTY_AREA_REASON)
    if ds.sizes["unit"] == 0:
        log.warning("no selected unit in this area: model_scores.nc is empty")
        write_netcdf(ds, smk.output[0], inputs=list(smk.input))
        return
    units = ds["unit"].to_numpy()
    counts = read_netcdf(smk.input.scenes).sel(unit=units)
    frames = counts["frame"].to_numpy().astype(np.int64)
    test_frames = frames_of(ds, "test")  # scenes only: the blank is always a training image
    trials = np.isin(frames, test_frames)
    observed = counts["spike_counts"].transpose("presentation", "unit").to_numpy()[trials]
    cnn = ds["predicted_rate"].sel(frame=test_frames).transpose("frame", "unit").to_numpy()
    lin = linear["predicted_rate"].sel(unit=units, frame=test_frames).transpose("frame", "unit")
    ds["test_correlation"] = ("unit", correlation_to_average(cnn, observed, frames[trials]))
    ds["feve"] = ("unit", feve(cnn, observed, frames[trials]))
    ds["test_correlation_single_trial"] = (
        "unit",
        single_trial_correlation(cnn, observed, frames[trials]),
    )
    oracle = ranking["oracle"].sel(unit=units).to_numpy()
    ds["fraction_of_oracle"] = (
        "unit",
        fraction_of_oracle(ds["test_correlation_single_trial"].to_numpy(), oracle),
    )
    ds["linear_predicted_rate"] = linear["predicted_rate"].sel(unit=units)
    ds["linear_test_correlation"] = (
        "unit",
        correlation_to_average(lin.to_numpy(), observed, frames[trials]),
    )
    for name, text in {
        "test_correlation": "correlation to average of the CNN on the test scenes",
        "validation_correlation": "validation correlation of the unit's ensemble of CNNs",
        "member_validation_correlation": "best validation correlation of each ensemble member",
        "feve": "fraction of explainable variance explained on the test trials",
        "test_correlation_single_trial": "correlation of single test trials with the CNN",
        "fraction_of_oracle": "test_correlation_single_trial / oracle (both single-trial)",
        "linear_test_correlation": "correlation to average of the ridge baseline (test scenes)",
        "best_epoch": "epoch of each member's best validation correlation (early stopping)",
        "gabor_correlation": "correlation of the CNN with the mean counts of the gabors conditions",
        "training_failure": "why training stopped early (non-finite loss or parameters), or empty",
    }.items():
        ds[name].attrs["long_name"] = text
    log.info(
        "median test r: CNN %.3f, linear %.3f over %d units",
        float(np.nanmedian(ds["test_correlation"])),
        float(np.nanmedian(ds["linear_test_correlation"])),
        units.size,
    )
    write_netcdf(ds, smk.output[0], inputs=list(smk.input))


main(snakemake)  # noqa: F821
