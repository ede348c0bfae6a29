"""Atomic NetCDF writing and clear errors when reading."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import xarray as xr

from meiflow.io.netcdf import NetCDFError, read_chunks, read_netcdf, write_netcdf


def test_round_trip_provenance_and_permissions(tmp_path):
    ds = xr.Dataset({"a": ("unit", np.arange(3.0))}, coords={"unit": [4, 5, 6]})
    old = os.umask(0o022)
    try:
        write_netcdf(ds, tmp_path / "sub" / "x.nc", config={"k": 1}, inputs=["in.nc"])
    finally:
        os.umask(old)
    path = tmp_path / "sub" / "x.nc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # as any file the user creates
    back = read_netcdf(path, ("a",))
    np.testing.assert_array_equal(back["a"], ds["a"])
    assert '"k": 1' in back.attrs["meiflow_config"] and "in.nc" in back.attrs["meiflow_inputs"]
    assert [p.name for p in path.parent.iterdir()] == ["x.nc"]  # no temporary left


def test_reading_errors_name_the_file(tmp_path):
    with pytest.raises(NetCDFError, match="not found"):
        read_netcdf(tmp_path / "missing.nc")
    broken = tmp_path / "broken.nc"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(NetCDFError, match="broken.nc"):
        read_netcdf(broken)
    write_netcdf(xr.Dataset({"a": ("x", [1.0])}), tmp_path / "ok.nc")
    with pytest.raises(NetCDFError, match="b"):
        read_netcdf(tmp_path / "ok.nc", ("b",))


def test_read_chunks_concatenates_chunks_and_explains_an_empty_area(tmp_path):
    paths = []
    for k, units in enumerate(([1, 2], [3])):
        ds = xr.Dataset({"mei": ("unit", np.asarray(units, float))}, coords={"unit": units})
        paths.append(tmp_path / f"chunk_{k}.nc")
        write_netcdf(ds, paths[-1])
    gathered = read_chunks(paths, ("mei",), "none selected")
    np.testing.assert_array_equal(gathered["unit"], [1, 2, 3])
    empty = read_chunks([], ("mei",), "none selected")
    assert empty.sizes["unit"] == 0 and empty.attrs["empty_reason"] == "none selected"
