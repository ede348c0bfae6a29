"""The workflow end to end on the tiny config, its outputs' contract, and its lint."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from helpers import (
    REPO,
    SNAKEMAKE,
    TINY_SESSION,
    build_report,
    digest,
    planned_jobs,
    run_snakemake,
    tiny_config,
    write_config,
)

from meiflow.io.allen_cache import check_network
from meiflow.io.netcdf import read_netcdf
from meiflow.mei.settings import POLISH
from meiflow.models.training_data import image_targets
from meiflow.simulation.neurons import CELL_TYPES
from meiflow.stimuli.budget import StimulusBudget

pytestmark = pytest.mark.slow


def test_snakemake_lint_is_clean():
    process = subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True)
    assert process.returncode == 0, process.stdout + process.stderr
    assert "Congratulations, your workflow is in a good condition!" in process.stderr


def test_count_tables_follow_the_data_contract(tiny_run):
    counts = tiny_run / "results" / str(TINY_SESSION) / "counts"
    scenes = read_netcdf(counts / "natural_scenes.nc", ("spike_counts",))
    gabors = read_netcdf(counts / "gabors.nc", ("spike_counts",))
    for ds in (scenes, gabors):
        assert ds["spike_counts"].dims == ("presentation", "unit")
        assert ds["spike_counts"].dtype.kind == "i"
        assert (ds["spike_counts"] >= 0).all()
        for coord in (
            "start_time",
            "stop_time",
            "stimulus_block",
            "area",
            "isi_violations",
            "amplitude_cutoff",
            "presence_ratio",
            "firing_rate",
            "snr",
        ):
            assert coord in ds.coords, coord
        assert ds.attrs["session_id"] == TINY_SESSION
        assert (ds.attrs["counting_window_start_s"], ds.attrs["counting_window_stop_s"]) == (
            0,
            0.25,
        )
        assert ds.attrs["Conventions"].startswith("CF")
        assert "allensdk" in ds.attrs["meiflow_packages"]
        # AllenSDK's default unit filter was applied
        assert (ds["amplitude_cutoff"] <= 0.1).all() and (ds["presence_ratio"] >= 0.95).all()
        assert (ds["isi_violations"] <= 0.5).all()
    # 118 scenes + blank, 6 repeats each in the tiny config; 243 gabor conditions x 2
    frames, n = np.unique(scenes["frame"], return_counts=True)
    np.testing.assert_array_equal(frames, np.arange(-1, 118))
    assert set(n) == {6}
    assert sorted(np.unique(scenes["stimulus_block"])) == [2, 4, 6]
    assert gabors.sizes["presentation"] == 243 * 2
    assert set(np.unique(gabors["orientation"])) == {0.0, 45.0, 90.0}
    assert set(np.unique(gabors["x_position"])) == set(np.arange(-40.0, 41.0, 10.0))
    np.testing.assert_array_equal(scenes["unit"], gabors["unit"])
    assert {"VISp", "VISam", "VISl", "CA1"} >= set(scenes["area"].to_numpy())


def test_images_follow_the_data_contract(tiny_run, tiny_cache):
    ds = read_netcdf(tiny_run / "results" / str(TINY_SESSION) / "images.nc", ("images",))
    images = ds["images"]
    assert images.dims == ("frame", "y", "x") and images.shape == (119, 30, 48)
    assert images.dtype == np.float32
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    np.testing.assert_array_equal(images.sel(frame=-1), 0.5)
    assert (ds.attrs["original_height"], ds.attrs["original_width"]) == (918, 1174)
    # Each image is the area-average of its template (918 x 1174 is not a multiple of 30 x 48,
    # so compare the overall mean, which area averaging preserves).
    import tifffile

    template = tifffile.imread(tiny_cache / "natural_scene_templates" / "natural_scene_5.tiff")
    assert abs(float(images.sel(frame=5).mean()) - template.mean() / 255) < 1e-4


def test_ground_truth_follows_the_data_contract(tiny_cache):
    truth = read_netcdf(tiny_cache / "ground_truth.nc")
    n_units = 8 + 8 + 4 + 3
    assert truth.sizes["unit"] == n_units
    assert set(truth["cell_type"].to_numpy()) <= set(CELL_TYPES)
    assert truth["rf"].shape == (n_units, 30, 48)
    budget = StimulusBudget(truth.attrs["budget_mean"], truth.attrs["budget_contrast"])
    for name in ("optimal_stimulus", "best_gabor_stimulus"):
        assert truth[name].dims == ("unit", "y", "x")
        assert budget.holds(torch.as_tensor(truth[name].to_numpy()), tolerance=1e-5).all()
    tuned = (truth["cell_type"] != "untuned").to_numpy()
    optimal, gray = truth["optimal_rate"].to_numpy(), truth["gray_rate"].to_numpy()
    assert (optimal[tuned] >= truth["best_gabor_rate"].to_numpy()[tuned] - 1e-9).all()
    assert (optimal[tuned] > truth["best_scene_rate"].to_numpy()[tuned]).all()
    assert (truth["best_scene_rate"].to_numpy()[tuned] > gray[tuned]).all()
    assert truth["heldout_images"].shape == (500, 30, 48)
    assert truth["heldout_true_rate"].dims == ("unit", "heldout")
    assert truth["true_rate"].dims == ("unit", "frame") and truth.sizes["frame"] == 119
    assert (truth["true_rate"] > 0).all()
    untuned = truth["cell_type"] == "untuned"
    assert (truth["reliability"].where(untuned, drop=True) == 0).all()
    assert (truth["reliability"].where(~untuned, drop=True) > 0).all()
    assert set(truth["area"].sel(unit=untuned).to_numpy()) >= {"CA1"}


def test_meis_and_their_gabor_controls_lie_on_the_sessions_budget(tiny_run):
    # the budget is measured from images.nc, independently of the MEI stage, and equals the
    # simulator's (the optimum the MEIs are compared with); holds() checks the mean to 1e-5, which
    # a clipped ascent (meis.budget: false) misses
    session = tiny_run / "results" / str(TINY_SESSION)
    images = read_netcdf(session / "images.nc", ("images",))["images"]
    budget = StimulusBudget.from_scenes(images.sel(frame=images["frame"] >= 0).to_numpy())
    truth = read_netcdf(
        tiny_run / "resources" / "simulated" / str(TINY_SESSION) / "ground_truth.nc"
    )
    assert truth.attrs["budget_mean"] == pytest.approx(budget.mean, rel=1e-6)
    assert truth.attrs["budget_contrast"] == pytest.approx(budget.contrast, rel=1e-6)
    for area in ("VISp", "VISam"):
        meis = read_netcdf(session / area / "meis.nc", ("mei",))
        gabors = read_netcdf(session / area / "gabors.nc", ("insilico_gabor",))
        metrics = read_netcdf(session / area / "metrics.nc")
        for ds in (meis, gabors, metrics):
            assert ds.attrs["budget"] == "stimulus budget"
            assert ds.attrs["budget_mean"] == pytest.approx(budget.mean, rel=1e-6)
            assert ds.attrs["budget_contrast"] == pytest.approx(budget.contrast, rel=1e-6)
        on = [meis["mei"], gabors["insilico_gabor"], gabors["recorded_gabor"]]
        for images_on in on:
            stack = torch.as_tensor(images_on.to_numpy(), dtype=torch.float64)
            assert budget.holds(stack, tolerance=1e-5).all(), images_on.name


def test_an_area_absent_from_the_session_is_a_clear_error(tiny_run, tmp_path):
    shutil.copytree(tiny_run / "resources", tmp_path / "resources")
    config = tiny_config()
    config["areas"] = ["VISp", "LGd"]
    path = write_config(tmp_path / "config.yaml", config)
    process = run_snakemake(tmp_path, configfile=path, check=False)
    assert process.returncode != 0
    log = (tmp_path / "results" / str(TINY_SESSION) / "logs" / "extract_counts.log").read_text()
    assert "area(s) ['LGd'] have no units passing the quality filter" in log
    assert "area(s) ['LGd']" in process.stdout + process.stderr  # shown by show-failed-logs
    assert not (tmp_path / "results" / str(TINY_SESSION) / "counts" / "natural_scenes.nc").exists()


def test_a_finished_run_has_nothing_left_to_do(tiny_run):
    process = run_snakemake(tiny_run, "-n")
    assert "Nothing to be done" in process.stdout + process.stderr


def test_an_allen_session_without_network_fails_fast_with_a_clear_message(tmp_path):
    try:
        check_network(timeout_s=3)
    except ConnectionError:
        pass
    else:
        pytest.skip("the Allen data warehouse is reachable from here: this test needs no network")
    cache = tmp_path / "allen_cache"
    cache.mkdir()
    (cache / "units.csv").write_text("id\n1\n")  # a user's file, which must survive
    config = {
        "sessions": [{"id": 715093703, "source": "allen"}],
        "allen": {"cache_dir": str(cache), "network_timeout_s": 3},
    }
    path = write_config(tmp_path / "allen.yaml", config)
    started = time.monotonic()
    process = run_snakemake(tmp_path, configfile=path, check=False)
    assert process.returncode != 0
    assert time.monotonic() - started < 60
    assert "cannot reach the Allen Institute data warehouse" in process.stdout + process.stderr
    assert (cache / "units.csv").read_text() == "id\n1\n"
    assert sorted(p.name for p in cache.iterdir()) == ["units.csv"]


def test_rankings_follow_the_data_contract(tiny_run):
    for area in ("VISp", "VISam"):
        directory = tiny_run / "results" / str(TINY_SESSION) / area
        ranking = read_netcdf(directory / "ranking.nc", ("oracle", "rf_map"))
        assert ranking.attrs["area"] == area and ranking.attrs["session_id"] == TINY_SESSION
        assert ranking["rf_map"].dims == ("unit", "rf_y", "rf_x")
        assert ranking["rf_map"].shape[1:] == (9, 9)
        np.testing.assert_array_equal(ranking["rank"], np.arange(1, ranking.sizes["unit"] + 1))
        oracle = ranking["oracle"].to_numpy()
        assert (np.diff(oracle[np.isfinite(oracle)]) <= 0).all(), "sorted best first"
        selected = ranking["selected"].to_numpy() == 1
        assert selected.any() and np.isfinite(oracle[selected]).all()
        for name in (
            "oracle_notebook",
            "fev",
            "response_variance",
            "mean_rate",
            "entropy",
            "max_correlation",
            "max_correlation_unit",
            "anomaly",
            "reason",
            "rf_center_x",
            "rf_center_y",
            "rf_p_value",
            "rf_center_col",
        ):
            assert name in ranking, name
        counts = read_netcdf(
            tiny_run / "results" / str(TINY_SESSION) / "counts" / "natural_scenes.nc"
        )
        assert set(ranking["unit"].to_numpy()) == set(
            counts["unit"].to_numpy()[counts["area"].to_numpy() == area]
        )
        table = pd.read_csv(directory / "ranking.csv")
        np.testing.assert_array_equal(table["unit"], ranking["unit"])
        np.testing.assert_allclose(table["oracle"], ranking["oracle"], equal_nan=True)
        for figure in (
            "oracle_vs_variance",
            "entropy_vs_variance",
            "correlation_matrix",
            "psth_selected",
            "population_raster",
            "receptive_field_maps",
        ):
            png = (directory / "figures" / f"{figure}.png").read_bytes()
            assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_ground_truth_checks_are_written_for_the_simulated_session(tiny_run):
    for area in ("VISp", "VISam"):
        row = pd.read_csv(tiny_run / "results" / str(TINY_SESSION) / area / "ground_truth.csv")
        assert len(row) == 1 and row.loc[0, "area"] == area
        assert -1 <= row.loc[0, "oracle_reliability_spearman"] <= 1
        # mostly tuned units: with 6 repeats a noisy untuned unit can get in (the default
        # session, 50 repeats, selects tuned units only)
        assert row.loc[0, "selected_tuned_fraction"] >= 0.5


def auto_config(tmp_path, **simulation):
    config = tiny_config()
    config["counting_window"] = "auto"
    config["simulation"].update(simulation)
    path = write_config(tmp_path / "auto.yaml", config)
    return path


def test_counting_window_auto_counts_from_the_measured_latency(tmp_path):
    # enough responsive units and repeats for a latency (the tiny session has too few)
    path = auto_config(tmp_path, units_per_area={"VISp": 60, "VISam": 4}, scene_repeats=20)
    run_snakemake(tmp_path, f"results/{TINY_SESSION}/counts/natural_scenes.nc", configfile=path)
    counts = read_netcdf(tmp_path / "results" / str(TINY_SESSION) / "counts" / "natural_scenes.nc")
    latency = read_netcdf(tmp_path / "results" / str(TINY_SESSION) / "psth.nc").attrs["latency_s"]
    assert abs(latency - 0.05) < 0.01  # the simulator's latency
    assert counts.attrs["counting_window_mode"] == "auto"
    assert counts.attrs["counting_window_start_s"] == pytest.approx(latency)
    assert counts.attrs["counting_window_stop_s"] == pytest.approx(latency + 0.25)


def test_counting_window_auto_without_a_response_is_a_clear_error(tiny_run, tmp_path):
    shutil.copytree(tiny_run / "resources", tmp_path / "resources")
    path = auto_config(tmp_path)
    process = run_snakemake(tmp_path, configfile=path, check=False)
    assert process.returncode != 0
    assert "counting_window: auto needs a response latency" in process.stdout + process.stderr
    assert not (tmp_path / "results" / str(TINY_SESSION) / "counts").exists()


def test_model_scores_follow_the_data_contract(tiny_run):
    area_dir = tiny_run / "results" / str(TINY_SESSION) / "VISp"
    scores = read_netcdf(area_dir / "model_scores.nc", ("predicted_rate", "test_correlation"))
    ranking = read_netcdf(area_dir / "ranking.nc")
    selected = ranking["unit"].to_numpy()[ranking["selected"].to_numpy() == 1]
    np.testing.assert_array_equal(scores["unit"], selected)  # best rank first, chunk by chunk
    # every model fit, side by side on the area's selected units
    assert list(scores["model"].to_numpy()) == ["per_neuron", "shared_core", "linear"]
    assert scores["predicted_rate"].dims == ("model", "unit", "frame")
    assert scores.sizes["frame"] == 119
    assert (scores["predicted_rate"].sel(model=["per_neuron", "shared_core"]) > 0).all()
    assert set(np.unique(scores["split"])) == {"train", "validation", "test"}
    assert scores["split"].sel(frame=-1) == "train"
    for name in ("validation_correlation", "feve", "fraction_of_oracle", "test_correlation"):
        assert scores[name].dims == ("model", "unit"), name
    assert np.isfinite(scores["test_correlation"]).all()
    # each model's predictions are its own file's, and its test r is recomputed from them
    session_dir = area_dir.parent
    shared = read_netcdf(session_dir / "shared_core" / "scores.nc", ("predicted_rate",))
    n_chunks = len(list((area_dir / "models").glob("chunk_*.nc")))
    chunks = [read_netcdf(area_dir / "models" / f"chunk_{i}.nc") for i in range(n_chunks)]
    sources = {
        "per_neuron": xr.concat([c["predicted_rate"] for c in chunks], dim="unit"),
        "shared_core": shared["predicted_rate"].sel(unit=scores["unit"]),
        "linear": read_netcdf(area_dir / "linear.nc")["predicted_rate"].sel(unit=scores["unit"]),
    }
    counts = read_netcdf(session_dir / "counts" / "natural_scenes.nc").sel(unit=scores["unit"])
    test = scores["frame"].to_numpy()[scores["split"].to_numpy() == "test"]
    trials = np.isin(counts["frame"].to_numpy(), test)
    observed = counts["spike_counts"].transpose("presentation", "unit").to_numpy()[trials]
    shown = counts["frame"].to_numpy()[trials]
    means = np.stack([observed[shown == f].mean(0) for f in test])  # (test frame, unit)
    for model, predicted in sources.items():
        np.testing.assert_allclose(
            scores["predicted_rate"].sel(model=model),
            predicted.transpose("unit", "frame"),
            rtol=1e-6,
        )
        expected = [
            np.corrcoef(predicted.sel(unit=u, frame=test), means[:, k])[0, 1]
            for k, u in enumerate(scores["unit"].to_numpy())
        ]
        np.testing.assert_allclose(scores["test_correlation"].sel(model=model), expected, rtol=1e-5)
    assert scores.sizes["member"] == 2  # tiny.yaml: models.ensemble
    assert scores["best_epoch"].dims == ("unit", "member")
    assert scores["train_loss"].dims == ("unit", "member", "epoch")
    for figure in ("training_curves", "predicted_vs_observed", "cnn_vs_linear"):
        png = (area_dir / "figures" / f"{figure}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_the_shared_core_follows_the_data_contract(tiny_run):
    from meiflow.models.shared_core import load_shared_core

    session_dir = tiny_run / "results" / str(TINY_SESSION)
    scores = read_netcdf(session_dir / "shared_core" / "scores.nc", ("predicted_rate",))
    counts = read_netcdf(session_dir / "counts" / "natural_scenes.nc")
    units = counts["unit"].to_numpy()
    np.testing.assert_array_equal(scores["unit"], units)  # every valid unit of the session
    selected = np.concatenate(
        [
            read_netcdf(session_dir / area / "model_scores.nc")["unit"].to_numpy()
            for area in ("VISp", "VISam")
        ]
    )
    assert set(units[scores["selected"].to_numpy()]) == set(selected)
    # the selected units' readouts started at their per-neuron models' readout candidates
    starts = scores["readout_start"].to_numpy()
    assert (starts[scores["selected"].to_numpy()] == "per_neuron").all()
    # its scores, computed again from its predictions and the count table
    frames = scores["frame"].to_numpy()
    means, _ = image_targets(counts, units, frames)
    for part in ("validation", "test"):
        at = scores["split"].to_numpy() == part
        predicted = scores["predicted_rate"].to_numpy()[:, at]
        expected = [np.corrcoef(predicted[k], means[at, k])[0, 1] for k in range(units.size)]
        np.testing.assert_allclose(scores[f"{part}_correlation"], expected, rtol=1e-4)
    # the checkpoint: one core of models.ensemble (2) members, whose mean is the prediction
    cores = load_shared_core(session_dir / "shared_core" / "model.pt")
    assert [(c.group, c.member) for c in cores] == [("session", 0), ("session", 1)]
    assert scores.attrs["scope"] == "session" and scores["best_epoch"].sizes["core"] == 2
    images = read_netcdf(session_dir / "images.nc", ("images",))["images"].sel(frame=frames)
    x = torch.as_tensor(images.to_numpy()[:, None], dtype=torch.float32)
    with torch.no_grad():
        predicted = (cores[0].model(x) + cores[1].model(x)) / 2
    for core in cores:
        np.testing.assert_array_equal(core.units, units)
    np.testing.assert_allclose(predicted.numpy().T, scores["predicted_rate"], rtol=1e-4)
    # ground truth: the shared core against the per-neuron models on the held-out truth
    row = pd.read_csv(session_dir / "VISp" / "ground_truth.csv")
    units_table = pd.read_csv(session_dir / "VISp" / "ground_truth_units.csv")
    # an untuned unit (the tiny session's 6 repeats can select one) has a constant true rate:
    # no correlation
    tuned = units_table["cell_type"] != "untuned"
    r = units_table["shared_core_heldout_correlation"]
    assert r[tuned].between(-1, 1).all() and r[~tuned].isna().all()
    for kind in ("simple", "complex", "center_surround", "conjunction"):
        assert f"shared_core_heldout_gain_{kind}" in row.columns


def test_units_and_areas_the_shared_core_leaves_out(tiny_run, tmp_path, caplog):
    """A unit without a valid presentation of some scene is left out of the shared core: its
    model_scores are NaN and the MEI stage drops it from its chunk, keeping the others; with
    scope area, an area with no valid unit gets no core instead of stopping the session."""
    from dataclasses import replace

    from meiflow.io.netcdf import write_netcdf
    from meiflow.models.chunks import load_chunk, scene_inputs
    from meiflow.models.fitting import fit_shared_core
    from meiflow.models.scores import model_scores
    from meiflow.models.settings import ModelsSettings, SharedCoreSettings
    from meiflow.models.shared_core import save_shared_core
    from meiflow.stimuli.geometry import ScreenGeometry

    session_dir = tiny_run / "results" / str(TINY_SESSION)
    config = tiny_config()["models"]
    settings = ModelsSettings(
        chunk_size=config["chunk_size"],
        ensemble=1,
        shared_core=SharedCoreSettings(**config["shared_core"]),
    )
    settings = replace(settings, training=replace(settings.training, max_epochs=2))
    images, split = scene_inputs(
        read_netcdf(session_dir / "images.nc", ("images",)), settings.split
    )
    counts = read_netcdf(session_dir / "counts" / "natural_scenes.nc").load()
    rankings = [
        read_netcdf(session_dir / a / "ranking.nc", ("selected",)) for a in ("VISp", "VISam")
    ]
    chunks = {p: read_netcdf(p) for p in sorted(session_dir.glob("*/models/chunk_*.nc"))}

    def left_out(units) -> xr.Dataset:  # no valid presentation of scene 5
        damaged = counts.copy(deep=True)
        for unit in units:
            valid = damaged["valid"].sel(unit=unit).to_numpy() & (damaged["frame"] != 5).to_numpy()
            damaged["valid"].loc[{"unit": unit}] = valid
        return damaged

    def fit(damaged, scope):
        s = replace(settings, shared_core=replace(settings.shared_core, scope=scope))
        return fit_shared_core(
            damaged,
            images,
            split,
            rankings,
            list(chunks.values()),
            s,
            ScreenGeometry(),
            torch.device("cpu"),
        )

    visam = counts["unit"].to_numpy()[counts["area"].to_numpy() == "VISam"]
    area_scope = fit(left_out(visam), "area")
    assert set(area_scope.dataset["area"].to_numpy()) == {"VISp"}
    assert area_scope.dataset.attrs["coreless_areas"] == "VISam"
    assert [c.group for c in area_scope.cores] == ["VISp"]

    chunk_path = next(p for p in chunks if "VISam" in str(p))
    units = chunks[chunk_path]["unit"].to_numpy()
    trained = fit(left_out(units[:1]), "session")
    assert trained.dataset.attrs["left_out_units"] == str(units[0])
    write_netcdf(trained.dataset, tmp_path / "scores.nc")
    save_shared_core(trained.cores, tmp_path / "model.pt")
    with caplog.at_level("WARNING"):
        chunk, ensemble, _ = load_chunk(
            chunk_path, tmp_path / "model.pt", "cpu", tmp_path / "scores.nc"
        )
    np.testing.assert_array_equal(chunk["unit"], units[1:])
    assert ensemble.n_units == units.size - 1
    assert f"units [{units[0]}] dropped: not in the shared core" in caplog.text
    scores = model_scores(
        chunks[chunk_path],
        read_netcdf(session_dir / "VISam" / "ranking.nc"),
        read_netcdf(session_dir / "VISam" / "linear.nc"),
        counts,
        shared_core=trained.dataset,
    )
    shared = scores["test_correlation"].sel(model="shared_core")
    assert np.isnan(shared.sel(unit=units[0])) and np.isfinite(shared.sel(unit=units[1:])).all()
    alone = tmp_path / "chunk.nc"  # a chunk of left-out units only: no MEI can be made
    write_netcdf(chunks[chunk_path].sel(unit=units[:1]), alone)
    with pytest.raises(ValueError, match="is in the shared core .*left_out_units"):
        load_chunk(alone, tmp_path / "model.pt", "cpu", tmp_path / "scores.nc")


def test_a_saved_chunk_reproduces_its_predictions(tiny_run):
    import torch

    from meiflow.models.network import load_checkpoint

    area_dir = tiny_run / "results" / str(TINY_SESSION) / "VISp"
    chunk = read_netcdf(area_dir / "models" / "chunk_0.nc", ("predicted_rate",))
    model = load_checkpoint(area_dir / "models" / "chunk_0.pt")
    assert torch.load(area_dir / "models" / "chunk_0.pt")["units"] == chunk["unit"].values.tolist()
    n_units = chunk.sizes["unit"]
    assert model.n_models == 2 * n_units  # two members, member-major
    images = read_netcdf(tiny_run / "results" / str(TINY_SESSION) / "images.nc")["images"]
    with torch.no_grad():
        members = model(torch.as_tensor(images.to_numpy()[:, None])).numpy().T
    member_0, member_1 = members[:n_units], members[n_units:]
    assert not np.allclose(member_0, member_1, rtol=1e-2)  # seeded apart
    np.testing.assert_allclose((member_0 + member_1) / 2, chunk["predicted_rate"], rtol=1e-5)
    # the reported validation correlation is the ensemble's (it chose the readout candidate)
    validation = chunk["frame"].to_numpy()[chunk["split"].to_numpy() == "validation"]
    ensemble = chunk["predicted_rate"].sel(frame=validation).to_numpy()
    counts = read_netcdf(tiny_run / "results" / str(TINY_SESSION) / "counts" / "natural_scenes.nc")
    observed, _ = image_targets(counts, chunk["unit"].to_numpy(), validation)
    for k in range(n_units):
        r = np.corrcoef(ensemble[k], observed[:, k])[0, 1]
        assert chunk["validation_correlation"][k] == pytest.approx(r, abs=1e-5)


def test_a_corrupt_checkpoint_is_a_clear_error(tiny_run, tmp_path):
    from meiflow.models.network import CheckpointError, load_checkpoint

    source = tiny_run / "results" / str(TINY_SESSION) / "VISp" / "models" / "chunk_0.pt"
    broken = tmp_path / "chunk_0.pt"
    broken.write_bytes(source.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="chunk_0.pt"):
        load_checkpoint(broken)


def test_meis_gabors_and_metrics_follow_the_data_contract(tiny_run):
    import torch

    from meiflow.models.network import load_checkpoint

    area_dir = tiny_run / "results" / str(TINY_SESSION) / "VISp"
    scores = read_netcdf(area_dir / "model_scores.nc")
    meis = read_netcdf(area_dir / "meis.nc", ("mei", "response"))
    np.testing.assert_array_equal(meis["unit"], scores["unit"])
    assert meis["mei"].dims == ("unit", "init", "y", "x")
    assert meis.sizes["init"] == 2 and (meis.sizes["y"], meis.sizes["x"]) == (30, 48)
    assert float(meis["mei"].min()) >= 0 and float(meis["mei"].max()) <= 1
    assert meis["response_trace"].dims == ("unit", "init", "step")
    assert meis.sizes["step"] == 40 + sum(stage.steps for stage in POLISH)  # tiny: 40, polish

    # the stored responses are those of the saved ensembles (mean of the two members, each
    # network shown its unit's images) to the stored images
    chunk = read_netcdf(area_dir / "models" / "chunk_0.nc")
    units = chunk["unit"].to_numpy()
    model = load_checkpoint(area_dir / "models" / "chunk_0.pt").eval()
    gabors = read_netcdf(area_dir / "gabors.nc", ("insilico_gabor",)).sel(unit=units)
    best = meis["best_init"].sel(unit=units).to_numpy()
    mei = meis["mei"].sel(unit=units).to_numpy()[np.arange(units.size), best]
    stack = np.stack([mei, gabors["insilico_gabor"], gabors["recorded_gabor"]], axis=0)
    paired = torch.as_tensor(np.concatenate([stack, stack], axis=1), dtype=torch.float32)
    with torch.no_grad():
        members = model(paired).numpy()
    response = (members[:, : units.size] + members[:, units.size :]) / 2
    for row, name in enumerate(("mei", "insilico_gabor", "recorded_gabor")):
        np.testing.assert_allclose(response[row], gabors[f"response_{name}"], rtol=1e-4)
    assert (gabors["response_insilico_gabor"] >= gabors["response_insilico_grid"] - 1e-6).all()
    np.testing.assert_allclose(
        gabors["response_best_scene"],
        chunk["predicted_rate"].sel(frame=chunk["frame"] >= 0).max("frame"),
    )

    metrics = read_netcdf(area_dir / "metrics.nc", ("symmetry_2",))
    assert list(metrics["image_kind"].values) == ["mei", "recorded_gabor", "insilico_gabor"]
    for name in ("mask_radius", "luminance", "contrast", "symmetry_1", "symmetry_2_notebook"):
        assert metrics[name].dims == ("unit", "image_kind"), name
    assert metrics["log_power"].dims == ("unit", "image_kind", "fy", "fx")
    assert metrics["phase_invariance"].dims == ("unit",)
    table = pd.read_csv(area_dir / "metrics.csv")
    assert len(table) == 3 * meis.sizes["unit"]

    # the trust signals: every member's response to every MEI (their mean is the response), the
    # spreads across starts and members, the gradient energy, the mask and the flag from them
    members = meis["member_response"].transpose("unit", "init", "member").to_numpy()
    assert members.shape[-1] == 2
    np.testing.assert_allclose(members.mean(-1), meis["response"], rtol=1e-4)
    at_best = members[np.arange(meis.sizes["unit"]), meis["best_init"].to_numpy()]
    np.testing.assert_allclose(
        meis["ensemble_spread"], at_best.std(-1) / at_best.mean(-1), rtol=1e-4
    )
    response = meis["response"].to_numpy()
    spread = (response.max(1) - response.min(1)) / response.max(1)
    np.testing.assert_allclose(meis["init_spread"], spread, rtol=1e-5)
    energy = meis["gradient_energy"]
    assert (
        energy.dims == ("unit", "y", "x") and bool((energy >= 0).all()) and bool((energy > 0).any())
    )
    assert metrics["deviation_outside_rf_mask"].dims == ("unit", "image_kind")
    center_y = metrics["rf_mask_center_y"].to_numpy()
    assert (metrics["rf_mask_radius"].to_numpy() >= 1).all() and (
        (0 <= center_y) & (center_y <= 29)
    ).all()
    by_unit = table.groupby("unit").first()
    per_neuron = scores.sel(model="per_neuron")  # meis.model
    assert meis.attrs["model"] == metrics.attrs["model"] == "per_neuron"
    model_r = (per_neuron["validation_correlation"] + per_neuron["test_correlation"]) / 2
    np.testing.assert_allclose(by_unit["model_correlation"], model_r.sel(unit=by_unit.index))
    flagged = (
        (by_unit["init_spread"] > 0.1)
        | (by_unit["ensemble_spread"] > 0.2)
        | ~(by_unit["model_correlation"] >= 0.6)
    )
    assert (by_unit["mei_flagged"] == flagged).all()
    assert (by_unit["mei_flag_reason"].fillna("").astype(bool) == flagged).all()
    for figure in ("mei_gallery", "mei_initializations", "mei_comparison", "mei_responses"):
        png = (area_dir / "figures" / f"{figure}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    row = pd.read_csv(area_dir / "ground_truth.csv")
    for column in (
        "mei_optimum_rf_correlation_simple",
        "mei_beats_scene_predicted_fraction",
        "mei_flag_auc",
        "mei_flagged_fraction",
        "mei_deviation_outside_rf_mask",
        "optimum_deviation_outside_rf_mask",
    ):
        assert column in row.columns
    # the MEIs shown to the simulated neurons: driven rates relative to the optimum's
    assert np.isfinite(row.loc[0, "mei_over_optimum"])
    assert 0.0 <= row.loc[0, "mei_beats_best_scene_fraction"] <= 1.0
    units = pd.read_csv(area_dir / "ground_truth_units.csv")
    assert set(units["unit"]) == set(meis["unit"].to_numpy())
    tuned = units["cell_type"] != "untuned"  # an untuned unit's true rate is constant
    r = units["per_neuron_heldout_correlation"]
    assert r[tuned].between(-1, 1).all() and r[~tuned].isna().all()
    pooled = pd.read_csv(area_dir.parent / "ground_truth.csv")
    assert len(pooled) == 1 and pooled.loc[0, "area"] == "all"


def run_without_selection(tiny_run, workdir: Path, ranking: dict, areas=None) -> Path:
    """Run the tiny config with these ``ranking`` keys (and ``areas``, if given) in ``workdir``,
    where the tiny run's simulated session is copied; return the config file."""
    shutil.copytree(tiny_run / "resources", workdir / "resources")
    config = tiny_config()
    config["ranking"] |= ranking
    config["areas"] = areas or config["areas"]
    path = write_config(workdir / "none.yaml", config)
    run_snakemake(workdir, configfile=path)
    return path


def assert_empty_area(area_dir, reason: str) -> None:
    """The outputs of an area that selected no unit: no models; empty model, MEI and metric
    files whose ``empty_reason`` holds ``reason``; NaN MEI checks; the figures drawn."""
    assert not (area_dir / "models").exists()
    for name in ("linear.nc", "model_scores.nc", "meis.nc", "gabors.nc", "metrics.nc"):
        ds = read_netcdf(area_dir / name)
        assert ds.sizes["unit"] == 0, name
        assert reason in ds.attrs["empty_reason"], name
    row = pd.read_csv(area_dir / "ground_truth.csv")
    assert np.isnan(row.loc[0, "mei_beats_scene_predicted_fraction"])
    assert np.isnan(row.loc[0, "mei_over_optimum"])
    assert (area_dir / "figures" / "mei_gallery.png").stat().st_size > 10_000


def test_an_area_without_selected_units_finishes_with_empty_results(tiny_run, tmp_path):
    run_without_selection(tiny_run, tmp_path, {"min_fev": 0.99})  # no unit is that reliable
    assert_empty_area(tmp_path / "results" / str(TINY_SESSION) / "VISp", "selection rule")


def test_an_area_without_a_usable_unit_finishes_with_empty_results_that_say_why(tiny_run, tmp_path):
    config = run_without_selection(tiny_run, tmp_path, {"min_spikes": 100_000_000}, ["VISp"])
    results = tmp_path / "results" / str(TINY_SESSION)
    counts = read_netcdf(results / "counts" / "natural_scenes.nc")
    in_area = counts["area"].to_numpy() == "VISp"
    scenes = counts["frame"].to_numpy() >= 0  # the blank is left out of the ranking
    totals = counts["spike_counts"].to_numpy()[np.ix_(scenes, in_area)].sum(axis=0)
    expected = {
        int(u): f"too few spikes ({n} < 100000000)"
        for u, n in zip(counts["unit"].to_numpy()[in_area], totals, strict=True)
    }
    ranking = read_netcdf(results / "VISp" / "ranking.nc")
    reasons = ranking["reason"].to_numpy().astype(str)
    assert dict(zip(ranking["unit"].to_numpy().tolist(), reasons, strict=True)) == expected
    assert np.isnan(ranking["oracle"]).all() and (ranking["selected"] == 0).all()
    n = len(expected)
    assert_empty_area(results / "VISp", f"(0 of {n} units valid; too few spikes: {n})")
    row = pd.read_csv(results / "VISp" / "summary.csv").loc[0]
    counted = row[["n_units", "n_valid", "n_selected", "n_training_failed"]]
    assert counted.tolist() == [n, 0, 0, 0]
    assert row.filter(like="median").isna().all()
    html = build_report(tmp_path, config)
    assert f"session {TINY_SESSION}, VISp" in html and "summary.csv" in html


def test_the_report_holds_every_figure_with_its_caption(tiny_run):
    html = build_report(tiny_run)
    figures = [
        "oracle_vs_variance", "psth_selected", "training_curves", "cnn_vs_linear",
        "mei_gallery", "mei_comparison", "mei_responses", "model_comparison",
    ]  # fmt: skip
    for area in ("VISp", "VISam"):
        assert f"session {TINY_SESSION}, {area}" in html
    for name in figures:
        assert f"{name}.png" in html, name
    for table in ("ranking.csv", "metrics.csv", "summary.csv", "ground_truth.csv"):
        assert table in html, table
    categories = ["Summary", "Data", "Ranking", "Models", "MEIs", "Metrics", "Ground truth"]
    for number, category in enumerate(categories, start=1):  # numbered: listed in stage order
        assert f'"{number}. {category}"' in html, category
    # captions are rendered into the report
    assert "most exciting input of every selected unit" in html
    assert "above the diagonal the MEI wins" in html
    assert "the shared core predicts better" in html


def test_the_real_data_config_plans_the_notebooks_session(tmp_path):
    process = run_snakemake(tmp_path, "-n", configfile=REPO / "config" / "allen.yaml")
    assert "download_session" in process.stdout
    assert "session=798911424" in process.stdout
    assert "area=VISam" in process.stdout
    assert not (tmp_path / "resources").exists()  # a dry run downloads nothing


def test_all_sessions_of_a_type_are_read_from_an_allen_cache(tiny_run, tiny_cache, tmp_path):
    cache = tmp_path / "allen_cache"
    shutil.copytree(tiny_cache, cache)  # the simulated session, as AllenSDK stores a real one
    before = digest(cache)
    config = tiny_config()
    config["sessions"] = [{"id": "all", "session_type": "brain_observatory_1.1", "source": "allen"}]
    config["areas"] = ["VISp", "LGd"]  # LGd was not recorded: left out, not an error
    config["allen"] = {"cache_dir": str(cache), "network_timeout_s": 3}
    path = write_config(tmp_path / "all.yaml", config)
    counts = f"results/{TINY_SESSION}/counts/natural_scenes.nc"
    planned = run_snakemake(tmp_path, "-n", configfile=path).stdout
    assert f"session={TINY_SESSION}, area=VISp" in planned and "LGd" not in planned
    run_snakemake(tmp_path, counts, configfile=path)  # offline: the cache is complete
    ours = read_netcdf(tmp_path / counts)
    reference = read_netcdf(tiny_run / counts)
    np.testing.assert_array_equal(ours["spike_counts"], reference["spike_counts"])
    assert digest(cache) == before


def test_the_dag_fans_out_over_sessions_and_areas(tmp_path):
    config = tiny_config()
    config["sessions"] = [
        {"id": 900000011, "source": "simulated"},
        {"id": 900000012, "source": "simulated", "areas": ["VISl"]},
    ]
    path = write_config(tmp_path / "two.yaml", config)
    jobs = planned_jobs(tmp_path, configfile=path)
    assert jobs["simulate_session"] == jobs["extract_counts"] == 2
    assert jobs["rank_neurons"] == 3  # VISp and VISam, then VISl
    stdout = run_snakemake(tmp_path, "-n", configfile=path).stdout
    for session, area in ((900000011, "VISp"), (900000011, "VISam"), (900000012, "VISl")):
        assert f"session={session}, area={area}" in stdout
    assert "session=900000012, area=VISp" not in stdout
