"""NetCDF I/O for every intermediate array: CF attributes, provenance, atomic writes."""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

from meiflow.io.runtime import recreate_advice

#: Packages whose versions are recorded in every file's provenance.
PROVENANCE_PACKAGES = ("meiflow", "numpy", "scipy", "xarray", "netCDF4", "torch", "allensdk")


class NetCDFError(RuntimeError):
    """A NetCDF file is missing, truncated or not what the workflow wrote."""


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`PROVENANCE_PACKAGES` ("absent" when not installed)."""
    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def describe(ds: xr.Dataset, described: Mapping[str, tuple[str, str]]) -> None:
    """Give each variable named in ``described`` its CF ``long_name`` and ``units``, in place.

    ``described`` maps a variable's name to (long_name, units); the variable's other attributes
    are replaced.
    """
    for name, (long_name, units) in described.items():
        ds[name].attrs = {"long_name": long_name, "units": units}


def provenance_attrs(config: dict | None = None, inputs: list[str] | None = None) -> dict:
    """Attributes recording how a file was made: rule config, inputs, package versions, time."""
    return {
        "Conventions": "CF-1.8",
        "history": f"{datetime.datetime.now(datetime.timezone.utc).isoformat()} written by meiflow",
        "meiflow_config": json.dumps(config or {}, sort_keys=True, default=str),
        "meiflow_inputs": json.dumps([str(p) for p in inputs or []]),
        "meiflow_packages": json.dumps(package_versions(), sort_keys=True),
        "python": platform.python_version(),
    }


def _umask() -> int:
    """The process's file-creation mask (read by setting it and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_netcdf(
    ds: xr.Dataset, path: Path, config: dict | None = None, inputs: list[str] | None = None
) -> None:
    """Write ``ds`` to ``path`` (netCDF4 engine, zlib), atomically.

    A temporary file in the same directory is renamed into place, so an interrupted write never
    leaves a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = ds.copy()
    ds.attrs = {**ds.attrs, **provenance_attrs(config, inputs)}
    encoding = {
        name: {"zlib": True, "complevel": 4}
        for name, var in ds.variables.items()
        if var.dtype.kind in "biuf"
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from the group
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_netcdf(path: Path, variables: tuple[str, ...] = ()) -> xr.Dataset:
    """Load a NetCDF file fully into memory.

    Raises:
        NetCDFError: a clear one if the file is missing, corrupt, or lacks one of ``variables``.
    """
    path = Path(path)
    if not path.is_file():
        raise NetCDFError(f"NetCDF file not found: {path}")
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds = ds.load()
    except Exception as error:  # netCDF4 raises OSError, ValueError or RuntimeError variants
        raise NetCDFError(
            f"cannot read {path} ({type(error).__name__}: {error}); the file is truncated or "
            f"corrupt: {recreate_advice(path)}"
        ) from error
    missing = [v for v in variables if v not in ds.variables]
    if missing:
        raise NetCDFError(f"{path} lacks the variable(s) {missing}")
    return ds


def read_chunks(paths: Sequence[Path], required: tuple[str, ...], empty_reason: str) -> xr.Dataset:
    """The per-chunk files of an area (``models/chunk_{i}.nc``, ``meis/chunk_{i}.nc``, ...) as one.

    Args:
        paths: the chunk files, in chunk order.
        required: variables every file must hold (see :func:`read_netcdf`).
        empty_reason: the ``empty_reason`` attribute of the empty dataset returned without paths
            (an area without selected units).

    Returns:
        The files concatenated along ``unit``; attributes that differ between them are dropped.

    Raises:
        NetCDFError: a file is missing, unreadable or lacks a required variable.
    """
    if not paths:
        ds = xr.Dataset(coords={"unit": np.array([], dtype=np.int64)})
        ds.attrs["empty_reason"] = empty_reason
        return ds
    return xr.concat(
        [read_netcdf(path, required) for path in paths],
        dim="unit",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="outer",
        combine_attrs="drop_conflicts",
    )
