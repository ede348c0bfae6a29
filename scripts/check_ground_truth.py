"""Rule check_ground_truth (simulated sessions): an area's results against the simulator's truth."""

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf
from meiflow.io.runtime import log_to
from meiflow.mei.settings import MEISettings
from meiflow.simulation.ground_truth import (
    ground_truth_table,
    heldout_predictions,
    shared_core_heldout,
    unit_checks,
)


def main(smk) -> None:
    log_to(smk.log[0])
    truth = read_netcdf(smk.input.truth, ("reliability", "heldout_images"))
    shared_core = None
    if "shared_core" in smk.input.keys():  # models.kind lists it
        shared_core = shared_core_heldout(
            smk.input.shared_core, truth["heldout_images"].to_numpy(), smk.params.device
        )
    units = unit_checks(
        scores=read_netcdf(smk.input.scores),
        linear=read_netcdf(smk.input.linear),
        per_neuron_heldout=heldout_predictions(
            list(zip(smk.input.chunks, smk.input.checkpoints, strict=True)),
            truth["heldout_images"].to_numpy(),
            smk.params.device,
        ),
        meis=read_netcdf(smk.input.meis),
        gabors=read_netcdf(smk.input.gabors),
        metrics=read_netcdf(smk.input.metrics),
        truth=truth,
        mei_settings=settings_from(MEISettings, smk.params.meis, "meis"),
        shared_core=shared_core,
    )
    table = ground_truth_table(
        session=int(smk.wildcards.session),
        area=smk.wildcards.area,
        ranking=read_netcdf(smk.input.ranking, ("oracle",)),
        truth=truth,
        psth=read_netcdf(smk.input.psth),
        units=units,
    )
    units.to_csv(smk.output.units, index=False)
    table.to_csv(smk.output.table, index=False)


main(snakemake)  # noqa: F821
