"""Rule check_ground_truth (simulated sessions): results against the simulator's truth."""

import pandas as pd

from meiflow.ingest.images import BLANK_FRAME
from meiflow.io.netcdf import read_netcdf
from meiflow.io.runtime import log_to
from meiflow.simulation.ground_truth import (
    mei_checks,
    mei_true_checks,
    model_checks,
    ranking_checks,
)
from meiflow.stimuli.geometry import ScreenGeometry


def main(smk) -> None:
    log = log_to(smk.log[0])
    ranking = read_netcdf(smk.input.ranking, ("oracle",))
    truth = read_netcdf(smk.input.truth, ("reliability",))
    latency = read_netcdf(smk.input.psth).attrs["latency_s"]
    row = {"session": int(smk.wildcards.session), "area": smk.wildcards.area}
    row |= ranking_checks(ranking, truth, latency)
    row |= model_checks(read_netcdf(smk.input.scores), truth)
    geometry = ScreenGeometry(**smk.params.screen)
    meis = read_netcdf(smk.input.meis)
    row |= mei_checks(
        meis, read_netcdf(smk.input.gabors), read_netcdf(smk.input.metrics), truth, geometry
    )
    images = read_netcdf(smk.input.images, ("images",))["images"]
    scenes = images.sel(frame=images["frame"] != BLANK_FRAME).to_numpy()
    row |= mei_true_checks(meis, truth, scenes, geometry)
    for key, value in row.items():
        log.info("%s: %s", key, value)
    pd.DataFrame([row]).to_csv(smk.output[0], index=False)


main(snakemake)  # noqa: F821
