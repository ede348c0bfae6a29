"""Rule image_metrics: an area's MEIs and Gabors gathered, and their image metrics."""

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_chunks, read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.metrics.comparison import MEI_VARIABLES, compare_area
from meiflow.metrics.settings import MetricsSettings
from meiflow.ranking.selection import empty_area_reason
from meiflow.stimuli.geometry import ScreenGeometry


def main(smk) -> None:
    log_to(smk.log[0])
    empty = empty_area_reason(read_netcdf(smk.input.ranking, ("reason",)))
    result = compare_area(
        meis=read_chunks(smk.input.meis, MEI_VARIABLES, empty),
        gabors=read_chunks(smk.input.gabors, ("insilico_gabor",), empty),
        invariance=read_chunks(smk.input.invariance, ("phase_invariance",), empty),
        scores=read_netcdf(smk.input.scores),
        geometry=settings_from(ScreenGeometry, smk.params.screen, "screen"),
        settings=settings_from(MetricsSettings, smk.params.metrics, "metrics"),
    )
    inputs = list(smk.input)
    write_netcdf(result.meis, smk.output.meis, inputs=inputs)
    write_netcdf(result.gabors, smk.output.gabors, inputs=inputs)
    write_netcdf(result.metrics, smk.output.metrics, config=dict(smk.params.items()), inputs=inputs)
    result.table.to_csv(smk.output.csv)


main(snakemake)  # noqa: F821
