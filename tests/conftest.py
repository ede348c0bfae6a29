"""Shared fixtures: one run of the workflow on the tiny config, reused by the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "tiny.yaml"
TINY_SESSION = 900000002
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def run_snakemake(workdir: Path, *args: str, configfile: Path = TINY, check: bool = True):
    """Run the workflow in ``workdir`` (its own results/ and resources/) and return the process."""
    command = [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *args,
    ]
    process = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if check and process.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({process.returncode}):\n{process.stdout[-4000:]}\n"
            f"{process.stderr[-6000:]}"
        )
    return process


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A work directory where the whole workflow has run on the tiny config."""
    workdir = tmp_path_factory.mktemp("tiny")
    run_snakemake(workdir)
    return workdir


@pytest.fixture(scope="session")
def tiny_cache(tiny_run) -> Path:
    """The simulated session's AllenSDK cache directory of the tiny run."""
    return tiny_run / "resources" / "simulated" / str(TINY_SESSION)


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: one torch thread is faster, and robust on a shared machine (use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
