"""Rule summarize_area: one row of counts and median scores for the area, summary.csv."""

import pandas as pd

from meiflow.io.netcdf import read_netcdf
from meiflow.io.runtime import log_to
from meiflow.metrics.summary import area_summary


def main(smk) -> None:
    log = log_to(smk.log[0])
    row = {"session": int(smk.wildcards.session), "area": smk.wildcards.area}
    row |= area_summary(
        read_netcdf(smk.input.ranking, ("oracle", "selected")),
        read_netcdf(smk.input.scores),
        read_netcdf(smk.input.gabors),
        read_netcdf(smk.input.metrics),
    )
    for key, value in row.items():
        log.info("%s: %s", key, value)
    pd.DataFrame([row]).to_csv(smk.output[0], index=False)


main(snakemake)  # noqa: F821
