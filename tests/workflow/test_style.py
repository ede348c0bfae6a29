"""Code style is part of the contract: ruff for Python, snakefmt for the Snakefiles."""

from __future__ import annotations

import subprocess

from helpers import REPO, SNAKEMAKE

BIN = SNAKEMAKE.rsplit("/", 1)[0]


def test_ruff_is_clean():
    process = subprocess.run(
        [f"{BIN}/ruff", "check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert process.returncode == 0, process.stdout


def test_ruff_format_is_clean():
    process = subprocess.run(
        [f"{BIN}/ruff", "format", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert process.returncode == 0, process.stdout


def test_snakefiles_are_formatted():
    process = subprocess.run(
        [f"{BIN}/snakefmt", "--check", "Snakefile", "workflow/rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert process.returncode == 0, process.stdout + process.stderr
