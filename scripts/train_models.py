"""Rule train_models: one chunk of per-neuron CNNs, trained as one batched network."""

import torch

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.models.chunks import scene_inputs
from meiflow.models.fitting import fit_chunk
from meiflow.models.network import save_checkpoint
from meiflow.models.settings import ModelsSettings
from meiflow.models.training import model_device
from meiflow.stimuli.geometry import ScreenGeometry


def main(smk) -> None:
    log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    settings = settings_from(ModelsSettings, smk.params.models, "models")
    device = model_device(settings.device)
    images, split = scene_inputs(read_netcdf(smk.input.images, ("images",)), settings.split)
    trained = fit_chunk(
        ranking=read_netcdf(smk.input.ranking, ("selected",)),
        chunk=int(smk.wildcards.chunk),
        images=images,
        split=split,
        scenes=read_netcdf(smk.input.scenes),
        linear=read_netcdf(smk.input.linear),
        gabors=read_netcdf(smk.input.gabors),
        settings=settings,
        geometry=settings_from(ScreenGeometry, smk.params.screen, "screen"),
        device=device,
    )
    units = trained.dataset["unit"].to_numpy().tolist()
    save_checkpoint(trained.ensemble.network, smk.output.checkpoint, extra={"units": units})
    trained.dataset.attrs["checkpoint"] = str(smk.output.checkpoint)
    write_netcdf(
        trained.dataset, smk.output.nc, config=dict(smk.params.items()), inputs=list(smk.input)
    )


main(snakemake)  # noqa: F821
