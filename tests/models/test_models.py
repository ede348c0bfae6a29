"""The batched per-neuron CNNs: shapes, the per-model row contract, independence, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from meiflow.models.network import (
    CheckpointError,
    PerNeuronCNN,
    _conv_same,
    _first_layer,
    _ModelDot,
    checkpoint_state,
    combine,
    laplace_penalty,
    load_checkpoint,
    model_response,
    model_rows,
    model_tensors,
    save_checkpoint,
    select,
)
from meiflow.models.settings import ArchitectureSettings

H, W = 20, 32


pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = ArchitectureSettings(channels=4, layers=3)
SEEDS = [11, 22, 33]


def images(n: int = 6, seed: int = 0, height: int = H, width: int = W) -> torch.Tensor:
    return torch.rand(n, 1, height, width, generator=torch.Generator().manual_seed(seed))


def perturbed(model: PerNeuronCNN, seed: int = 1) -> PerNeuronCNN:
    """Give every parameter and BatchNorm statistic of ``model`` random, model-specific values."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model_tensors(model):
            noise = torch.randn(tensor.shape, generator=generator)
            if "running_var" in name:
                tensor.copy_(0.5 + noise.abs())
            elif name == "positions":
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 1.6 - 0.8)
            else:
                tensor.add_(0.1 * noise)
    return model


def test_shapes_positive_and_seeds():
    for readout in ("adjoint", "sample"):
        model = PerNeuronCNN(3, H, W, SMALL, SEEDS, readout=readout)
        out = model(images())
        assert out.shape == (6, 3)
        assert torch.isfinite(out).all() and (out > 0).all()
        assert model.regularizer().shape == (3,)
        assert model.positions.shape == (3, 2)
        assert model.feature_weights.shape == (3, 4 * 3 * 4)
        core = model.core(images())
        assert [tuple(x.shape) for x in core] == [(6, 12, H // 2, W // 2)] * 3
    with pytest.raises(ValueError):
        model(images(height=H + 2))
    with pytest.raises(ValueError):
        PerNeuronCNN(2, H, W, SMALL, [1])
    with pytest.raises(ValueError):
        ArchitectureSettings(gauss_size=4)
    model.set_positions(torch.tensor([[0.1, -0.2], [0.3, 0.4], [-1.0, 1.0]], dtype=torch.float64))
    assert model.positions.dtype == torch.float32
    assert model.positions[2].tolist() == [-1.0, 1.0]
    assert not model.positions.grad


@pytest.mark.parametrize("kernel", range(1, 8))
def test_all_kernel_sizes(kernel):
    settings = ArchitectureSettings(channels=3, layers=2, first_kernel=kernel, hidden_kernel=kernel)
    model = PerNeuronCNN(2, 21, 31, settings, [1, 2])
    out = model(images(3, height=21, width=31))
    assert out.shape == (3, 2) and torch.isfinite(out).all()
    assert [tuple(x.shape[-2:]) for x in model.core(images(3, height=21, width=31))] == [
        (10, 15)
    ] * 2
    penalty = model.regularizer()
    assert penalty.shape == (2,) and torch.isfinite(penalty).all() and (penalty > 0).all()
    # "same" padding: the even kernels are padded asymmetrically, the output keeps the size
    weight = torch.randn(5, 1, kernel, kernel)
    x = images(2, height=9, width=12)
    assert _conv_same(x, weight).shape == (2, 5, 9, 12)
    for pool in (1, 2, 3):
        direct = F.avg_pool2d(_conv_same(x, weight), pool)
        torch.testing.assert_close(_first_layer(x, weight, pool), direct, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel", range(1, 8))
def test_laplace_penalty_against_scipy(kernel):
    kernels = torch.randn(3, 2, kernel, kernel, dtype=torch.float64)
    laplace = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=float)
    expected = np.array(
        [
            [
                (scipy.signal.convolve2d(k, laplace, mode="same", boundary="fill") ** 2).sum()
                for k in row
            ]
            for row in kernels.numpy()
        ]
    )
    np.testing.assert_allclose(laplace_penalty(kernels).numpy(), expected, rtol=1e-12)
    # a constant kernel is NOT smooth under zero padding: it is penalized by its border
    # (corners miss 2 neighbours, other border pixels 1): (4k + 8) c^2, or 16 c^2 for k = 1
    constant = torch.full((1, 1, kernel, kernel), 0.5, dtype=torch.float64)
    border = 16.0 if kernel == 1 else 4.0 * kernel + 8.0
    assert laplace_penalty(constant).item() == pytest.approx(border * 0.25)
    assert laplace_penalty(torch.zeros(1, 1, kernel, kernel)).item() == 0.0


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5, 6, 7])
def test_regularizer_direct(kernel):
    settings = ArchitectureSettings(
        channels=3,
        layers=3,
        first_kernel=kernel,
        hidden_kernel=kernel,
        gamma_laplace=0.3,
        gamma_group=0.2,
        gamma_readout=0.05,
    )
    model = perturbed(PerNeuronCNN(2, H, W, settings, [5, 6]))
    laplace = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=float)
    for k in range(2):
        first = model_rows(model.conv_weights[0], 2)[k].view(3, kernel, kernel).detach().numpy()
        smooth = sum((scipy.signal.convolve2d(w, laplace, mode="same") ** 2).sum() for w in first)
        group = 0.0
        for weight in model.conv_weights[1:]:
            rows = model_rows(weight, 2)[k].view(3, 3, kernel, kernel).detach().numpy()
            group += np.sqrt((rows**2).sum((2, 3))).sum()
        l1 = np.abs(model.feature_weights[k].detach().numpy()).sum()
        expected = 0.3 * smooth + 0.2 * group + 0.05 * l1
        assert model.regularizer()[k].item() == pytest.approx(expected, rel=1e-5)


def test_group_sparsity_gradient_at_zero_kernel():
    model = PerNeuronCNN(2, H, W, SMALL, [1, 2])
    with torch.no_grad():
        model.conv_weights[1].zero_()
    model.regularizer().sum().backward()
    assert torch.isfinite(model.conv_weights[1].grad).all()


def test_model_tensors_follow_the_row_contract():
    n = 3
    model = PerNeuronCNN(n, H, W, SMALL, SEEDS)
    tensors = dict(model_tensors(model))
    params = dict(model.named_parameters())
    float_buffers = {k: b for k, b in model.named_buffers() if b.is_floating_point()}
    assert set(tensors) == set(params) | set(float_buffers)
    assert not any("num_batches_tracked" in name for name in tensors)
    assert any("running_mean" in name for name in tensors)
    assert any("running_var" in name for name in tensors)
    assert {"positions", "feature_weights", "bias"} <= set(tensors)
    alone = [PerNeuronCNN(1, H, W, SMALL, [seed]) for seed in SEEDS]
    for name, tensor in tensors.items():
        assert tensor.shape[0] % n == 0, name
        rows = model_rows(tensor, n)
        assert rows.data_ptr() == tensor.data_ptr()  # a view: in-place updates reach the model
        for k in range(n):  # model k's initial values depend on its seed only
            own = dict(model_tensors(alone[k]))[name]
            torch.testing.assert_close(rows[k], own.reshape(-1), rtol=0, atol=0)
    with pytest.raises(ValueError):
        model_rows(torch.zeros(5), 3)
    for norm in model.norms:
        assert norm.momentum is not None


def _step_both(big: PerNeuronCNN, small: PerNeuronCNN, x: torch.Tensor) -> None:
    """Update the BatchNorm statistics of both networks with the same batches."""
    with torch.no_grad():
        for start in (0, 3):
            big(x[start : start + 3])
            small(x[start : start + 3])


@pytest.mark.parametrize("readout", ["adjoint", "sample"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_models_are_independent(mode, readout):
    settings = ArchitectureSettings(channels=4, layers=3, gamma_readout=0.1)
    big = perturbed(PerNeuronCNN(3, H, W, settings, SEEDS, readout=readout))
    alone = select(big, [1])
    assert alone.seeds == [SEEDS[1]] and alone.n_models == 1
    fresh_big = PerNeuronCNN(3, H, W, settings, SEEDS, readout=readout)
    fresh_alone = PerNeuronCNN(1, H, W, settings, [SEEDS[1]], readout=readout)
    x = images(6)
    for a, b in ((big, alone), (fresh_big, fresh_alone)):
        a.train()
        b.train()
        _step_both(a, b, x)
        a.train(mode == "train")
        b.train(mode == "train")
        torch.testing.assert_close(a(x)[:, 1], b(x)[:, 0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.regularizer()[1], b.regularizer()[0], atol=1e-6, rtol=1e-6)
        for name, tensor in model_tensors(a):  # BatchNorm statistics included
            own = dict(model_tensors(b))[name]
            torch.testing.assert_close(model_rows(tensor, 3)[1], own.view(-1), atol=1e-6, rtol=0)


@pytest.mark.parametrize("readout", ["adjoint", "sample"])
@pytest.mark.parametrize("pool", [1, 2])
def test_paired_images_go_to_their_own_model(readout, pool):
    """(B, n, H, W) input: model k's output for channel k equals its output for that image."""
    settings = ArchitectureSettings(channels=4, layers=3, pool=pool)
    model = perturbed(PerNeuronCNN(3, H, W, settings, SEEDS, readout=readout)).eval()
    x = images(6).view(2, 3, H, W)
    paired = model(x)
    assert paired.shape == (2, 3)
    for k in range(3):
        torch.testing.assert_close(paired[:, k], model(x[:, k : k + 1])[:, k], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="1 or 3"):
        model(images(4).view(2, 2, H, W))


def test_model_response_is_unit_u_on_its_images():
    """images (n_models, n_init, H, W) -> (n_models, n_init): model u alone on images[u]; eval
    mode and the image shape are checked."""
    model = perturbed(PerNeuronCNN(3, H, W, SMALL, SEEDS)).eval()
    x = torch.rand(3, 2, H, W, generator=torch.Generator().manual_seed(0))
    paired = model_response(model)(x)
    assert paired.shape == (3, 2)
    for u in range(3):
        alone = select(model, [u])(x[u][:, None])[:, 0]
        torch.testing.assert_close(paired[u], alone, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="eval"):
        model_response(PerNeuronCNN(3, H, W, SMALL, SEEDS).train())(x)
    with pytest.raises(ValueError, match="expected images"):
        model_response(model)(x[:2])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradients_stay_in_their_model(mode):
    settings = ArchitectureSettings(channels=4, layers=3, gamma_readout=0.1)
    n = 3
    model = perturbed(PerNeuronCNN(n, H, W, settings, SEEDS)).train(mode == "train")
    x = images(5)
    params = dict(model.named_parameters())
    for k in range(n):
        loss = model(x)[:, k].sum() + model.regularizer()[k]
        grads = torch.autograd.grad(loss, list(params.values()))
        for (name, _), grad in zip(params.items(), grads, strict=True):
            rows = model_rows(grad, n)
            others = [j for j in range(n) if j != k]
            assert (rows[others] == 0).all(), (name, k)
            assert rows[k].abs().sum() > 0, (name, k)


def test_readouts_agree_with_gradients():
    model = perturbed(PerNeuronCNN(3, 21, 33, SMALL, SEEDS, readout="sample"))
    other = select(model, range(3))
    other.readout = "adjoint"
    x = images(4, height=21, width=33)
    y_sample, y_adjoint = model(x), other(x)
    torch.testing.assert_close(y_sample, y_adjoint, atol=1e-5, rtol=1e-5)
    g1 = torch.autograd.grad(y_sample.sum(), list(model.parameters()))
    g2 = torch.autograd.grad(y_adjoint.sum(), list(other.parameters()))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_model_dot():
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    m = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(_ModelDot.apply(x, m), torch.einsum("bnk,nk->bn", x, m))
    assert torch.autograd.gradcheck(_ModelDot.apply, (x, m))
    assert torch.autograd.gradgradcheck(_ModelDot.apply, (x, m))


@pytest.mark.parametrize("readout", ["adjoint", "sample"])
def test_readout_points_at_the_bright_pixel(readout):
    """One model per pixel of the core grid; all see a map with one bright pixel."""
    settings = ArchitectureSettings(channels=1, layers=1, pyramid_levels=2)
    h, w = 7, 11
    n = h * w
    model = PerNeuronCNN(n, 2 * h, 2 * w, settings, range(n), readout=readout)
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    # x = column, y = row in grid_sample's normalized coordinates, align_corners=True
    xy = torch.stack([cols.flatten() / (w - 1) * 2 - 1, rows.flatten() / (h - 1) * 2 - 1], 1)
    model.set_positions(xy)
    for row, col in [(3, 4), (0, 0), (0, w - 1), (h - 1, 2), (5, 9)]:
        features = torch.zeros(1, n, 1, h, w)
        features[..., row, col] = 1.0
        with torch.no_grad():
            drive = model.readout_drive(features)[0]
        best = int(drive.argmax())
        assert divmod(best, w) == (row, col)
    # between pixels, bilinear: halfway between two columns gets the mean response
    features = torch.zeros(1, 1, 1, h, w)
    features[..., 3, 4] = 1.0
    single = PerNeuronCNN(1, 2 * h, 2 * w, settings, [0], readout=readout)
    responses = []
    for col in (4.0, 4.5, 5.0):
        single.set_positions(torch.tensor([[col / (w - 1) * 2 - 1, 3 / (h - 1) * 2 - 1]]))
        with torch.no_grad():
            responses.append(single.readout_drive(features).item())
    assert responses[0] > responses[1] > responses[2]


def test_select_and_combine_round_trip():
    model = perturbed(PerNeuronCNN(4, H, W, SMALL, [1, 2, 3, 4])).eval()
    x = images(5)
    out = model(x)
    picked = select(model, [2, 0])
    assert picked.seeds == [3, 1] and not picked.training
    torch.testing.assert_close(picked(x), out[:, [2, 0]], atol=1e-5, rtol=1e-5)
    joined = combine([select(model, [0]), select(model, [1, 2]), select(model, [3])])
    assert joined.seeds == model.seeds and joined.n_models == 4
    for (name, a), (name_b, b) in zip(model_tensors(model), model_tensors(joined), strict=True):
        assert name == name_b
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    torch.testing.assert_close(joined(x), out, atol=1e-6, rtol=1e-6)
    with pytest.raises(IndexError):
        select(model, [4])
    with pytest.raises(ValueError):
        combine([model, PerNeuronCNN(1, H + 2, W, SMALL, [0])])


def test_checkpoint_round_trip(tmp_path):
    model = perturbed(PerNeuronCNN(3, H, W, SMALL, SEEDS))
    path = tmp_path / "chunk.pt"
    save_checkpoint(model, path)
    loaded = load_checkpoint(path, "cpu")
    assert not loaded.training
    assert (loaded.n_models, loaded.height, loaded.width) == (3, H, W)
    assert loaded.settings == SMALL and loaded.seeds == SEEDS
    x = images(4)
    torch.testing.assert_close(loaded(x), model.eval()(x), atol=0, rtol=0)
    # the dict holds plain types and a state_dict; extra keys (e.g. unit ids) are allowed
    state = checkpoint_state(model)
    numpy_settings = ArchitectureSettings(channels=np.int64(4), gamma_group=np.float32(0.1))
    numpy_model = PerNeuronCNN(np.int64(1), np.int64(H), W, numpy_settings, [np.int64(3)])
    save_checkpoint(numpy_model, tmp_path / "numpy.pt")
    assert load_checkpoint(tmp_path / "numpy.pt").settings == numpy_settings
    assert isinstance(state["settings"], dict) and state["seeds"] == SEEDS
    torch.save({**state, "units": [7, 8, 9]}, tmp_path / "extra.pt")
    torch.testing.assert_close(load_checkpoint(tmp_path / "extra.pt", "cpu")(x), model(x))
    loaded = load_checkpoint(path, torch.device("cpu"), n_models=3, height=H, width=W)
    assert loaded.n_models == 3


def test_bad_checkpoints(tmp_path):
    model = PerNeuronCNN(2, H, W, SMALL, [1, 2])
    good = tmp_path / "good.pt"
    save_checkpoint(model, good)
    data = good.read_bytes()

    def fails(path, match="snakemake --cores all --forcerun", **expected):
        with pytest.raises(CheckpointError, match=match) as info:
            load_checkpoint(path, "cpu", **expected)
        assert str(path) in str(info.value)

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    fails(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    fails(garbage)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    fails(empty)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    fails(other)
    # stored dimensions that do not fit the tensors
    wrong = tmp_path / "wrong.pt"
    torch.save(
        {**checkpoint_state(model), "height": H * 2, "n_models": 3, "seeds": [1, 2, 3]}, wrong
    )
    fails(wrong)
    # a valid checkpoint of other dimensions than the caller expects
    fails(good, match="other dimensions", height=H + 1)
    fails(good, match="other dimensions", n_models=3)
    fails(good, match="other dimensions", settings=ArchitectureSettings(channels=5))
    assert issubclass(CheckpointError, RuntimeError)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt", "cpu")


def test_overfits_small_data():
    torch.manual_seed(0)
    settings = ArchitectureSettings(channels=8, layers=3, gamma_laplace=0, gamma_group=0)
    model = PerNeuronCNN(2, H, W, settings, [3, 4])
    x = images(8, seed=5)
    targets = torch.rand(8, 2, generator=torch.Generator().manual_seed(6)) * 2 + 0.5
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        loss = ((model(x) - targets) ** 2).mean(0)
        (loss.sum() + model.regularizer().sum()).backward()
        optimizer.step()
        losses.append(loss.detach())
    first, last = losses[0], torch.stack(losses[-10:]).mean(0)
    assert (last < 0.1 * first).all(), (first, last)
