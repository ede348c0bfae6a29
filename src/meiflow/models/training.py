"""Training a chunk of per-neuron CNNs as one batched network, each model on its own schedule.

Every model of a :class:`meiflow.models.network.PerNeuronCNN` chunk is trained exactly as it would
be alone: the loss is a sum of per-model terms (so gradients never mix), mini-batches follow one
seeded order shared by all, and :class:`BatchedAdam` holds a learning rate per model, so that
learning-rate decay, restoring the best state and early stopping happen per model. The result for
a model does not depend on which other models share its chunk (tested).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from meiflow.models.network import PerNeuronCNN, keep_freed_memory, model_rows, model_tensors
from meiflow.models.settings import TrainingSettings

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """A trained chunk: the models at their best validation epoch and their training curves.

    Attributes:
        model: the chunk, its models at their best validation epoch.
        train_loss: (n_models, n_epochs) with NaN after a model stopped.
        validation_correlation: (n_models, n_epochs) with NaN after a model stopped.
        best_epoch: (n_models,).
        best_validation_correlation: (n_models,).
        failure: (n_models,) str, empty, or why a model was stopped early (non-finite loss or
            parameters).
    """

    model: PerNeuronCNN
    train_loss: np.ndarray
    validation_correlation: np.ndarray
    best_epoch: np.ndarray
    best_validation_correlation: np.ndarray
    failure: np.ndarray


class DeviceError(RuntimeError):
    """The device that config key ``models.device`` names does not exist on this machine."""


def available_devices() -> list[str]:
    """The torch devices of this machine: ``cpu``, then ``cuda:0``, ``cuda:1``, ..."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu"] + [f"cuda:{i}" for i in range(count)]


def device_for(name: str) -> torch.device:
    """The torch device of config key ``models.device``.

    Args:
        name: ``auto`` (CUDA when available, else the CPU) or a torch device name (``cpu``,
            ``cuda``, ``cuda:1``).

    Returns:
        The device, checked to exist here: each GPU rule calls this when its job starts, on the
        node that runs it (a check when the workflow is submitted would be wrong on clusters
        whose login node has no GPU).

    Raises:
        DeviceError: naming the key and the devices that exist, for a name torch does not know
            or a device this machine lacks (CUDA asked for where none is, or an index past the
            last GPU).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    available = available_devices()
    devices = ", ".join(available)
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise DeviceError(
            f"config key 'models.device': {name!r} is not a torch device ({error}); "
            f"devices here: {devices} (or auto)"
        ) from None
    if device.type == "cuda":
        count = len(available) - 1  # the GPUs
        if count == 0 or (device.index or 0) >= count:
            raise DeviceError(
                f"config key 'models.device': {name!r} asked for, but this machine has "
                f"{'no CUDA device' if count == 0 else f'{count} CUDA device(s)'}; devices "
                f"here: {devices}. Use auto (CUDA when present, else the CPU) or one of those."
            )
    elif device.type != "cpu":
        raise DeviceError(
            f"config key 'models.device': {name!r} is not supported; devices here: {devices}"
        )
    return device


def model_device(name: str) -> torch.device:
    """:func:`device_for` ``name``, prepared for the model rules' large batched activations.

    On the CPU, freed memory is kept for reuse
    (:func:`meiflow.models.network.keep_freed_memory`: glibc would unmap and re-fault large
    activations every step).

    Raises:
        DeviceError: see :func:`device_for`.
    """
    device = device_for(name)
    if device.type == "cpu":
        keep_freed_memory()
    return device


class BatchedAdam:
    """Adam over the tensors of a model chunk with one learning rate per model.

    Every tensor's first dimension holds the models' rows (see
    :func:`meiflow.models.network.model_rows`); a model whose learning rate is 0 is frozen exactly.
    """

    def __init__(
        self,
        params: list[torch.Tensor],
        n_models: int,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        """Adam state for ``params``, with learning rate ``lr`` for each of ``n_models`` models."""
        self.params = params
        self.n_models = n_models
        self.lr = torch.full((n_models,), float(lr), device=params[0].device)
        self.betas = betas
        self.eps = eps
        self.step_count = 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def zero_grad(self) -> None:
        """Drop the gradients of all tensors (set them to None)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update per model at its own learning rate; learning rate 0 freezes a model."""
        self.step_count += 1
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self.step_count
        correction2 = 1 - beta2**self.step_count
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            update = (m / correction1) / ((v / correction2).sqrt() + self.eps)
            step = model_rows(update, self.n_models) * self.lr[:, None]
            # lr 0 freezes a model exactly, even where its moments hold NaN (0 * NaN is NaN)
            model_rows(p, self.n_models).sub_(torch.where(self.lr[:, None] > 0, step, 0.0))


def poisson_loss(
    predicted: torch.Tensor, means: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Per-model Poisson negative log-likelihood (constants dropped), (n_models,).

    ``predicted`` and ``means`` are (n_images, n_models) predicted and observed mean counts;
    ``weights`` (n_images,) are the repeats of each image ("trials" loss: exactly the Poisson loss
    summed over every trial, divided by the number of trials) or ones ("means" loss); or
    (n_images, n_models), each model's own (the valid trials of its unit).
    """
    nll = predicted - means * torch.log(predicted + 1e-8)
    if weights.ndim == 2:
        return (weights * nll).sum(0) / weights.sum(0)
    return (weights[:, None] * nll).sum(0) / weights.sum()


def initial_bias(mean_response: torch.Tensor) -> torch.Tensor:
    """Bias b with ELU(b) + 1 = mean_response (the output of a model whose drive is 0).

    ``mean_response`` (n_models,) in spikes; m >= 1 gives b = m - 1, smaller m gives b = log(m)
    (m floored at 1e-3 spikes, where the output is flat anyway); a non-finite m gives b = 0.
    """
    m = mean_response.clamp_min(1e-3)
    bias = torch.where(m >= 1.0, m - 1.0, torch.log(m))
    return torch.where(torch.isfinite(bias), bias, 0.0)


def correlations(predicted: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Pearson r per column of two (n_images, n_models) tensors; NaN for constant columns."""
    p = predicted - predicted.mean(0)
    o = observed - observed.mean(0)
    return (p * o).sum(0) / torch.sqrt((p**2).sum(0) * (o**2).sum(0))


def predict(model: PerNeuronCNN, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Predictions (n_images, n_models) in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        return torch.cat(
            [model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )


def train_chunk(
    model: PerNeuronCNN,
    train_images: torch.Tensor,
    train_means: torch.Tensor,
    train_repeats: torch.Tensor,
    val_images: torch.Tensor,
    val_means: torch.Tensor,
    settings: TrainingSettings,
) -> TrainResult:
    """Train every model of the chunk with early stopping on its validation correlation.

    Each model's output bias starts where the output nonlinearity gives its unit's mean
    training response (:func:`initial_bias`), so no model starts far off in scale.

    A model whose training loss or parameters become NaN or infinite is stopped at once, put
    back to its best state so far, and its ``failure`` says when; the other models of the
    chunk train on as if it were not there (their losses and gradients never mix).

    Args:
        model: the chunk (its device is used for everything).
        train_images: (n_train, 1, H, W) in [0, 1].
        train_means: (n_train, n_models) mean spike count per image.
        train_repeats: (n_train,) trials per image, or (n_train, n_models) per model.
        val_images: the validation scenes, likewise (as ``train_images``).
        val_means: the validation scenes' mean counts, likewise (as ``train_means``).
        settings: see :class:`TrainingSettings`. Per model: when the validation correlation has not
            improved by ``tolerance`` for ``patience`` epochs, the best state is restored and the
            learning rate multiplied by ``lr_decay``; after ``max_decays`` decays the model stops
            (learning rate 0). The model ends at its best epoch's state.
    """
    n = model.n_models
    with torch.no_grad():
        model.bias.copy_(initial_bias(train_means.mean(0)).to(model.bias))
    tensors = dict(model_tensors(model))
    params = [p for _, p in model.named_parameters()]
    optimizer = BatchedAdam(params, n, settings.lr)
    weights = train_repeats.float() if settings.loss == "trials" else torch.ones_like(train_repeats)
    weights = weights.to(train_means.dtype)
    best_state = {name: t.detach().clone() for name, t in tensors.items()}
    best_corr = torch.full((n,), -np.inf)
    best_epoch = np.zeros(n, dtype=np.int64)
    stale = np.zeros(n, dtype=np.int64)
    decays = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    curves_loss = np.full((n, settings.max_epochs), np.nan)
    curves_corr = np.full((n, settings.max_epochs), np.nan)
    failure = np.full(n, "", dtype=object)
    order_rng = torch.Generator().manual_seed(settings.seed)

    def copy_rows(source: dict, target: dict, rows: np.ndarray) -> None:
        index = torch.as_tensor(np.flatnonzero(rows), device=train_images.device)
        with torch.no_grad():
            for name in tensors:
                model_rows(target[name], n)[index] = model_rows(source[name], n)[index]

    for epoch in range(settings.max_epochs):
        model.train()
        order = torch.randperm(len(train_images), generator=order_rng).to(train_images.device)
        total = torch.zeros(n, device=train_images.device)
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            loss = poisson_loss(model(train_images[batch]), train_means[batch], weights[batch])
            optimizer.zero_grad()
            (loss + model.regularizer()).sum().backward()
            optimizer.step()
            total += loss.detach() * len(batch)
        finite = torch.isfinite(total).cpu().numpy()
        for tensor in tensors.values():
            finite &= model_rows(tensor.detach(), n).isfinite().all(1).cpu().numpy()
        broken = active & ~finite
        if broken.any():
            copy_rows(best_state, tensors, broken)
            active &= ~broken
            optimizer.lr[torch.as_tensor(broken, device=optimizer.lr.device)] = 0.0
            failure[broken] = f"non-finite training loss or parameters at epoch {epoch}"
            log.warning("epoch %d: models %s stopped: non-finite", epoch, np.flatnonzero(broken))
        corr = correlations(predict(model, val_images), val_means).cpu()
        corr = torch.nan_to_num(corr, nan=-1.0)
        curves_loss[active, epoch] = (total.cpu() / len(order)).numpy()[active]
        curves_corr[active, epoch] = corr.numpy()[active]
        improved = active & (corr > best_corr + settings.tolerance).numpy()
        best_corr[improved] = corr[improved]
        best_epoch[improved] = epoch
        stale[improved] = 0
        stale[active & ~improved] += 1
        copy_rows(tensors, best_state, improved)
        plateau = active & (stale >= settings.patience)
        if plateau.any():
            copy_rows(best_state, tensors, plateau)  # restart from the best state ...
            decays[plateau] += 1
            stale[plateau] = 0
            stopped = plateau & (decays > settings.max_decays)
            active &= ~stopped
            factor = np.where(plateau & ~stopped, settings.lr_decay, 1.0)
            factor[~active] = 0.0
            optimizer.lr *= torch.as_tensor(
                factor, dtype=optimizer.lr.dtype, device=optimizer.lr.device
            )
        if epoch % 10 == 0 or not active.any():
            log.info(
                "epoch %d: %d of %d models training, median validation r %.3f",
                epoch,
                active.sum(),
                n,
                float(np.median(best_corr.numpy())),
            )
        if not active.any():
            break
    copy_rows(best_state, tensors, np.ones(n, dtype=bool))
    epochs = epoch + 1
    return TrainResult(
        model=model,
        train_loss=curves_loss[:, :epochs],
        validation_correlation=curves_corr[:, :epochs],
        best_epoch=best_epoch,
        best_validation_correlation=best_corr.numpy(),
        failure=failure.astype(str),
    )
