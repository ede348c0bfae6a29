"""Rule generate_meis: the MEIs of one chunk of trained models, batched over units and starts."""

import torch

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.mei.settings import MEISettings
from meiflow.mei.synthesis import chunk_meis
from meiflow.models.chunks import load_chunk, scene_inputs
from meiflow.models.settings import SplitSettings
from meiflow.stimuli.budget import BudgetSettings


def main(smk) -> None:
    log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    chunk, ensemble, device = load_chunk(
        smk.input.chunk,
        smk.input.checkpoint,
        smk.params.device,
        getattr(smk.input, "shared_core_scores", None),  # meis.model: shared_core
    )
    images, split = scene_inputs(
        read_netcdf(smk.input.images, ("images",)),
        settings_from(SplitSettings, smk.params.split, "models.split"),
    )
    settings = settings_from(MEISettings, smk.params.meis, "meis")
    budget = settings_from(BudgetSettings, smk.params.budget, "budget")
    ds = chunk_meis(chunk, ensemble, images, split, settings, budget, device)
    write_netcdf(ds, smk.output[0], config=dict(smk.params.items()), inputs=list(smk.input))


main(snakemake)  # noqa: F821
