"""Rule fit_linear: ridge regression on pixels for every selected unit of an area."""

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.models.chunks import scene_inputs
from meiflow.models.linear import linear_dataset
from meiflow.models.settings import SplitSettings


def main(smk) -> None:
    log_to(smk.log[0])
    images, split = scene_inputs(
        read_netcdf(smk.input.images, ("images",)),
        settings_from(SplitSettings, smk.params.split, "models.split"),
    )
    ds = linear_dataset(
        read_netcdf(smk.input.ranking, ("selected", "reason")),
        images,
        split,
        read_netcdf(smk.input.scenes),
        smk.params.downsample,
    )
    write_netcdf(ds, smk.output[0], config=dict(smk.params.items()), inputs=list(smk.input))


main(snakemake)  # noqa: F821
