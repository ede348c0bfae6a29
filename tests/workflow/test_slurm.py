"""The SLURM profile on a real single-node SLURM cluster (Debian's packages), set up here.

The module fixture installs munge and SLURM with apt-get where they are missing (as root),
writes /etc/slurm/slurm.conf and gres.conf (a stand-in GPU: gres `gpu:1` backed by /dev/null),
starts munged, slurmctld and slurmd, and stops them and puts the configuration back afterwards.
The tiny config then runs through `--workflow-profile profiles/slurm`: every job is an sbatch
job, the GPU rules' jobs ask for one GPU and the others for none, and the outputs equal a local
run's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, assert_identical_results, run_snakemake, wait_for

pytestmark = pytest.mark.slow

PACKAGES = ["munge", "slurmctld", "slurmd", "slurm-client"]
PROGRAMS = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel"]
SBIN = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
CONFIG_FILES = [Path("/etc/slurm/slurm.conf"), Path("/etc/slurm/gres.conf")]
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_PID = Path("/run/munge/munged.pid")
GPU_RULES = {
    "train_models",
    "train_shared_core",
    "generate_meis",
    "compare_gabors",
    "phase_invariance",
}
# Finished jobs stay known to slurmctld (and so to `squeue` and `scontrol show job`) this long.
MIN_JOB_AGE_S = 7200


def program(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))


def running(name: str) -> list[int]:
    """Process ids whose command name is ``name``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                pids.append(int(entry.name))
        except OSError:
            pass
    return pids


def install_packages() -> None:
    """apt-get install what is missing; pytest.skip where that is impossible."""
    if all(program(name) for name in PROGRAMS):
        return
    if os.geteuid() != 0:
        pytest.skip("SLURM and munge are not installed, and installing them needs root")
    if not shutil.which("apt-get"):
        pytest.skip("SLURM and munge are not installed, and there is no apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    process = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if process.returncode != 0:  # perhaps no package lists yet
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=600)
        process = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if process.returncode != 0 or not all(program(name) for name in PROGRAMS):
        pytest.skip(f"apt-get could not install {' '.join(PACKAGES)}:\n{process.stderr[-2000:]}")


def slurm_conf(host: str, state: Path) -> str:
    cpus = max(2, os.cpu_count() or 2)  # the GPU rules ask for 2 threads
    return f"""# Written by meiflow's tests/workflow/test_slurm.py for the length of the test.
ClusterName=meiflow-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/d
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge={MIN_JOB_AGE_S}
ReturnToService=2
MpiDefault=none
GresTypes=gpu
# The node as configured, whatever the machine has: memory is not a consumable resource here
# (CR_Core), but requests above RealMemory would be refused.
SlurmdParameters=config_overrides
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=64000 Gres=gpu:1 State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def stop(pid: int) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def command(*args: str, check: bool = True) -> str:
    process = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if check and process.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {process.stderr}")
    return process.stdout


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A one-node SLURM cluster on this machine, with one stand-in GPU; stopped afterwards."""
    install_packages()
    if os.geteuid() != 0:
        pytest.skip("starting SLURM's daemons and writing /etc/slurm needs root")
    if running("slurmctld") or running("slurmd"):
        pytest.skip("a SLURM daemon is already running on this machine; not touching it")
    host = socket.gethostname().split(".")[0]
    state = tmp_path_factory.mktemp("slurm")
    (state / "ctld").mkdir()
    (state / "d").mkdir()
    backup = state / "backup"
    backup.mkdir()
    started: list[int] = []
    created_key = False
    saved = {path: backup / path.name for path in CONFIG_FILES if path.exists()}
    try:
        for path, copy in saved.items():
            shutil.copy2(path, copy)
        CONFIG_FILES[0].parent.mkdir(parents=True, exist_ok=True)
        CONFIG_FILES[0].write_text(slurm_conf(host, state))
        CONFIG_FILES[1].write_text(f"NodeName={host} Name=gpu File=/dev/null\n")

        if not running("munged"):
            if not MUNGE_KEY.exists():
                command(program("mungekey"), "--create", f"--keyfile={MUNGE_KEY}")
                shutil.chown(MUNGE_KEY, "munge", "munge")
                created_key = True
            MUNGE_PID.parent.mkdir(parents=True, exist_ok=True)
            shutil.chown(MUNGE_PID.parent, "munge", "munge")
            MUNGE_PID.unlink(missing_ok=True)  # stale: no munged runs
            command("runuser", "-u", "munge", "--", program("munged"))
            wait_for(MUNGE_PID.exists, "munged's pid file", 20)
            started.append(int(MUNGE_PID.read_text()))
        for daemon in ("slurmctld", "slurmd"):
            command(program(daemon))
            pid_file = state / f"{daemon}.pid"
            wait_for(pid_file.exists, f"{daemon}'s pid file (log: {state}/{daemon}.log)", 30)
            started.append(int(pid_file.read_text()))
        wait_for(
            lambda: command("sinfo", "-h", "-o", "%t", check=False).strip() == "idle",
            f"the node to be idle (logs: {state}/slurmctld.log, slurmd.log)",
            60,
        )
        yield host
    finally:
        # Jobs left by a failed test first (linuxproc: they would outlive slurmd), then the
        # daemons in reverse order, then the configuration as it was.
        if started:
            subprocess.run(["scancel", "--full", f"--user={os.geteuid()}"], capture_output=True)
            active = ["squeue", "-h", "-t", "PENDING,RUNNING,COMPLETING", "-o", "%i"]
            try:
                wait_for(lambda: not command(*active, check=False).strip(), "jobs to end", 30)
            except AssertionError:
                pass
        for pid in reversed(started):
            stop(pid)
        for path in CONFIG_FILES:
            if path in saved:
                shutil.copy2(saved[path], path)
            else:
                path.unlink(missing_ok=True)
        if created_key:
            MUNGE_KEY.unlink(missing_ok=True)


def test_the_tiny_workflow_runs_through_slurm_with_a_gpu_for_the_gpu_rules(
    slurm_cluster, tiny_run, tmp_path
):
    process = run_snakemake(
        tmp_path,
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        "--slurm-no-account",  # no accounting here
        "--slurm-init-seconds-before-status-checks",
        "2",  # not the default 40 s: the tiny jobs take seconds
    )
    log = process.stdout + process.stderr
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)

    jobs = {}
    for job_id in job_ids:
        fields = dict(re.findall(r"(\w+)=(\S*)", command("scontrol", "-o", "show", "job", job_id)))
        rule = re.match(r"rule_(\w+?)(?:_wildcards_|$)", fields["Comment"]).group(1)
        jobs[job_id] = (rule, fields["JobState"], fields.get("TresPerJob", ""))

    # Every job of the local run (one benchmark file each) went through sbatch, and ended well.
    benchmarks = list((tiny_run / "results").rglob("benchmarks/**/*.tsv"))
    assert len(jobs) == len(benchmarks), sorted(rule for rule, _, _ in jobs.values())
    assert {state for _, state, _ in jobs.values()} == {"COMPLETED"}
    assert GPU_RULES <= {rule for rule, _, _ in jobs.values()}
    for job_id, (rule, _, tres) in jobs.items():
        if rule in GPU_RULES:
            assert "gpu:1" in tres, f"job {job_id} ({rule}) asked for no GPU: {tres!r}"
        else:
            assert "gpu" not in tres, f"job {job_id} ({rule}) asked for a GPU: {tres!r}"

    # The jobs ran the workflow with this environment's Python.
    script = command("scontrol", "write", "batch_script", job_ids[0], "-")
    assert f"{Path(sys.executable).parent}/python" in script, script[:500]

    assert_identical_results(tmp_path, tiny_run)
