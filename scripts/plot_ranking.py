"""Rule plot_ranking: the ranking stage's figures for one area."""

from meiflow.io.netcdf import read_netcdf
from meiflow.io.runtime import log_to
from meiflow.plots import ranking as plots
from meiflow.plots.base import save_figure
from meiflow.ranking.selection import area_units


def main(smk) -> None:
    log_to(smk.log[0])
    area = smk.wildcards.area
    ranking = read_netcdf(smk.input.ranking, ("oracle",))
    counts = area_units(read_netcdf(smk.input.scenes, ("spike_counts",)), area)
    psth = area_units(read_netcdf(smk.input.psth, ("psth_smoothed",)), area)
    raster = area_units(read_netcdf(smk.input.raster, ("activity",)), area)
    figures = {
        "oracle_vs_variance": plots.oracle_vs_variance(ranking),
        "entropy_vs_variance": plots.entropy_vs_variance(ranking),
        "correlation_matrix": plots.correlation_matrix(counts, ranking),
        "psth_selected": plots.psth_selected(psth, ranking),
        "population_raster": plots.population_raster(raster, ranking),
        "receptive_field_maps": plots.receptive_field_maps(ranking),
    }
    for name, figure in figures.items():
        save_figure(figure, getattr(smk.output, name))


main(snakemake)  # noqa: F821
