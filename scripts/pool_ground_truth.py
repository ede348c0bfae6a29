"""Rule pool_ground_truth (simulated sessions): the session's checks, its areas' units pooled."""

import pandas as pd

from meiflow.io.runtime import log_to
from meiflow.simulation.ground_truth import session_table


def main(smk) -> None:
    log_to(smk.log[0])
    units = [pd.read_csv(path) for path in smk.input.units]
    session_table(int(smk.wildcards.session), units).to_csv(smk.output[0], index=False)


main(snakemake)  # noqa: F821
