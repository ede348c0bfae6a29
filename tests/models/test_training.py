"""Training: batched Adam is Adam, a chunk trains like its models alone, runs are reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meiflow.models.network import PerNeuronCNN, select
from meiflow.models.settings import ArchitectureSettings, TrainingSettings
from meiflow.models.training import (
    BatchedAdam,
    DeviceError,
    correlations,
    device_for,
    initial_bias,
    predict,
    train_chunk,
)

SMALL = ArchitectureSettings(channels=4, layers=2, pyramid_levels=1, gauss_size=3)
HEIGHT, WIDTH = 16, 24


def data(n_models: int, n_images: int = 40, seed: int = 0):
    """Images and mean counts from planted linear-nonlinear neurons."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n_images, 1, HEIGHT, WIDTH, generator=g)
    filters = torch.randn(n_models, HEIGHT * WIDTH, generator=g)
    drive = (images.reshape(n_images, -1) - 0.5) @ filters.T / 10
    means = torch.nn.functional.softplus(drive) + 0.2
    return images, means, torch.full((n_images,), 10)


def fit(seeds, means, settings, images, model_settings=SMALL):
    model = PerNeuronCNN(len(seeds), HEIGHT, WIDTH, model_settings, seeds)
    return train_chunk(
        model, images[:30], means[:30], torch.full((30,), 10), images[30:], means[30:], settings
    )


def test_batched_adam_with_one_model_is_torch_adam():
    torch.manual_seed(0)
    a = torch.randn(5, 3, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    ours, theirs = BatchedAdam([a], 1, lr=0.01), torch.optim.Adam([b], lr=0.01)
    for _ in range(20):
        for p, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            (p**3).sum().backward()
            opt.step()
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_batched_adam_freezes_a_model_with_zero_learning_rate():
    p = torch.randn(6, 2, requires_grad=True)  # 3 models x 2 rows
    before = p.detach().clone()
    opt = BatchedAdam([p], 3, lr=0.1)
    opt.lr[1] = 0.0
    (p**2).sum().backward()
    opt.step()
    assert torch.equal(p[2:4], before[2:4]) and not torch.equal(p[:2], before[:2])


@pytest.mark.slow
def test_a_chunk_of_three_trains_like_each_model_alone():
    images, means, _ = data(3)
    settings = TrainingSettings(max_epochs=12, batch_size=8, patience=2, max_decays=1)
    chunk = fit([11, 12, 13], means, settings, images)
    for k, seed in enumerate([11, 12, 13]):
        alone = fit([seed], means[:, k : k + 1], settings, images)
        np.testing.assert_array_equal(chunk.best_epoch[k], alone.best_epoch[0])
        torch.testing.assert_close(
            predict(select(chunk.model, [k]), images),
            predict(alone.model, images),
            rtol=1e-4,
            atol=1e-5,
        )
        epochs = alone.train_loss.shape[1]  # the chunk may go on for its other models
        np.testing.assert_allclose(chunk.train_loss[k, :epochs], alone.train_loss[0], rtol=1e-4)
        assert np.isnan(chunk.train_loss[k, epochs:]).all()


def test_training_is_deterministic():
    images, means, _ = data(2)
    settings = TrainingSettings(max_epochs=5, batch_size=8)
    a = fit([1, 2], means, settings, images)
    b = fit([1, 2], means, settings, images)
    torch.testing.assert_close(predict(a.model, images), predict(b.model, images), rtol=0, atol=0)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)


def test_the_loop_overfits_a_few_images_without_regularization():
    g = torch.Generator().manual_seed(3)
    images = torch.rand(8, 1, HEIGHT, WIDTH, generator=g)
    means = 0.5 + 4.5 * torch.rand(8, 2, generator=g)
    plain = ArchitectureSettings(
        channels=8, layers=2, pyramid_levels=1, gauss_size=3, gamma_laplace=0.0, gamma_group=0.0
    )
    model = PerNeuronCNN(2, HEIGHT, WIDTH, plain, [5, 6])
    before = correlations(predict(model, images), means)
    settings = TrainingSettings(max_epochs=300, batch_size=8, lr=0.01, patience=300)
    result = train_chunk(model, images, means, torch.full((8,), 10), images, means, settings)
    after = correlations(predict(result.model, images), means)
    assert (after > 0.95).all() and (after > before).all()
    assert (result.train_loss[:, -1] < result.train_loss[:, 0]).all()


def test_initial_bias_inverts_the_output_nonlinearity():
    means = torch.tensor([0.05, 0.5, 1.0, 3.0, 12.0])
    output = torch.nn.functional.elu(initial_bias(means)) + 1.0
    torch.testing.assert_close(output, means)
    assert torch.isfinite(initial_bias(torch.tensor([0.0]))).all()
    assert initial_bias(torch.tensor([float("nan"), float("inf")])).tolist() == [0.0, 0.0]


def test_batched_adam_freezes_a_model_whose_moments_are_nan():
    p = torch.randn(6, 2, requires_grad=True)  # 3 models x 2 rows
    before = p.detach().clone()
    opt = BatchedAdam([p], 3, lr=0.1)
    opt.lr[1] = 0.0
    loss = (p**2).sum()
    loss.backward()
    p.grad[2:4] = float("nan")  # model 1's gradient is NaN
    opt.step()
    assert torch.equal(p[2:4], before[2:4]) and torch.isfinite(p).all()


def test_a_model_that_goes_non_finite_is_stopped_and_the_others_train_on():
    images, means, _ = data(3)
    settings = TrainingSettings(max_epochs=6, batch_size=8, patience=2, max_decays=1)
    broken = means.clone()
    broken[:, 1] = float("nan")  # model 1's targets: NaN loss from the first step
    chunk = fit([11, 12, 13], broken, settings, images)
    assert chunk.failure[1].startswith("non-finite") and "epoch 0" in chunk.failure[1]
    assert chunk.failure[0] == chunk.failure[2] == ""
    assert all(torch.isfinite(t).all() for t in chunk.model.state_dict().values())
    others = fit([11, 13], broken[:, [0, 2]], settings, images)
    torch.testing.assert_close(
        predict(select(chunk.model, [0, 2]), images), predict(others.model, images)
    )


@pytest.mark.parametrize("gpus", [0, 1])
def test_a_device_that_is_absent_is_named_with_the_ones_that_exist(monkeypatch, gpus):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    here = "cpu" + ", cuda:0" * gpus
    absent = "cuda" if gpus == 0 else "cuda:1"
    with pytest.raises(DeviceError, match=rf"config key 'models.device': '{absent}'.*here: {here}"):
        device_for(absent)
    with pytest.raises(DeviceError, match="'gpu' is not a torch device"):
        device_for("gpu")
    assert device_for("cpu") == torch.device("cpu")
    assert device_for("auto") == torch.device("cuda" if gpus else "cpu")
    if gpus:
        assert device_for("cuda:0") == torch.device("cuda:0")  # exists: no error
