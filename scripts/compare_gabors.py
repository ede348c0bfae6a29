"""Rule compare_gabors: recorded and in-silico best Gabors of one chunk, and every response."""

import torch

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.mei.settings import GaborSettings
from meiflow.metrics.comparison import gabor_controls
from meiflow.models.chunks import load_chunk
from meiflow.stimuli.geometry import ScreenGeometry


def main(smk) -> None:
    log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    chunk, ensemble, device = load_chunk(
        smk.input.chunk,
        smk.input.checkpoint,
        smk.params.device,
        getattr(smk.input, "shared_core_scores", None),  # meis.model: shared_core
    )
    ds = gabor_controls(
        chunk,
        ensemble,
        read_netcdf(smk.input.meis, ("mei",)),
        read_netcdf(smk.input.gabors),
        settings_from(GaborSettings, smk.params.gabors, "gabors"),
        settings_from(ScreenGeometry, smk.params.screen, "screen"),
        device,
    )
    write_netcdf(ds, smk.output[0], config=dict(smk.params.items()), inputs=list(smk.input))


main(snakemake)  # noqa: F821
