"""Rule collect_models: scores of every model of an area, in model_scores.nc."""

from meiflow.io.netcdf import read_chunks, read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.models.scores import model_scores
from meiflow.ranking.selection import empty_area_reason


def main(smk) -> None:
    log_to(smk.log[0])
    ranking = read_netcdf(smk.input.ranking, ("oracle", "reason"))
    scores = model_scores(
        read_chunks(smk.input.chunks, ("predicted_rate",), empty_area_reason(ranking)),
        ranking,
        read_netcdf(smk.input.linear),
        read_netcdf(smk.input.scenes),
        shared_core=(
            read_netcdf(smk.input.shared_core_scores, ("predicted_rate",))
            if "shared_core_scores" in smk.input.keys()  # models.kind lists it
            else None
        ),
    )
    write_netcdf(scores, smk.output[0], inputs=list(smk.input))


main(snakemake)  # noqa: F821
