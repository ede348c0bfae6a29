"""The package's layering (import-linter contracts in pyproject.toml) holds, covers every stage,
and catches an upward import."""

from __future__ import annotations

import ast
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import meiflow

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
#: The only rule scripts that may import the simulator.
SIMULATOR_SCRIPTS = {"simulate_session.py", "check_ground_truth.py", "pool_ground_truth.py"}


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """Run lint-imports on the ``meiflow`` package found in ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=package_parent,
        timeout=120,
    )


def contract(contract_id: str) -> dict:
    return next(c for c in CONTRACTS["contracts"] if c["id"] == contract_id)


def test_contracts_are_kept():
    result = lint_imports(Path(meiflow.__file__).parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_every_subpackage_sits_in_a_layer():
    layered = {
        name.strip()
        for layer in contract("stages")["layers"]
        for name in layer.replace(":", "|").split("|")
    }
    children = {module.name for module in pkgutil.iter_modules(meiflow.__path__)}
    assert children == layered
    # everything but the simulator, and the settings of every stage above it, is forbidden to
    # import it
    assert set(contract("simulator")["source_modules"]) == {
        f"meiflow.{name}" for name in layered - {"simulation", "settings"}
    }


@pytest.mark.parametrize(
    ("module", "upward", "broken"),
    [
        ("ingest/counts.py", "meiflow.models.network", "Each stage imports only from"),
        ("io/netcdf.py", "meiflow.stimuli.geometry", "Each stage imports only from"),
        ("models/training.py", "meiflow.simulation.neurons", "Only the simulator's own rules"),
    ],
)
def test_an_upward_import_breaks_a_contract(tmp_path, module, upward, broken):
    copy = tmp_path / "meiflow"
    shutil.copytree(
        Path(meiflow.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    path = copy / module
    path.write_text(path.read_text() + f"\nimport {upward}  # noqa: E402\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout
    assert upward in result.stdout


def test_only_the_simulator_rules_import_it():
    importers = set()
    for script in (REPO / "scripts").glob("*.py"):
        for node in ast.walk(ast.parse(script.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            simulator = ("meiflow.simulation", "meiflow.settings")  # settings imports it
            if any(n == s or n.startswith(f"{s}.") for n in names for s in simulator):
                importers.add(script.name)
    assert importers == SIMULATOR_SCRIPTS


def test_the_tests_mirror_the_package():
    """One test folder per stage (tests/ranking tests meiflow.ranking), tests/workflow for
    the workflow as a whole, and no test module outside them."""
    tests = REPO / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    children = {m.name for m in pkgutil.iter_modules(meiflow.__path__)}
    # meiflow.settings is tested with the config it is built from (tests/io/test_config.py)
    assert folders == children - {"settings"} | {"workflow"}
    assert not list(tests.glob("test_*.py"))
