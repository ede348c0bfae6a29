"""Rule rank_neurons: reliability ranking, receptive fields and selection of one area's units."""

from meiflow.io.netcdf import read_netcdf, write_netcdf
from meiflow.io.runtime import log_to
from meiflow.ranking.receptive_fields import receptive_field_table
from meiflow.ranking.selection import area_units, rank_and_select, ranking_dataset, unit_scores
from meiflow.stimuli.geometry import ScreenGeometry


def main(smk) -> None:
    log = log_to(smk.log[0])
    area = smk.wildcards.area
    settings = smk.params.ranking
    scenes = area_units(read_netcdf(smk.input.scenes, ("spike_counts",)), area)
    gabors = area_units(read_netcdf(smk.input.gabors, ("spike_counts",)), area)
    log.info("%s: %d units", area, scenes.sizes["unit"])
    table = rank_and_select(unit_scores(scenes, settings), settings)
    images = smk.params.images
    rf = receptive_field_table(
        gabors,
        ScreenGeometry(**smk.params.screen),
        images["height"],
        images["width"],
        n_shuffles=settings["rf_shuffles"],
        seed=settings["seed"],
        alpha=settings["rf_alpha"],
    )
    ranking = ranking_dataset(table, rf)
    ranking.attrs.update(session_id=scenes.attrs["session_id"], area=area)
    invalid = table[table["reason"] != ""]
    log.info(
        "%d valid units, %d selected, %d with a significant receptive field; invalid: %s",
        len(table) - len(invalid),
        int(table["selected"].sum()),
        int(ranking["rf_significant"].sum()),
        invalid["reason"].value_counts().to_dict(),
    )
    if not table["selected"].any():
        log.warning("no unit of %s passes the selection rule: nothing to model", area)
    write_netcdf(ranking, smk.output.nc, config=dict(smk.params.items()), inputs=list(smk.input))
    columns = [name for name, var in ranking.data_vars.items() if var.dims == ("unit",)]
    ranking[columns].to_dataframe().to_csv(smk.output.csv)


main(snakemake)  # noqa: F821
