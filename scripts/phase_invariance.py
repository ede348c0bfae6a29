"""Rule phase_invariance: one chunk's responses to scenes with their local phase scrambled."""

import torch

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.mei.phase_invariance import chunk_phase_invariance
from meiflow.mei.settings import PhaseInvarianceSettings
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
    ds = chunk_phase_invariance(
        chunk,
        ensemble,
        read_netcdf(smk.input.images, ("images",))["images"],
        settings_from(PhaseInvarianceSettings, smk.params.phase_invariance, "phase_invariance"),
        settings_from(ScreenGeometry, smk.params.screen, "screen"),
        device,
    )
    write_netcdf(ds, smk.output[0], config=dict(smk.params.items()), inputs=list(smk.input))


main(snakemake)  # noqa: F821
