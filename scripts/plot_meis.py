"""Rule plot_meis: MEI gallery, starts, comparison with Gabors and responses for one area."""

from meiflow.io.netcdf import read_netcdf
from meiflow.io.runtime import log_to
from meiflow.plots import meis as plots
from meiflow.plots.base import save_figure


def main(smk) -> None:
    log_to(smk.log[0])
    where = {"session_id": int(smk.wildcards.session), "area": smk.wildcards.area}
    meis, gabors, metrics = (
        read_netcdf(path) for path in (smk.input.meis, smk.input.gabors, smk.input.metrics)
    )
    for ds in (meis, gabors, metrics):
        ds.attrs.update(where)
    figures = {
        "mei_gallery": plots.mei_gallery(meis, metrics),
        "mei_initializations": plots.mei_initializations(meis),
        "mei_comparison": plots.mei_comparison(meis, gabors, metrics),
        "mei_responses": plots.mei_responses(gabors),
    }
    for name, figure in figures.items():
        save_figure(figure, getattr(smk.output, name))


main(snakemake)  # noqa: F821
