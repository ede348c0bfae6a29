"""Rule extract_images: the natural scenes at model resolution, blank included, in NetCDF."""

import numpy as np

from meiflow.ingest.scene_images import images_dataset
from meiflow.io.allen_cache import load_scene_templates
from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.stimuli.geometry import ImageSettings


def main(smk) -> None:
    log = log_to(smk.log[0])
    session_id = int(smk.wildcards.session)
    counts = read_netcdf(smk.input.scenes, ("spike_counts",))
    frames = np.unique(counts["frame"].to_numpy().astype(np.int64))
    frames = frames[frames >= 0]
    templates = load_scene_templates(smk.params.cache_dir, session_id, frames)
    log.info("%d scene templates of %s pixels", len(frames), templates.shape[1:])
    size = settings_from(ImageSettings, smk.params.images, "images")
    ds = images_dataset(templates, frames, size.height, size.width)
    write_netcdf(ds, smk.output[0], config=dict(smk.params.items()), inputs=list(smk.input))


main(snakemake)  # noqa: F821
