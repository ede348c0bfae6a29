"""What the model stage hands on: failed units dropped with their reason."""

from __future__ import annotations

import numpy as np
import xarray as xr

from meiflow.models.chunks import drop_units, failed_units


def scores(failures: list[str]) -> xr.Dataset:
    units = np.arange(10, 10 + len(failures))
    return xr.Dataset({"training_failure": ("unit", failures)}, coords={"unit": units})


def test_failed_units_are_those_with_a_reason():
    reason = "non-finite training loss or parameters at epoch 2"
    assert failed_units(scores(["", reason, ""])) == {11: reason}
    assert failed_units(scores(["", ""])) == {}
    assert failed_units(xr.Dataset(coords={"unit": np.array([], dtype=int)})) == {}


def test_dropped_units_leave_with_their_reason():
    ds = xr.Dataset({"mei": ("unit", [1.0, 2.0, 3.0])}, coords={"unit": [10, 11, 12]})
    kept = drop_units(ds, {11: "diverged", 99: "not in this file"})
    np.testing.assert_array_equal(kept["unit"], [10, 12])
    np.testing.assert_array_equal(kept["mei"], [1.0, 3.0])
    assert kept.attrs["dropped_units"] == "11: diverged; 99: not in this file"
    assert "dropped_units" not in drop_units(ds, {}).attrs
