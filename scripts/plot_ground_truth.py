"""Rule plot_ground_truth (simulated sessions): every encoding model against the true rates."""

import pandas as pd

from meiflow.io.runtime import log_to
from meiflow.plots.base import save_figure
from meiflow.plots.models import model_comparison


def main(smk) -> None:
    log_to(smk.log[0])
    units = pd.concat([pd.read_csv(path) for path in smk.input.units], ignore_index=True)
    save_figure(model_comparison(units, int(smk.wildcards.session)), smk.output[0])


main(snakemake)  # noqa: F821
