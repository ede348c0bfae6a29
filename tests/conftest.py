"""Shared fixtures: one run of the workflow on the tiny config, reused by the tests (the helpers
they use live in ``helpers.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from helpers import TINY_SESSION, run_snakemake


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


@pytest.fixture
def cache_copy(tiny_cache, tmp_path) -> Path:
    """A copy of the tiny session's AllenSDK cache, to damage."""
    copy = tmp_path / "cache"
    shutil.copytree(tiny_cache, copy)
    return copy


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: one torch thread is faster, and robust on a shared machine (use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
