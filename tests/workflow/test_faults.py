"""Faults of a running workflow: interrupted and concurrent runs, damaged results, failed units.

Each test checks the documented outcome (README "Failure modes"): a clear message naming what is
wrong and where, a non-zero exit, and no data lost.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import (
    TINY_SESSION,
    assert_identical_results,
    copy_of_run,
    digest,
    run_snakemake,
    snakemake_command,
    tiny_config,
    wait_for,
    write_config,
)

from meiflow.io.netcdf import read_netcdf, write_netcdf

pytestmark = pytest.mark.slow

SESSION_DIR = Path("results") / str(TINY_SESSION)


def start_snakemake(workdir: Path, *args: str) -> subprocess.Popen:
    """The tiny workflow in ``workdir``, started in the background in its own process group."""
    return subprocess.Popen(
        snakemake_command(workdir, *args),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_run_killed_during_training_finishes_on_rerun_with_the_same_results(
    tiny_run, tmp_path, sig
):
    shutil.copytree(tiny_run / "resources", tmp_path / "resources")
    process = start_snakemake(tmp_path)
    logs = tmp_path / SESSION_DIR / "logs"
    wait_for(lambda: list(logs.glob("*/train_models_*.log")), "training to start")
    assert process.poll() is None, "the run ended before training started"
    time.sleep(1.0)  # in the middle of training
    os.killpg(process.pid, sig)  # the workflow and its jobs
    process.wait(timeout=120)

    rerun = run_snakemake(tmp_path, check=False)
    if sig == signal.SIGKILL:  # no chance to clean up: Snakemake's lock stays, and says so
        assert rerun.returncode != 0
        assert "--unlock" in rerun.stdout + rerun.stderr
        run_snakemake(tmp_path, "--unlock")
        rerun = run_snakemake(tmp_path, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert_identical_results(tmp_path, tiny_run)


def test_a_second_run_on_the_same_directory_is_refused_and_corrupts_nothing(tiny_run, tmp_path):
    workdir = copy_of_run(tiny_run, tmp_path / "work")
    first = start_snakemake(workdir, "--forcerun", "generate_meis")  # and what depends on it
    locks = workdir / ".snakemake" / "locks"
    wait_for(lambda: locks.is_dir() and any(locks.iterdir()), "the first run to lock")
    second = run_snakemake(workdir, check=False)
    assert first.poll() is None, "the first run ended before the second started"
    assert second.returncode != 0
    assert "Directory cannot be locked" in second.stdout + second.stderr
    assert first.wait(timeout=600) == 0
    assert_identical_results(workdir, tiny_run)
    assert "Nothing to be done" in run_snakemake(workdir, "-n").stdout


def test_a_corrupt_netcdf_in_results_is_named_and_the_cache_survives(tiny_run, tmp_path):
    workdir = copy_of_run(tiny_run, tmp_path / "work")
    ranking = workdir / SESSION_DIR / "VISp" / "ranking.nc"
    ranking.write_bytes(ranking.read_bytes()[:500])  # truncated, e.g. by a full disk
    cache = workdir / "resources"
    before = digest(cache)
    process = run_snakemake(workdir, check=False)
    assert process.returncode != 0
    output = process.stdout + process.stderr
    assert f"cannot read {ranking.relative_to(workdir)}" in output  # shown by show-failed-logs
    advice = f"snakemake --cores all --forcerun {ranking.relative_to(workdir)}"
    assert advice in output
    assert digest(cache) == before

    run_snakemake(workdir, "--forcerun", str(ranking.relative_to(workdir)))  # as advised
    assert_identical_results(workdir, tiny_run)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_for_where_there_is_none_names_the_key(tiny_run, tmp_path):
    workdir = copy_of_run(tiny_run, tmp_path / "work")
    counts = digest(workdir / SESSION_DIR / "counts")
    config = tiny_config()
    config["models"]["device"] = "cuda"
    process = run_snakemake(
        workdir, check=False, configfile=write_config(tmp_path / "cuda.yaml", config)
    )
    assert process.returncode != 0
    output = process.stdout + process.stderr  # the failed job's log, shown by the profile
    assert "config key 'models.device': 'cuda' asked for, but this machine has no CUDA" in output
    assert "devices here: cpu" in output
    assert digest(workdir / SESSION_DIR / "counts") == counts  # nothing before training redone


def test_a_unit_whose_training_failed_is_dropped_downstream_with_its_reason(tiny_run, tmp_path):
    workdir = copy_of_run(tiny_run, tmp_path / "work")
    path = workdir / SESSION_DIR / "VISp" / "model_scores.nc"
    scores = read_netcdf(path)
    failed = int(scores["unit"][0])
    reason = "non-finite training loss or parameters at epoch 3"
    failures = scores["training_failure"].to_numpy().astype(object)
    failures[0] = reason
    scores["training_failure"] = ("unit", failures.astype(str))
    write_netcdf(scores, path)  # as if training had diverged for the first unit

    run_snakemake(workdir)
    area = workdir / SESSION_DIR / "VISp"
    for name in ("meis.nc", "gabors.nc", "metrics.nc"):
        ds = read_netcdf(area / name)
        kept = set(ds["unit"].to_numpy().tolist())
        assert kept == set(scores["unit"].to_numpy().tolist()) - {failed}, name
        assert ds.attrs["dropped_units"] == f"{failed}: {reason}", name
    assert failed not in pd.read_csv(area / "metrics.csv")["unit"].to_numpy()
    assert pd.read_csv(area / "summary.csv")["n_training_failed"].item() == 1
    log = (workdir / SESSION_DIR / "logs" / "VISp" / "image_metrics.log").read_text()
    assert f"unit {failed} dropped: training failed ({reason})" in log
