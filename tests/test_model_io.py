"""What the model stage hands on: failed units dropped with their reason, chunks gathered."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from meiflow.io.netcdf import write_netcdf
from meiflow.models.model_io import (
    drop_units,
    ensemble_members,
    failed_units,
    gather_units,
    member_mean,
)
from meiflow.models.network import ModelSettings, PerNeuronCNN


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


def test_gather_units_concatenates_chunks_and_explains_an_empty_area(tmp_path):
    paths = []
    for k, units in enumerate(([1, 2], [3])):
        ds = xr.Dataset({"mei": ("unit", np.asarray(units, float))}, coords={"unit": units})
        paths.append(tmp_path / f"chunk_{k}.nc")
        write_netcdf(ds, paths[-1])
    gathered = gather_units(paths, ("mei",), "none selected")
    np.testing.assert_array_equal(gathered["unit"], [1, 2, 3])
    empty = gather_units([], ("mei",), "none selected")
    assert empty.sizes["unit"] == 0 and empty.attrs["empty_reason"] == "none selected"


def test_an_ensemble_network_splits_into_its_members():
    """6 models, member-major: members of 3 units each, whose outputs are the network's columns
    0-2 and 3-5; their mean is member_mean's."""
    network = PerNeuronCNN(6, 20, 32, ModelSettings(channels=4), list(range(6))).eval()
    images = torch.rand(5, 1, 20, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outputs = network(images)
        members = ensemble_members(network, 2)
        assert [m.n_models for m in members] == [3, 3]
        torch.testing.assert_close(members[0](images), outputs[:, :3])
        torch.testing.assert_close(members[1](images), outputs[:, 3:])
    torch.testing.assert_close(member_mean(outputs, 2), (outputs[:, :3] + outputs[:, 3:]) / 2)
    np.testing.assert_allclose(
        member_mean(outputs.numpy(), 3), outputs.numpy().reshape(5, 3, 2).mean(1)
    )
    assert ensemble_members(network, 1)[0].n_models == 6
    with pytest.raises(ValueError, match="do not split into 4 members"):
        ensemble_members(network, 4)
