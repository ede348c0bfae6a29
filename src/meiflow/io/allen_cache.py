"""Read a session from an AllenSDK ``EcephysProjectCache`` directory, safely.

The same code reads a downloaded cache and the simulator's. Before AllenSDK sees a cache, it is
checked for completeness: with the session NWB in place but a CSV missing, AllenSDK 2.16.2 tries to
download the CSV and, when that fails, its clean-up deletes the NWB. :func:`check_cache` turns every
such case into a :class:`CacheError` that names the missing or broken file, before any AllenSDK
call.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from meiflow.io.allen_format import CACHE_TABLES, MANIFEST, SCENE_TEMPLATE, SESSION_NWB

log = logging.getLogger(__name__)

MANIFEST_VERSION = "0.3.0"
#: Stimuli read from a session, with the parameter columns kept for each.
STIMULUS_PARAMETERS = {
    "natural_scenes": ("frame",),
    "gabors": ("orientation", "x_position", "y_position"),
}


@dataclass(frozen=True)
class UnitFilter:
    """The unit quality filter applied when a session is read (config section ``unit_filter``).

    AllenSDK's arguments of ``get_session_data``, with its defaults
    (``allensdk.brain_observatory.ecephys...UNIT_FILTER_DEFAULTS``): a unit is kept when
    ``amplitude_cutoff <= amplitude_cutoff_maximum``, ``presence_ratio >= presence_ratio_minimum``,
    ``isi_violations <= isi_violations_maximum`` and, if ``filter_by_validity``, its quality is
    ``"good"``.
    """

    amplitude_cutoff_maximum: float = 0.1
    presence_ratio_minimum: float = 0.95
    isi_violations_maximum: float = 0.5
    filter_by_validity: bool = True


@dataclass(frozen=True)
class AllenSettings:
    """Where real Allen sessions are cached and how long to wait for the warehouse (``allen``).

    Attributes:
        cache_dir: the AllenSDK ``EcephysProjectCache`` directory (``manifest.json`` in it).
        network_timeout_s: seconds to wait for the Allen data warehouse.
    """

    cache_dir: str = "resources/allen_cache"
    network_timeout_s: float = 10.0


#: Columns of a session's invalid time intervals (AllenSDK's ``EcephysSession.invalid_times``).
INVALID_TIMES = ("start_time", "stop_time", "tags")
#: The Allen Institute's data warehouse, which AllenSDK's ``from_warehouse`` downloads from.
WAREHOUSE_HOST = "api.brain-map.org"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class CacheError(RuntimeError):
    """An AllenSDK cache directory is incomplete, inconsistent or unreadable."""


@dataclass
class SessionData:
    """What ingest needs from one session.

    Attributes:
        units: DataFrame indexed by unit id (after the quality filter): ``area`` and the quality
            metrics ``isi_violations``, ``amplitude_cutoff``, ``presence_ratio``, ``firing_rate``
            (Hz), ``snr``.
        spike_times: unit id -> spike times (s), float64, as the NWB file holds them.
        presentations: stimulus name -> DataFrame indexed by ``stimulus_presentation_id`` with
            ``start_time``, ``stop_time`` (s), ``stimulus_block`` and the stimulus's parameters
            (:data:`STIMULUS_PARAMETERS`), as AllenSDK gives them: not cast, dtype object where
            AllenSDK made it so, with its string ``'null'`` for a NaN in the NWB file.
            :func:`meiflow.ingest.checks.check_session` casts and checks them.
        invalid_times: the session's invalid time intervals (AllenSDK's ``invalid_times``):
            ``start_time``, ``stop_time`` (s) and ``tags`` (a list of str: scope, scope id,
            label, e.g. ``["EcephysProbe", "123", "probeA"]``); empty without any.
    """

    units: pd.DataFrame
    spike_times: dict[int, np.ndarray]
    presentations: dict[str, pd.DataFrame]
    invalid_times: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=INVALID_TIMES))

    def require_areas(self, areas: Iterable[str]) -> None:
        """Raise CacheError naming the areas without units (after the quality filter)."""
        present = sorted(self.units["area"].unique())
        missing = [a for a in areas if a not in present]
        if missing:
            raise CacheError(
                f"area(s) {missing} have no units passing the quality filter in this session "
                f"(areas present: {present}); fix config key 'areas' or give this session its "
                f"own 'areas' list"
            )


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise CacheError(f"{what} is missing from the AllenSDK cache: {path}")
    if path.stat().st_size == 0:
        raise CacheError(f"{what} in the AllenSDK cache is empty: {path}")


def check_tables(cache_dir: Path) -> Path:
    """Check the manifest and the project tables (``sessions.csv`` ...) of an AllenSDK cache.

    Returns:
        The path of ``manifest.json``.

    Raises:
        CacheError: naming what is wrong.
    """
    cache_dir = Path(cache_dir).resolve()
    if not cache_dir.is_dir():
        raise CacheError(f"AllenSDK cache directory does not exist: {cache_dir}")
    manifest = cache_dir / MANIFEST
    _require_file(manifest, "manifest.json")
    try:
        entries = json.loads(manifest.read_text())["manifest"]
    except (ValueError, KeyError, TypeError) as error:
        raise CacheError(
            f"manifest.json is not an AllenSDK manifest ({error}): {manifest}"
        ) from None
    version = next((e.get("value") for e in entries if e.get("type") == "manifest_version"), None)
    if version != MANIFEST_VERSION:
        raise CacheError(
            f"manifest.json has version {version!r}, expected {MANIFEST_VERSION!r}: {manifest}"
        )
    basedir = next((e.get("spec") for e in entries if e.get("key") == "BASEDIR"), None)
    if basedir is None or (cache_dir / basedir).resolve() != cache_dir:
        raise CacheError(
            f"manifest.json points its BASEDIR to {basedir!r}, not to its own directory "
            f"{cache_dir}: AllenSDK would read and write elsewhere. Move the cache or rewrite "
            f"the manifest: {manifest}"
        )
    for name in CACHE_TABLES:
        _require_file(cache_dir / name, name)
    return manifest


def check_cache(cache_dir: Path, session_id: int, frames: Iterable[int] = ()) -> Path:
    """Check that ``cache_dir`` holds everything AllenSDK needs to read ``session_id`` offline.

    Args:
        cache_dir: the directory holding ``manifest.json``.
        session_id: the ecephys session id.
        frames: natural-scene template numbers that must be present (-1, the blank, is skipped).

    Returns:
        The path of ``manifest.json``.

    Raises:
        CacheError: naming the file that is missing, empty or inconsistent. Nothing is modified.
    """
    manifest = check_tables(cache_dir)
    cache_dir = manifest.parent
    sessions = pd.read_csv(cache_dir / "sessions.csv", usecols=["id"])["id"].to_numpy()
    if session_id not in sessions:
        raise CacheError(
            f"session {session_id} is not in the cache's sessions.csv "
            f"({len(sessions)} sessions listed): {cache_dir / 'sessions.csv'}"
        )
    nwb = cache_dir / SESSION_NWB.format(id=session_id)
    _require_file(nwb, f"the NWB file of session {session_id}")
    with nwb.open("rb") as handle:
        if handle.read(len(_HDF5_SIGNATURE)) != _HDF5_SIGNATURE:
            raise CacheError(f"the NWB file of session {session_id} is not an HDF5 file: {nwb}")
    for frame in frames:
        if frame >= 0:
            _require_file(
                cache_dir / SCENE_TEMPLATE.format(frame=frame), f"natural scene template {frame}"
            )
    return manifest


def _refuse_download(*_args, **_kwargs) -> None:
    raise CacheError("a file is missing from the AllenSDK cache, and meiflow reads it offline")


def _open_offline(manifest: Path):
    """An ``EcephysProjectCache`` that reads the cache and never downloads.

    AllenSDK's own ``EcephysProjectFixedApi`` refuses every fetch, so a failed read raises
    instead of starting a download (from a compute node, or of a 2 GB file).
    """
    from allensdk.brain_observatory.ecephys.ecephys_project_api.ecephys_project_fixed_api import (
        EcephysProjectFixedApi,
    )
    from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache

    return EcephysProjectCache(
        fetch_api=EcephysProjectFixedApi(),
        stream_writer=_refuse_download,
        manifest=str(manifest),
        fetch_tries=1,
    )


def _session_files(manifest: Path, session_id: int) -> list[Path]:
    """The cache files that reading a session touches: manifest, tables, session NWB."""
    base = manifest.parent
    return [manifest, *(base / t for t in CACHE_TABLES), base / SESSION_NWB.format(id=session_id)]


def _presentation_table(session, name: str) -> pd.DataFrame:
    """The columns ingest uses of one stimulus's table, as AllenSDK gives them (not cast)."""
    try:
        table = session.get_stimulus_table([name])
    except Exception:
        _refuse_nan_times(session)
        raise
    columns = ["start_time", "stop_time", "stimulus_block", *STIMULUS_PARAMETERS[name]]
    missing = [c for c in columns if c not in table.columns]
    if table.empty or missing:
        raise CacheError(
            f"session {session.ecephys_session_id} has no usable '{name}' stimulus "
            f"(rows: {len(table)}, missing columns: {missing})"
        )
    return table[columns].sort_index()


def _refuse_nan_times(session) -> None:
    """Raise CacheError naming the presentations whose start or stop time is NaN, if any.

    AllenSDK 2.16.2 turns every NaN of the stimulus table into the string ``'null'`` and then
    subtracts the start times from the stop times, which fails for the whole table: such a
    presentation cannot be left out, only named (from AllenSDK's unprocessed table).
    """
    raw = session.api.get_stimulus_presentations()
    faults = []
    for column in ("start_time", "stop_time"):
        for name, rows in raw[raw[column].isna()].groupby("stimulus_name"):
            faults.append(f"'{name}' presentations {rows.index.tolist()} have a NaN {column}")
    if faults:
        raise CacheError(
            f"session {session.ecephys_session_id}: {'; '.join(faults)} (in the NWB file's "
            f"intervals/<stimulus>_presentations; ids are stimulus_presentation_id). AllenSDK "
            f"cannot build the stimulus table of a session with a NaN time, so none of its "
            f"presentations can be read: the file is not truncated, but these times need repair"
        )


def _invalid_times(table: pd.DataFrame) -> pd.DataFrame:
    """AllenSDK's invalid time intervals with :data:`INVALID_TIMES` columns and list tags.

    Raises:
        CacheError: an interval whose start or stop time is not a finite number or that ends
            before it starts (named by its row).
    """
    if table is None or len(table) == 0:
        return pd.DataFrame(columns=INVALID_TIMES)
    missing = [c for c in INVALID_TIMES if c not in table.columns]
    if missing:
        raise CacheError(f"the session's invalid_times table lacks the column(s) {missing}")
    times = table[["start_time", "stop_time"]].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(times.to_numpy(dtype=float)).all(axis=1)
    bad |= times["stop_time"].to_numpy() < times["start_time"].to_numpy()
    if bad.any():
        rows = table.index[bad].tolist()
        raise CacheError(f"invalid_times rows {rows}: start/stop not finite or stop before start")
    tags = [[str(t) for t in np.atleast_1d(tag)] for tag in table["tags"]]
    return pd.DataFrame(
        {"start_time": times["start_time"], "stop_time": times["stop_time"], "tags": tags}
    ).reset_index(drop=True)


def load_session(
    cache_dir: Path, session_id: int, unit_filter: UnitFilter = UnitFilter()
) -> SessionData:
    """Read units, spike times and stimulus tables of one session through AllenSDK.

    ``unit_filter`` is passed to AllenSDK's ``get_session_data`` (its defaults unless given).
    The cache is checked first (:func:`check_cache`). The values are returned as AllenSDK gives
    them; :func:`meiflow.ingest.checks.check_session` checks them.

    Raises:
        CacheError: naming the file that is missing or unreadable, or the presentations whose
            start or stop time is NaN (AllenSDK cannot build a stimulus table with one).
    """
    manifest = check_cache(cache_dir, session_id)
    kwargs = asdict(unit_filter)
    # AllenSDK deletes a file it failed to read (its failed-fetch clean-up): keep them all.
    with preserved_files(manifest.parent, _session_files(manifest, session_id)):
        try:
            session = _open_offline(manifest).get_session_data(session_id, **kwargs)
            units = session.units
            spike_times = session.spike_times
            presentations = {
                name: _presentation_table(session, name) for name in STIMULUS_PARAMETERS
            }
            invalid_times = _invalid_times(session.invalid_times)
        except CacheError:
            raise
        except Exception as error:  # h5py, pynwb and hdmf raise many types on a damaged file
            raise CacheError(
                f"AllenSDK could not read session {session_id} from {manifest.parent} "
                f"(is the NWB file truncated or corrupt?): {type(error).__name__}: {error}"
            ) from error
    units = units.rename(columns={"ecephys_structure_acronym": "area"})
    units = units.rename(columns={"probe_description": "probe"})
    columns = ["area", "probe", "isi_violations", "amplitude_cutoff", "presence_ratio"]
    columns += ["firing_rate", "snr"]
    return SessionData(
        units=units[columns].sort_index(),
        spike_times={int(u): np.asarray(spike_times[u], dtype=np.float64) for u in units.index},
        presentations=presentations,
        invalid_times=invalid_times,
    )


def load_scene_templates(cache_dir: Path, session_id: int, frames: Iterable[int]) -> np.ndarray:
    """Natural scene templates (n_frames, height, width), uint8, through AllenSDK.

    ``frames`` are template numbers >= 0; the cache is checked for them first.
    """
    frames = [int(f) for f in frames]
    manifest = check_cache(cache_dir, session_id, frames)
    files = [manifest.parent / SCENE_TEMPLATE.format(frame=f) for f in frames]
    with preserved_files(manifest.parent, files):
        cache = _open_offline(manifest)
        try:
            templates = [np.asarray(cache.get_natural_scene_template(f)) for f in frames]
        except CacheError:
            raise
        except Exception as error:  # SimpleITK raises RuntimeError on a damaged TIFF
            raise CacheError(
                f"AllenSDK could not read a natural scene template of {manifest.parent}: "
                f"{type(error).__name__}: {error}"
            ) from error
    shapes = collections.Counter(t.shape for t in templates)
    if len(shapes) != 1:
        common = shapes.most_common(1)[0][0]
        odd = [
            f"{path} is {t.shape}"
            for path, t in zip(files, templates, strict=True)
            if t.shape != common
        ]
        raise CacheError(
            f"natural scene templates differ in size: most are {common}, but " + ", ".join(odd)
        )
    return np.stack(templates).astype(np.uint8)


def check_network(host: str = WAREHOUSE_HOST, port: int = 443, timeout_s: float = 10.0) -> None:
    """Raise ConnectionError within ``timeout_s`` when ``host`` cannot be reached."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        raise ConnectionError(
            f"cannot reach the Allen Institute data warehouse {host}:{port} within {timeout_s} s "
            f"({error}). Downloading a session needs network access; run the workflow where "
            f"there is one, or use 'source: simulated'."
        ) from None


@contextlib.contextmanager
def preserved_files(directory: Path, files: Iterable[Path] | None = None) -> Iterator[None]:
    """Keep ``files`` of ``directory`` (default: every file in it) whatever happens inside.

    The files that exist on entry are hard-linked into a hidden folder of ``directory`` (same
    file system, no copy) and any that disappeared are linked back on exit: AllenSDK's clean-up
    after a failed read or download deletes files, a pre-placed session NWB included.
    """
    directory = Path(directory)
    candidates = directory.rglob("*") if files is None else files
    files = [Path(p) for p in candidates if Path(p).is_file()]
    try:
        backup = Path(tempfile.mkdtemp(prefix=".meiflow-preserve-", dir=directory))
    except PermissionError:  # a read-only cache: nothing in it can be deleted either
        yield
        return
    for path in files:
        target = backup / path.relative_to(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    try:
        yield
    finally:
        for path in files:
            if not path.exists():
                log.warning("restoring %s, which AllenSDK removed", path)
                path.parent.mkdir(parents=True, exist_ok=True)
                os.link(backup / path.relative_to(directory), path)
        shutil.rmtree(backup)


@contextlib.contextmanager
def _warehouse(cache_dir: Path, timeout_s: float) -> Iterator:
    """AllenSDK's downloading cache on ``cache_dir``, for fetches inside the ``with`` block.

    The network is checked first (failing within ``timeout_s``) and every file already in the
    cache is preserved (:func:`preserved_files`).
    """
    check_network(timeout_s=timeout_s)
    cache_dir.mkdir(parents=True, exist_ok=True)
    from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache

    with preserved_files(cache_dir):
        yield EcephysProjectCache.from_warehouse(
            manifest=str(cache_dir / MANIFEST), timeout=max(60, int(timeout_s) * 30)
        )


def session_table(cache_dir: Path, timeout_s: float = 10.0) -> pd.DataFrame:
    """AllenSDK's table of Visual Coding - Neuropixels sessions.

    The table (index ``id``; columns ``session_type``, ``ecephys_structure_acronyms`` ...) is read
    from the cache when its tables are there, else fetched into it (the network checked first,
    failing within ``timeout_s``; every file already in the cache preserved).
    """
    cache_dir = Path(cache_dir)
    try:
        manifest = check_tables(cache_dir)
    except CacheError:
        with _warehouse(cache_dir, timeout_s) as cache:
            return cache.get_session_table()
    with preserved_files(cache_dir, [cache_dir / name for name in CACHE_TABLES]):
        return _open_offline(manifest).get_session_table()


def download_session(
    cache_dir: Path, session_id: int, frames: Iterable[int], timeout_s: float = 10.0
) -> Path:
    """Fetch what is missing of a session into an AllenSDK cache; return the manifest path.

    A cache that already passes :func:`check_cache` is not touched (no network needed). Otherwise
    the network is checked first (failing within ``timeout_s``), and the download runs with every
    pre-existing cache file preserved (:func:`preserved_files`).
    """
    cache_dir = Path(cache_dir)
    frames = [int(f) for f in frames if f >= 0]
    with contextlib.suppress(CacheError):
        return check_cache(cache_dir, session_id, frames)
    with _warehouse(cache_dir, timeout_s) as cache:
        sessions = cache.get_session_table()
        if session_id not in sessions.index:
            raise CacheError(f"session {session_id} is not an Allen Visual Coding session")
        cache.get_session_data(session_id)
        for frame in frames:
            cache.get_natural_scene_template(frame)
    return check_cache(cache_dir, session_id, frames)
