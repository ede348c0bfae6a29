"""Ensembles: the member split, every mean against the members computed one by one, the
arithmetic of the callers before ``Ensemble`` kept to the bit, the chunk loader, the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from meiflow.io.netcdf import write_netcdf
from meiflow.models import training
from meiflow.models.chunks import load_chunk
from meiflow.models.ensemble import Ensemble
from meiflow.models.network import (
    CheckpointError,
    PerNeuronCNN,
    model_response,
    save_checkpoint,
    select,
)
from meiflow.models.settings import ArchitectureSettings
from meiflow.models.training import predict
from meiflow.models.training_data import grid_to_pixel

H, W = 20, 32
SETTINGS = ArchitectureSettings(channels=4)

pytestmark = pytest.mark.usefixtures("one_thread")


def ensemble_network(n_members: int, n_units: int) -> PerNeuronCNN:
    """A member-major network of ``n_members * n_units`` models, in eval mode, with readout
    positions spread over the image (seeded) and distinct biases, so that members differ."""
    n = n_members * n_units
    network = PerNeuronCNN(n, H, W, SETTINGS, [100 + k for k in range(n)]).eval()
    generator = torch.Generator().manual_seed(n)
    with torch.no_grad():
        network.positions.uniform_(-0.9, 0.9, generator=generator)
        network.bias.copy_(torch.linspace(-0.3, 0.3, n))
    return network


def scenes(n: int = 7, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, H, W, generator=torch.Generator().manual_seed(seed))


def member_units(n_members: int, n_units: int) -> list[list[int]]:
    """[member][unit] -> model index of the member-major network."""
    return [[m * n_units + u for u in range(n_units)] for m in range(n_members)]


# ----------------------------------------------------------------------------------------------
# The split


@pytest.mark.parametrize("n_members", [1, 2, 3])
def test_an_ensemble_network_splits_into_its_members(n_members):
    """Member m's network is models m * n_units .. of the network: its outputs are those
    columns of the network's outputs, its seeds those models' seeds."""
    network = ensemble_network(n_members, 3)
    ensemble = Ensemble(network, n_members)
    assert (ensemble.n_members, ensemble.n_units) == (n_members, 3)
    assert (ensemble.height, ensemble.width) == (H, W)
    assert ensemble.network is network
    assert len(ensemble.members) == n_members
    assert ensemble.members is ensemble.members  # split once
    x = scenes()
    with torch.no_grad():
        outputs = network(x)
        for member, models in zip(ensemble.members, member_units(n_members, 3), strict=True):
            assert member.n_models == 3 and not member.training
            assert list(member.seeds) == [network.seeds[k] for k in models]
            torch.testing.assert_close(member(x), outputs[:, models])
    assert repr(ensemble) == f"Ensemble({n_members} members x 3 units)"


def test_members_take_the_network_s_mode_and_frozen_parameters():
    network = ensemble_network(2, 2)
    assert all(p.requires_grad for m in Ensemble(network, 2).members for p in m.parameters())
    network.requires_grad_(False).train()
    members = Ensemble(network, 2).members
    assert all(m.training for m in members)
    assert not any(p.requires_grad for m in members for p in m.parameters())


@pytest.mark.parametrize("n_members", [4, 0, -2, True, 2.0, "2"])
def test_a_bad_member_split_is_an_error(n_members):
    network = ensemble_network(2, 3)  # 6 models
    with pytest.raises(ValueError, match=f"6 models do not split into {n_members} members"):
        Ensemble(network, n_members)


# ----------------------------------------------------------------------------------------------
# The means against the members one by one


def test_mean_of_the_network_s_outputs_is_the_members_mean():
    """Tensor and array, any leading dimensions: column u is the mean over m of column
    m * n_units + u."""
    ensemble = Ensemble(ensemble_network(3, 2), 3)
    values = torch.rand(4, 5, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    expected = (values[..., 0:2] + values[..., 2:4] + values[..., 4:6]) / 3
    torch.testing.assert_close(ensemble.mean(values), expected, rtol=1e-15, atol=0)
    mean = ensemble.mean(values.numpy())
    assert isinstance(mean, np.ndarray) and mean.shape == (4, 5, 2)
    np.testing.assert_allclose(mean, expected.numpy(), rtol=1e-15)
    assert ensemble.mean(values.float()).dtype == torch.float32
    single = Ensemble(ensemble_network(1, 2), 1)
    assert torch.equal(single.mean(values[..., :2]), values[..., :2])
    with pytest.raises(ValueError, match=r"expected values \(\.\.\., 6\)"):
        ensemble.mean(values[..., :4])
    with pytest.raises(ValueError, match="expected values"):
        ensemble.mean(np.float64(1.0))


@pytest.mark.parametrize("n_members", [1, 2, 3])
def test_predict_is_the_mean_of_the_members_predictions(n_members):
    """Shared images and paired images (unit u shown images[:, u]): the mean over the members of
    each member model's output, every model evaluated alone."""
    network = ensemble_network(n_members, 3)
    ensemble = Ensemble(network, n_members)
    models = member_units(n_members, 3)
    shared = scenes(5)
    paired = torch.rand(5, 3, H, W, generator=torch.Generator().manual_seed(1))
    expected_shared = torch.zeros(5, 3)
    expected_paired = torch.zeros(5, 3)
    with torch.no_grad():
        for u in range(3):
            for m in range(n_members):
                alone = select(network, [models[m][u]])
                expected_shared[:, u] += alone(shared)[:, 0] / n_members
                expected_paired[:, u] += alone(paired[:, u : u + 1])[:, 0] / n_members
    torch.testing.assert_close(ensemble.predict(shared), expected_shared, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ensemble.predict(paired, 2), expected_paired, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="expected images"):
        ensemble.predict(torch.rand(5, 2, H, W))


@pytest.mark.parametrize("n_members", [1, 2, 3])
def test_response_is_the_mean_of_the_members_responses(n_members):
    """images (n_units, n_init, H, W) -> (n_units, n_init): unit u's images through each member's
    model of unit u alone, mean over the members; the image gradient is that of the mean."""
    network = ensemble_network(n_members, 3)
    ensemble = Ensemble(network.requires_grad_(False), n_members)
    models = member_units(n_members, 3)
    images = torch.rand(3, 2, H, W, generator=torch.Generator().manual_seed(2))
    expected, members = torch.zeros(3, 2), torch.zeros(n_members, 3, 2)
    for u in range(3):
        for m in range(n_members):
            alone = select(network, [models[m][u]])
            members[m, u] = alone(images[u][:, None])[:, 0]
            expected[u] += members[m, u] / n_members
    with torch.no_grad():  # each member's own response: the spread of an MEI across them
        torch.testing.assert_close(ensemble.member_responses(images), members, atol=1e-6, rtol=1e-5)
    x = images.clone().requires_grad_(True)
    response = ensemble.response(x)
    assert response.shape == (3, 2)
    torch.testing.assert_close(response.detach(), expected, atol=1e-6, rtol=1e-5)
    (gradient,) = torch.autograd.grad(response.sum(), x)
    for u in range(3):  # each image's gradient is its own unit's: by finite difference
        step = torch.zeros_like(images)
        step[u, 0] = gradient[u, 0] / gradient[u, 0].norm() * 1e-2
        with torch.no_grad():
            change = ensemble.response(images + step) - ensemble.response(images)
        assert change[u, 0] == pytest.approx(float((gradient[u, 0] * step[u, 0]).sum()), rel=0.05)
        assert torch.count_nonzero(change) == 1
    with pytest.raises(ValueError, match="expected images"):
        ensemble.response(images[:2])
    network.train()
    with pytest.raises(ValueError, match="eval mode"):
        Ensemble(network, n_members).response(images)


@pytest.mark.parametrize("n_members", [1, 2, 3])
def test_readout_pixels_are_the_members_mean_position(n_members):
    network = ensemble_network(n_members, 4)
    ensemble = Ensemble(network, n_members)
    pixels = grid_to_pixel(
        network.clamped_positions().detach().numpy(), H, W, SETTINGS.pool
    ).reshape(n_members, 4, 2)
    pixels_mean = ensemble.readout_pixels()
    assert pixels_mean.shape == (4, 2) and pixels_mean.dtype == np.float64
    np.testing.assert_allclose(pixels_mean, pixels.sum(0) / n_members, rtol=1e-12)
    assert (pixels_mean >= 0).all() and (pixels_mean[:, 0] <= W - 1).all()


# ----------------------------------------------------------------------------------------------
# The arithmetic of the callers before Ensemble, to the bit (results stay reproducible)


@pytest.mark.parametrize("n_members", [1, 2, 3, 5])
def test_every_mean_keeps_the_arithmetic_it_replaced(n_members):
    """Bitwise equal to the code each method replaced: ``member_mean`` (reshape, mean(-2)) in
    training, ``ensemble_response`` (stack of the members' model_response, mean(0)) for MEIs and
    Gabors, and the phase-invariance rule's stack of member predictions and np.mean of the
    members' readout pixels. Five members: the two routes differ in the last bit there."""
    network = ensemble_network(n_members, 2).requires_grad_(False)
    ensemble = Ensemble(network, n_members)
    n = network.n_models // n_members
    old_members = [select(network, range(m * n, (m + 1) * n)) for m in range(n_members)]
    for member in old_members:
        member.eval().requires_grad_(False)
    x = scenes(9)
    outputs = predict(network, x)
    assert torch.equal(ensemble.mean(outputs), outputs.reshape(9, n_members, -1).mean(-2))
    values = outputs.double().numpy()
    assert np.array_equal(ensemble.mean(values), values.reshape(9, n_members, -1).mean(-2))
    paired = torch.rand(9, n, H, W, generator=torch.Generator().manual_seed(4))
    old = torch.stack([predict(m, paired) for m in old_members]).mean(0)
    assert torch.equal(ensemble.predict(paired), old)
    images = torch.rand(n, 3, H, W, generator=torch.Generator().manual_seed(5))
    old = torch.stack([model_response(m)(images) for m in old_members]).mean(0)
    assert torch.equal(ensemble.response(images), old)
    old = np.mean(
        [
            grid_to_pixel(m.clamped_positions().cpu().numpy(), H, W, m.settings.pool)
            for m in old_members
        ],
        axis=0,
    )
    assert np.array_equal(ensemble.readout_pixels(), old)


# ----------------------------------------------------------------------------------------------
# From a checkpoint


@pytest.mark.parametrize("n_members", [None, 1, 2])
def test_a_chunk_loads_as_a_frozen_ensemble(tmp_path, monkeypatch, n_members):
    """load_chunk: the dataset's ``member`` count (1 without the dimension), every network in
    eval mode with frozen parameters, the members' mean that of the saved network's outputs."""
    monkeypatch.setattr(training, "keep_freed_memory", lambda: False)  # process-wide otherwise
    members = n_members or 1
    network = ensemble_network(members, 3)
    save_checkpoint(network, tmp_path / "chunk.pt")
    frames = np.arange(7)
    chunk = xr.Dataset(
        {"predicted_rate": (("unit", "frame"), np.ones((3, 7)))},
        coords={"unit": [5, 8, 9], "frame": frames},
    )
    if n_members is not None:
        chunk = chunk.assign_coords(member=np.arange(n_members))
    write_netcdf(chunk, tmp_path / "chunk.nc")
    loaded, ensemble, device = load_chunk(tmp_path / "chunk.nc", tmp_path / "chunk.pt", "cpu")
    assert device == torch.device("cpu")
    np.testing.assert_array_equal(loaded["unit"], [5, 8, 9])
    assert (ensemble.n_members, ensemble.n_units) == (members, 3)
    for net in (ensemble.network, *ensemble.members):
        assert not net.training and not any(p.requires_grad for p in net.parameters())
    x = scenes()
    with torch.no_grad():
        expected = ensemble.mean(network(x))
    torch.testing.assert_close(ensemble.predict(x), expected, atol=1e-6, rtol=1e-5)
    if n_members == 2:  # 6 models saved, 3 units x 3 members asked for
        chunk.assign_coords(member=np.arange(3)).pipe(write_netcdf, tmp_path / "other.nc")
        with pytest.raises(CheckpointError, match=r"n_models 6 \(expected 9\)"):
            load_chunk(tmp_path / "other.nc", tmp_path / "chunk.pt", "cpu")
