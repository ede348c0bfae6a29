"""Rule train_shared_core: a core for the valid units of a session (or of each analysed area),
a readout per unit, ``models.ensemble`` members."""

import torch

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.models.chunks import scene_inputs
from meiflow.models.fitting import fit_shared_core
from meiflow.models.settings import ModelsSettings
from meiflow.models.shared_core import save_shared_core
from meiflow.models.training import model_device
from meiflow.stimuli.geometry import ScreenGeometry


def main(smk) -> None:
    log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    settings = settings_from(ModelsSettings, smk.params.models, "models")
    device = model_device(settings.device)
    images, split = scene_inputs(read_netcdf(smk.input.images, ("images",)), settings.split)
    trained = fit_shared_core(
        counts=read_netcdf(smk.input.scenes),
        images=images,
        split=split,
        rankings=[read_netcdf(path, ("selected",)) for path in smk.input.rankings],
        per_neuron=[read_netcdf(path) for path in smk.input.chunks],
        settings=settings,
        geometry=settings_from(ScreenGeometry, smk.params.screen, "screen"),
        device=device,
    )
    save_shared_core(trained.cores, smk.output.checkpoint)
    trained.dataset.attrs["checkpoint"] = str(smk.output.checkpoint)
    write_netcdf(
        trained.dataset, smk.output.nc, config=dict(smk.params.items()), inputs=list(smk.input)
    )


main(snakemake)  # noqa: F821
