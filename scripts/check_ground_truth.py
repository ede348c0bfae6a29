"""Rule check_ground_truth (simulated sessions): results against the simulator's truth."""

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf
from meiflow.io.runtime import log_to
from meiflow.simulation.ground_truth import ground_truth_table
from meiflow.stimuli.geometry import ScreenGeometry


def main(smk) -> None:
    log_to(smk.log[0])
    table = ground_truth_table(
        session=int(smk.wildcards.session),
        area=smk.wildcards.area,
        ranking=read_netcdf(smk.input.ranking, ("oracle",)),
        truth=read_netcdf(smk.input.truth, ("reliability",)),
        psth=read_netcdf(smk.input.psth),
        scores=read_netcdf(smk.input.scores),
        meis=read_netcdf(smk.input.meis),
        gabors=read_netcdf(smk.input.gabors),
        metrics=read_netcdf(smk.input.metrics),
        images=read_netcdf(smk.input.images, ("images",)),
        geometry=settings_from(ScreenGeometry, smk.params.screen, "screen"),
    )
    table.to_csv(smk.output[0], index=False)


main(snakemake)  # noqa: F821
