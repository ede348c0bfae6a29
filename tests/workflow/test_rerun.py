"""Rerun-on-change: after a complete run, an edit reruns what depends on it and nothing else;
the same config gives identical numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    REPO,
    TINY_SESSION,
    assert_identical_results,
    copy_of_run,
    planned_jobs,
    run_snakemake,
    tiny_config,
    write_config,
)

from meiflow.io.netcdf import read_netcdf
from meiflow.metrics.image_metrics import image_mask

pytestmark = pytest.mark.slow

#: Rules of the ingest stage, which a late-stage change must never rerun.
INGEST = {"simulate_session", "extract_counts", "extract_images"}


def edited_config(tmp_path: Path, section: str, key: str, value) -> Path:
    """The tiny config with ``section.key`` set to ``value``, written to ``tmp_path``."""
    config = tiny_config()
    config.setdefault(section, {})[key] = value
    return write_config(tmp_path / "edited.yaml", config)


@pytest.fixture
def finished_copy(tiny_run, tmp_path) -> Path:
    """A copy of the complete tiny run (results, resources, Snakemake's records)."""
    return copy_of_run(tiny_run, tmp_path / "work")


def test_a_late_parameter_replans_only_what_depends_on_it(finished_copy, tmp_path):
    assert planned_jobs(finished_copy) == {}
    steps = tiny_config()["meis"]["steps"]
    planned = planned_jobs(finished_copy, edited_config(tmp_path, "meis", "steps", steps + 1))
    chunks = len(list((finished_copy / "results").rglob("meis/chunk_*.nc")))
    assert planned["generate_meis"] == planned["compare_gabors"] == chunks
    assert planned["image_metrics"] == planned["plot_meis"] == 2  # one per area
    assert not set(planned) & (INGEST | {"rank_neurons", "fit_linear", "train_models"})
    assert "phase_invariance" not in planned  # it uses the models, not the MEIs


def test_meis_through_the_shared_core_of_each_area(finished_copy, tmp_path):
    import torch

    from meiflow.mei.synthesis import at_best_init
    from meiflow.models.shared_core import load_shared_core, shared_core_ensemble

    config = tiny_config()
    config["models"]["shared_core"]["scope"] = "area"
    # a shared-core parameter retrains the shared core alone, and what holds its scores
    planned = planned_jobs(finished_copy, write_config(tmp_path / "scope.yaml", config))
    assert planned["train_shared_core"] == 1
    # both areas' model_scores.nc hold it, and both compare it with the truth
    assert planned["collect_models"] == planned["check_ground_truth"] == 2
    assert not set(planned) & {"train_models", "generate_meis", "compare_gabors", "fit_linear"}
    # and the MEI stage through it: MEIs, Gabor controls and phase test, not the models
    config["meis"]["model"] = "shared_core"
    path = write_config(tmp_path / "edited.yaml", config)
    planned = planned_jobs(finished_copy, path)
    chunks = len(list((finished_copy / "results").rglob("meis/chunk_*.nc")))
    assert planned["generate_meis"] == planned["compare_gabors"] == chunks
    assert planned["phase_invariance"] == chunks
    assert not set(planned) & (INGEST | {"rank_neurons", "fit_linear", "train_models"})
    session = finished_copy / "results" / str(TINY_SESSION)
    # the files checked below (not the figures, summaries and ground-truth checks after them)
    targets = [f"results/{TINY_SESSION}/{area}/metrics.nc" for area in ("VISp", "VISam")]
    run_snakemake(finished_copy, *targets, configfile=path)
    scores = read_netcdf(session / "shared_core" / "scores.nc", ("predicted_rate",))
    assert scores.attrs["scope"] == "area"
    assert list(scores["group"].to_numpy()) == ["VISp", "VISp", "VISam", "VISam"]  # 2 members
    assert set(scores["area"].to_numpy()) == {"VISp", "VISam"}  # VISl and CA1 not analysed
    np.testing.assert_array_equal(scores["core_group"], scores["area"])
    cores = load_shared_core(session / "shared_core" / "model.pt")
    for area in ("VISp", "VISam"):
        meis = read_netcdf(session / area / "meis.nc", ("mei", "response"))
        metrics = read_netcdf(session / area / "metrics.nc", ("model_correlation",))
        gabors = read_netcdf(session / area / "gabors.nc", ("insilico_gabor",))
        for ds in (meis, metrics, gabors):
            assert ds.attrs["model"] == "shared_core"
        # the stored responses are the area core's members' mean response to the MEIs
        units = meis["unit"].to_numpy()
        ensemble = shared_core_ensemble([c for c in cores if c.group == area], units)
        best = torch.as_tensor(at_best_init(meis)[:, None], dtype=torch.float32)
        with torch.no_grad():
            response = ensemble.response(best)[:, 0].numpy()
        stored = meis["response"].to_numpy()[np.arange(units.size), meis["best_init"].to_numpy()]
        np.testing.assert_allclose(response, stored, rtol=1e-4)
        # the flag's model correlation is the shared core's, from model_scores.nc
        model_scores = read_netcdf(session / area / "model_scores.nc").sel(model="shared_core")
        expected = (model_scores["validation_correlation"] + model_scores["test_correlation"]) / 2
        np.testing.assert_allclose(
            metrics["model_correlation"], expected.sel(unit=metrics["unit"]), rtol=1e-6
        )


def test_a_ranking_parameter_reruns_ranking_models_and_meis_but_not_counting(
    finished_copy, tmp_path
):
    config = edited_config(tmp_path, "ranking", "notebook_passes", 40)
    planned = planned_jobs(finished_copy, config)
    assert planned["rank_neurons"] == 2
    assert not set(planned) & INGEST
    session = finished_copy / "results" / str(TINY_SESSION)
    counts = {p: p.stat().st_mtime_ns for p in (session / "counts").glob("*.nc")}
    later = {
        p: p.stat().st_mtime_ns
        for p in (*session.glob("*/models/chunk_*.pt"), *session.glob("*/meis/chunk_*.nc"))
    }
    run_snakemake(finished_copy, configfile=config)
    assert {p: p.stat().st_mtime_ns for p in counts} == counts  # counting did not rerun
    assert all(p.stat().st_mtime_ns > t for p, t in later.items())  # models and MEIs did
    assert planned_jobs(finished_copy, config) == {}


def test_a_deleted_file_is_made_again_with_what_depends_on_it(finished_copy, tiny_run, tmp_path):
    session = finished_copy / "results" / str(TINY_SESSION)
    # a per-chunk and a per-session file: the next run plans their rule and what depends on it
    plans = {}
    for name in ("VISp/models/chunk_0.pt", "psth.nc"):
        (session / name).rename(tmp_path / "away")
        plans[name] = planned_jobs(finished_copy)
        (tmp_path / "away").rename(session / name)
    behind_chunk = ("train_models", "generate_meis", "compare_gabors", "phase_invariance")
    # VISp's chunk only, and the session's shared core (its readouts start at the per-neuron
    # models' candidates), which both areas' model_scores.nc and checks hold
    both_areas = ("collect_models", "image_metrics", "plot_models", "plot_meis")
    both_areas += ("summarize_area", "check_ground_truth")
    session_jobs = ("train_shared_core", "pool_ground_truth", "plot_ground_truth", "all")
    expected = dict.fromkeys(behind_chunk + session_jobs, 1) | dict.fromkeys(both_areas, 2)
    assert plans["VISp/models/chunk_0.pt"] == expected
    assert plans["psth.nc"]["extract_counts"] == 1
    assert plans["psth.nc"]["plot_ranking"] == plans["psth.nc"]["check_ground_truth"] == 2
    assert "simulate_session" not in plans["psth.nc"]

    # the checkpoint's output, with a config change behind it: all of VISam reruns, on the new value
    ranking = session / "VISam" / "ranking.nc"
    before = read_netcdf(ranking)
    model = session / "VISam" / "models" / "chunk_0.pt"
    trained = model.stat().st_mtime_ns
    ranking.unlink()
    config = edited_config(tmp_path, "metrics", "mask_fraction", 0.8)
    run_snakemake(finished_copy, configfile=config)
    assert read_netcdf(ranking).equals(before)  # made again, with the same numbers
    assert model.stat().st_mtime_ns > trained  # what depends on it reran
    metrics = read_netcdf(session / "VISam" / "metrics.nc")
    assert json.loads(metrics.attrs["meiflow_config"])["metrics"]["mask_fraction"] == 0.8
    gabors = read_netcdf(session / "VISam" / "gabors.nc").sel(unit=metrics["unit"])
    kinds = ["recorded_gabor", "insilico_gabor"]
    images = np.stack([gabors[kind].to_numpy() for kind in kinds], axis=1)  # (unit, kind, y, x)
    radius = metrics["mask_radius"].sel(image_kind=kinds).transpose("unit", "image_kind")
    np.testing.assert_allclose(radius, image_mask(images, fraction=0.8)[2])
    old = read_netcdf(tiny_run / session.relative_to(finished_copy) / "VISam" / "metrics.nc")
    assert not np.allclose(radius, old["mask_radius"].sel(image_kind=kinds, unit=metrics["unit"]))
    assert planned_jobs(finished_copy, config) == {}


def test_a_whole_number_is_the_same_parameter_as_its_float(finished_copy, tmp_path):
    # the run used counting_window {start: 0.0, stop: 0.25} and ranking.oracle_percentile 60
    config = tiny_config()
    config["counting_window"] = {"start": 0, "stop": 0.25}
    config.setdefault("ranking", {})["oracle_percentile"] = 60.0
    assert planned_jobs(finished_copy, write_config(tmp_path / "same.yaml", config)) == {}


def test_editing_a_script_reruns_its_rule(finished_copy, tmp_path):
    workflow = tmp_path / "workflow_copy"  # edit a copy, never the repository
    workflow.mkdir()
    shutil.copy2(REPO / "Snakefile", workflow)
    for name in ("workflow", "scripts", "config", "envs", "profiles"):
        shutil.copytree(REPO / name, workflow / name, symlinks=True)
    snakefile = workflow / "Snakefile"
    assert planned_jobs(finished_copy, snakefile=snakefile) == {}
    script = workflow / "scripts" / "plot_meis.py"
    script.write_text(script.read_text() + "\n# an edit\n")
    assert planned_jobs(finished_copy, snakefile=snakefile) == {"plot_meis": 2, "all": 1}


def test_the_same_config_gives_identical_numbers(tiny_run, tmp_path):
    run_snakemake(tmp_path)  # from nothing: the simulated session too
    assert_identical_results(tmp_path, tiny_run)
