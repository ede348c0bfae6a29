"""Rule plot_models: training curves, predicted vs observed, CNN vs linear for one area."""

import xarray as xr

from meiflow.io.netcdf import read_netcdf
from meiflow.io.runtime import log_to
from meiflow.models.training_data import image_targets
from meiflow.plots import models as plots
from meiflow.plots.base import save_figure


def main(smk) -> None:
    log_to(smk.log[0])
    scores = read_netcdf(smk.input.scores)
    scores.attrs.update(session_id=int(smk.wildcards.session), area=smk.wildcards.area)
    units = scores["unit"].to_numpy()
    frames = scores["frame"].to_numpy() if "frame" in scores.coords else []
    means, _ = image_targets(read_netcdf(smk.input.scenes), units, frames)
    observed = xr.DataArray(
        means.T, coords={"unit": units, "frame": frames}, dims=("unit", "frame")
    )
    figures = {
        # one training run per unit: its ensemble's first member
        "training_curves": plots.training_curves(scores.isel(member=0, missing_dims="ignore")),
        "predicted_vs_observed": plots.predicted_vs_observed(scores, observed),
        "cnn_vs_linear": plots.cnn_vs_linear(scores),
    }
    for name, figure in figures.items():
        save_figure(figure, getattr(smk.output, name))


main(snakemake)  # noqa: F821
