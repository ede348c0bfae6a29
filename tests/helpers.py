"""Helpers shared by the tests: paths, the tiny config, running Snakemake on it, comparing runs."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

from meiflow.io.netcdf import read_netcdf
from meiflow.simulation.settings import SimulationSettings

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "tiny.yaml"
TINY_SESSION = 900000002
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def tiny_config() -> dict:
    """The tiny config as a dict, to edit and pass to :func:`write_config`."""
    return yaml.safe_load(TINY.read_text())


def write_config(path: Path, config: dict) -> Path:
    """Write ``config`` as YAML at ``path``, keys in their order (a reordered mapping is a changed
    param to Snakemake), and return ``path``."""
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def small_simulation(units: int, scene_repeats: int) -> SimulationSettings:
    """A simulator config of ``units`` VISp units (40 % simple, 40 % complex, 20 % untuned, all
    passing the quality filter) and ``scene_repeats`` repeats of every scene, for
    ``meiflow.simulation.session.simulate_session``."""
    return SimulationSettings(
        seed=3,
        units_per_area={"VISp": units},
        cell_types={"simple": 0.4, "complex": 0.4, "untuned": 0.2},
        fraction_failing_quality=0.0,
        scene_repeats=scene_repeats,
        gabor_repeats=1,
        latency_s=0.05,
    )


def snakemake_command(workdir: Path, *args: str, configfile: Path = TINY) -> list[str]:
    """The command line that runs the workflow in ``workdir`` (its own results/ and
    resources/) on ``configfile`` with 2 cores, then ``args``."""
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    return [*command, "--configfile", str(configfile), "--cores", "2", *args]


def run_snakemake(workdir: Path, *args: str, configfile: Path = TINY, check: bool = True):
    """Run the workflow in ``workdir`` (:func:`snakemake_command`) and return the process."""
    command = snakemake_command(workdir, *args, configfile=configfile)
    process = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if check and process.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({process.returncode}):\n{process.stdout[-4000:]}\n"
            f"{process.stderr[-6000:]}"
        )
    return process


def build_report(workdir: Path, configfile: Path = TINY) -> str:
    """Build the HTML report of the run in ``workdir`` (``snakemake --report``); its text."""
    report = workdir / "results" / "report.html"
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    command += ["--configfile", str(configfile), "--report", str(report)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    return report.read_text()


def planned_jobs(workdir: Path, configfile: Path = TINY, snakefile: Path | None = None) -> dict:
    """Rule -> job count that ``snakemake -n`` plans in ``workdir`` (empty: nothing to do)."""
    args = ["-n"] if snakefile is None else ["-n", "-s", str(snakefile)]
    stdout = run_snakemake(workdir, *args, configfile=configfile).stdout
    if "Nothing to be done" in stdout:
        return {}
    table = stdout.split("Job stats:")[1].split("total")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def wait_for(condition, what: str, timeout_s: float = 300) -> None:
    """Poll ``condition()`` every 0.2 s until it is true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.2)


def copy_of_run(run: Path, workdir: Path) -> Path:
    """A complete copy of a run's work directory (results, resources, .snakemake)."""
    shutil.copytree(run, workdir, dirs_exist_ok=True, symlinks=True)
    return workdir


def session_nwb(cache: Path, session_id: int = TINY_SESSION) -> Path:
    """The session NWB file of an AllenSDK cache directory."""
    return cache / f"session_{session_id}" / f"session_{session_id}.nwb"


def nwb_units_and_onsets(nwb_path: Path) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray]]:
    """Spike times (unit id -> array) and presentation onsets (stimulus -> array, in the file's
    row order) read straight from the NWB file with h5py."""
    with h5py.File(nwb_path, "r") as f:
        ids = f["units/id"][:]
        flat = f["units/spike_times"][:]
        ends = f["units/spike_times_index"][:]
        spikes = dict(zip(ids.tolist(), np.split(flat, ends[:-1]), strict=True))
        onsets = {
            name[: -len("_presentations")]: f[f"intervals/{name}/start_time"][:]
            for name in f["intervals"]
            if name.endswith("_presentations")
        }
    return spikes, onsets


def digest(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, by relative path."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def assert_identical_results(ours: Path, reference: Path) -> None:
    """Every NetCDF file under ``reference``'s results/ is in ``ours`` with identical variables
    and coordinates (attributes aside: they hold times and paths)."""
    files = sorted(p.relative_to(reference) for p in (reference / "results").rglob("*.nc"))
    assert files, f"no NetCDF file under {reference / 'results'}"
    for name in files:
        a, b = read_netcdf(ours / name), read_netcdf(reference / name)
        assert sorted(a.variables) == sorted(b.variables), name
        for variable in b.variables:
            np.testing.assert_array_equal(a[variable], b[variable], err_msg=f"{name}: {variable}")
