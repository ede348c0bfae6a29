"""Rule rank_neurons: reliability ranking, receptive fields and selection of one area's units."""

from meiflow.io.config import settings_from
from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.ranking.selection import area_ranking, ranking_table
from meiflow.ranking.settings import RankingSettings
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry


def main(smk) -> None:
    log_to(smk.log[0])
    ranking = area_ranking(
        read_netcdf(smk.input.scenes, ("spike_counts",)),
        read_netcdf(smk.input.gabors, ("spike_counts",)),
        smk.wildcards.area,
        settings_from(RankingSettings, smk.params.ranking, "ranking"),
        settings_from(ScreenGeometry, smk.params.screen, "screen"),
        settings_from(ImageSettings, smk.params.images, "images"),
    )
    write_netcdf(ranking, smk.output.nc, config=dict(smk.params.items()), inputs=list(smk.input))
    ranking_table(ranking).to_csv(smk.output.csv)


main(snakemake)  # noqa: F821
