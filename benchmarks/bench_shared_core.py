"""Training time to early stopping: the per-neuron chunks of every selected unit vs one shared core.

Runs on the files of a finished workflow run (``--results results/900000001``, the default
session), in one process, side by side: (a) ``meiflow.models.fitting.fit_chunk`` for every chunk
of every analysed area, as the ``train_models`` rules do (their readout candidates, ensemble and
early stopping; ``config/config.yaml``'s models section); (b) ``fit_shared_core`` on every valid
unit of the session, as ``train_shared_core`` does (its readouts of the selected units started
at the candidates (a) chose). Wall-clock seconds of each, their ratio, and, for a simulated
session (``--truth``: its ``ground_truth.nc``), the median correlation of each model with the
true rates of the held-out images per cell type over the selected units, and the median paired
difference (shared core minus per-neuron).

    python benchmarks/bench_shared_core.py --results results/900000001 \
        --truth resources/simulated/900000001/ground_truth.nc --device auto --threads 2
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from meiflow.io.netcdf import read_netcdf
from meiflow.models.chunks import scene_inputs
from meiflow.models.fitting import fit_chunk, fit_shared_core
from meiflow.models.network import keep_freed_memory
from meiflow.models.settings import ModelsSettings
from meiflow.models.shared_core import shared_core_predict
from meiflow.models.training import device_for
from meiflow.stats import pearson_rows
from meiflow.stimuli.geometry import ScreenGeometry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/900000001"))
    parser.add_argument("--truth", type=Path, default=None, help="ground_truth.nc (simulated)")
    parser.add_argument("--areas", nargs="+", default=["VISp", "VISl", "VISam"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto = cuda when available, else cpu")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    settings = ModelsSettings(device=args.device)  # the defaults are config/config.yaml's
    device = device_for(settings.device)
    tuned = device.type == "cpu" and keep_freed_memory()
    images, split = scene_inputs(read_netcdf(args.results / "images.nc"), settings.split)
    counts = read_netcdf(args.results / "counts" / "natural_scenes.nc")
    gabors = read_netcdf(args.results / "counts" / "gabors.nc")
    geometry = ScreenGeometry()
    print(
        f"device {device} ({args.threads} threads), torch {torch.__version__}"
        + (", keep_freed_memory()" if tuned else "")
        + f"; {counts.sizes['unit']} valid units, areas {' '.join(args.areas)}"
    )

    rankings, per_neuron, heldout = [], [], {"per_neuron": []}
    truth = None if args.truth is None else read_netcdf(args.truth)
    start = time.perf_counter()
    for area in args.areas:
        ranking = read_netcdf(args.results / area / "ranking.nc")
        linear = read_netcdf(args.results / area / "linear.nc")
        rankings.append(ranking)
        n_selected = int(ranking["selected"].sum())
        chunks = []
        for chunk in range(-(-n_selected // settings.chunk_size)):
            trained = fit_chunk(
                ranking, chunk, images, split, counts, linear, gabors, settings, geometry, device
            )
            chunks.append(trained.dataset)
            if truth is not None:
                x = torch.as_tensor(truth["heldout_images"].to_numpy()[:, None], device=device)
                predicted = trained.ensemble.predict(x.float()).T.cpu().numpy()
                heldout["per_neuron"].append((trained.dataset["unit"].to_numpy(), predicted))
        if chunks:  # an area without a selected unit has no per-neuron model
            per_neuron.append(xr.concat(chunks, dim="unit", data_vars="minimal", coords="minimal"))
    per_neuron_s = time.perf_counter() - start
    start = time.perf_counter()
    shared = fit_shared_core(
        counts, images, split, rankings, per_neuron, settings, geometry, device
    )
    shared_s = time.perf_counter() - start
    n_selected = int(shared.dataset["selected"].sum())
    print(f"(a) per-neuron chunks of {n_selected} selected units: {per_neuron_s:8.1f} s")
    print(f"(b) shared core, {shared.dataset.sizes['unit']} units: {shared_s:8.1f} s")
    print(f"shared core / per-neuron wall time: {shared_s / per_neuron_s:.3f}")
    if truth is None:
        return
    x = torch.as_tensor(truth["heldout_images"].to_numpy()[:, None], device=device).float()
    shared_units, shared_heldout = shared_core_predict(shared.cores, x)
    shared_heldout = shared_heldout.T.cpu().numpy()
    rows = []
    for units, predicted in heldout["per_neuron"]:
        t = truth.sel(unit=units)
        true = t["heldout_true_rate"].transpose("unit", "heldout").to_numpy()
        index = [int(np.flatnonzero(shared_units == unit)[0]) for unit in units]
        rows.append(
            pd.DataFrame(
                {
                    "cell_type": t["cell_type"].to_numpy().astype(str),
                    "per_neuron": pearson_rows(predicted, true),
                    "shared_core": pearson_rows(shared_heldout[index], true),
                }
            )
        )
    table = pd.concat(rows)
    table = table[table["cell_type"] != "untuned"]  # no receptive field, no truth to predict
    table["gain"] = table["shared_core"] - table["per_neuron"]
    print("held-out correlation with the true rates (medians over the selected units):")
    print(table.groupby("cell_type").median().round(3).to_string())


if __name__ == "__main__":
    main()
