"""A shared-core encoding model: one convolutional core for every unit of a recording.

The field's model of visual cortex (Klindt et al. 2017, "Neural system identification for large
populations separating what and where"; Lurz et al. 2021, "Generalization in data-driven models
of primary visual cortex"; the Sensorium benchmark, Willeke et al. 2022): a core learned from the
responses of all neurons together and a small readout per neuron. Here the core is the notebook's
conv stack (:class:`meiflow.models.network.NotebookCore`, one core instead of one per neuron)
and each unit's readout the per-neuron models' point readout on the Laplace pyramid of the core's
output (:class:`meiflow.models.network.PointReadout`): one learned position, positive feature
weights, a bias, output ELU + 1.

:class:`SharedCoreCNN` takes images (B, 1, H, W), every unit shown every image, or paired images
(B, n_units, H, W), unit u shown images[:, u] (one MEI per unit): the core then runs on each
unit's image and only that unit's readout reads it, so unit u's output and gradient depend on its
own image only. :func:`train_shared_core` fits it by the Poisson loss on the trial counts with
Adam, learning-rate decay on plateaus and early stopping on the mean validation correlation of
the units that matter (the selected ones: the others' readouts only help train the core).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from meiflow.io.runtime import recreate_advice
from meiflow.models.ensemble import Ensemble
from meiflow.models.network import (
    BATCHNORM_MOMENTUM,
    CheckpointError,
    NotebookCore,
    PointReadout,
    _initial_parameters,
    _pyramid_factors,
    laplace_penalty,
    read_checkpoint,
    settings_state,
    write_checkpoint,
)
from meiflow.models.settings import ArchitectureSettings, TrainingSettings
from meiflow.models.training import correlations, initial_bias, poisson_loss

__all__ = [
    "CoreMember",
    "SharedCoreCNN",
    "SharedCoreResult",
    "load_shared_core",
    "save_shared_core",
    "shared_core_ensemble",
    "shared_core_predict",
    "train_shared_core",
]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "meiflow.SharedCoreCNN"
CHECKPOINT_VERSION = 2  # 2: a list of cores (ensemble members, one group per scope)


#: Why a unit can be missing from the shared core, and what to do.
LEFT_OUT_ADVICE = (
    "left out of it: a scene without a valid presentation, see left_out_units of "
    "shared_core/scores.nc; or, with models.shared_core.scope 'area', an area without a valid "
    "unit, see coreless_areas; make their MEIs with meis.model: per_neuron"
)

#: The per-unit parameters (first dimension: unit); every other one belongs to the core.
READOUT_PARAMETERS = ("positions", "feature_weights", "bias")


class SharedCoreCNN(NotebookCore, PointReadout, nn.Module):
    """One notebook-style core and a point readout per unit (module docstring).

    Args:
        n_units: readouts (units).
        height, width: input image size in pixels (the forward pass checks it).
        settings: the core's and readouts' architecture (``channels`` of the one core).
        seed: the core's initial kernels depend on it only (Xavier normal, as a per-neuron
            model's); positions start at 0 (set them with :meth:`set_positions`), feature
            weights at 1 / (channels * layers), biases at 0.

    Attributes:
        conv_weights[l]: (channels, in, k, k); norms[l]: BatchNorm2d(channels).
        positions: (n_units, 2) readout positions (x, y) in [-1, 1] (grid_sample's convention).
        feature_weights: (n_units, (pyramid_levels + 1) * channels * layers), used as |w|.
        bias: (n_units,).
    """

    n_cores = 1

    def __init__(
        self, n_units: int, height: int, width: int, settings: ArchitectureSettings, seed: int
    ) -> None:
        """Build the network (arguments: see the class docstring)."""
        super().__init__()
        if n_units < 1:
            raise ValueError(f"need n_units >= 1, got {n_units}")
        if height // settings.pool < 1 or width // settings.pool < 1:
            raise ValueError(f"image {height}x{width} too small for pooling {settings.pool}")
        self.n_units, self.height, self.width = int(n_units), int(height), int(width)
        self.settings, self.seed = settings, int(seed)
        self.core_size = (height // settings.pool, width // settings.pool)
        self._factors = _pyramid_factors(self.core_size, settings)
        self._factor_cache: dict[tuple, list] = {}
        self.conv_weights = nn.ParameterList(
            [nn.Parameter(w) for w in _initial_parameters(seed, settings)["conv"]]
        )
        self.norms = nn.ModuleList(
            [
                nn.BatchNorm2d(settings.channels, momentum=BATCHNORM_MOMENTUM)
                for _ in range(settings.layers)
            ]
        )
        self.positions = nn.Parameter(torch.zeros(n_units, 2))
        self.feature_weights = nn.Parameter(
            torch.full((n_units, settings.readout_features), 1.0 / settings.features)
        )
        self.bias = nn.Parameter(torch.zeros(n_units))

    def forward(self, images: Tensor) -> Tensor:
        """Images in [0, 1] -> (B, n_units) positive predicted spike counts.

        ``images`` (B, 1, H, W): every unit sees every image; (B, n_units, H, W), paired: output
        [b, u] is unit u's response to images[b, u].

        Raises:
            ValueError: images of another shape.
        """
        batch, n = images.shape[0], self.n_units
        if (
            images.dim() != 4
            or images.shape[1] not in (1, n)
            or tuple(images.shape[2:]) != (self.height, self.width)
        ):
            raise ValueError(
                f"expected images (B, 1 or {n}, {self.height}, {self.width}), "
                f"got {tuple(images.shape)}"
            )
        paired = images.shape[1] == n and n > 1
        if paired:
            images = images.reshape(batch * n, 1, self.height, self.width)
        maps = self.effective_maps().split(self.settings.channels, dim=1)  # per layer
        drive = 0.0
        for output, layer_map in zip(self.core(images), maps, strict=True):
            if paired:  # unit u's readout reads the core's output for unit u's image only
                output = output.view(batch, n, *output.shape[1:])
                drive = drive + torch.einsum("bnchw,nchw->bn", output, layer_map)
            else:
                drive = drive + torch.einsum("bchw,nchw->bn", output, layer_map)
        return F.elu(drive + self.bias) + 1.0

    @property
    def n_models(self) -> int:
        """Units, one model each (the Ensemble's and ``model_response``'s count)."""
        return self.n_units

    @torch.no_grad()
    def subset(self, indices) -> SharedCoreCNN:
        """A new network with this core (copied) and the readouts ``indices``, in that order.

        Same device, dtype and mode; the parameters are frozen if all of this network's are.

        Raises:
            IndexError: an empty ``indices`` or one outside 0..n_units - 1.
        """
        indices = [int(i) for i in indices]
        if not indices or any(not 0 <= i < self.n_units for i in indices):
            raise IndexError(f"readout indices {indices} not in 0..{self.n_units - 1}")
        new = SharedCoreCNN(len(indices), self.height, self.width, self.settings, self.seed)
        new.to(device=self.positions.device, dtype=self.positions.dtype)
        index = torch.tensor(indices, device=self.positions.device)
        state = {
            name: value.index_select(0, index) if name in READOUT_PARAMETERS else value
            for name, value in self.state_dict().items()
        }
        new.load_state_dict(state)
        frozen = not any(p.requires_grad for p in self.parameters())
        return new.train(self.training).requires_grad_(not frozen)

    def regularizer(self) -> Tensor:
        """The penalty of the whole network, a scalar.

        gamma_laplace * Laplace L2 of the first-layer kernels + gamma_group * group sparsity of the
        hidden kernels + gamma_readout * L1 of all feature weights (the per-neuron models'
        penalty, see :mod:`meiflow.models.network`, of the one core and every readout).
        """
        s = self.settings
        penalty = s.gamma_laplace * laplace_penalty(self.conv_weights[0]).sum()
        for weight in self.conv_weights[1:]:
            penalty = penalty + s.gamma_group * torch.linalg.vector_norm(weight, dim=(2, 3)).sum()
        return penalty + s.gamma_readout * self.feature_weights.abs().sum()

    def extra_repr(self) -> str:
        """Dimensions and settings, shown in the module's ``repr``."""
        return (
            f"n_units={self.n_units}, height={self.height}, width={self.width}, "
            f"settings={self.settings}"
        )


@dataclass
class SharedCoreResult:
    """A trained shared core: the network at its best epoch and its training curves.

    Attributes:
        model: the network at the epoch of its best mean validation correlation.
        train_loss: (n_epochs,) mean Poisson loss per unit over the training images.
        validation_correlation: (n_epochs,) mean over the scored units.
        best_epoch: the epoch kept.
    """

    model: SharedCoreCNN
    train_loss: np.ndarray
    validation_correlation: np.ndarray
    best_epoch: int


def train_shared_core(
    model: SharedCoreCNN,
    images: Tensor,
    means: Tensor,
    repeats: Tensor,
    split: np.ndarray,
    scored: np.ndarray,
    settings: TrainingSettings,
) -> SharedCoreResult:
    """Fit ``model`` to every unit's responses at once (module docstring).

    Args:
        model: the network, its readout positions set (its device is used).
        images: (n_frames, 1, H, W) luminance in [0, 1].
        means: (n_frames, n_units) mean count per presentation of each frame.
        repeats: (n_frames,) or (n_frames, n_units) valid trials per frame: the weights of the
            "trials" loss (ones: the "means" loss, ``settings.loss``).
        split: (n_frames,) ``train``, ``validation`` or ``test`` of each frame.
        scored: (n_units,) bool, the units whose mean validation correlation stops the training
            (the others' readouts only help train the core).
        settings: epochs, batch size, learning rate and its decay, patience, tolerance, loss
            and the seed of the mini-batch order.

    Returns:
        :class:`SharedCoreResult`; ``model`` is left at its best state (its initial one if the
        mean validation correlation is never defined), in eval mode.

    Raises:
        ValueError: no scored unit, or a non-finite training loss (named with its epoch).
    """
    scored = np.asarray(scored, dtype=bool)
    if not scored.any():
        raise ValueError("train_shared_core needs at least one scored unit")
    device = model.positions.device
    train = torch.as_tensor(np.flatnonzero(split == "train"), device=device)
    validation = np.flatnonzero(split == "validation")
    weights = repeats.to(means)
    if settings.loss != "trials":  # "means": every image counts once
        weights = torch.ones_like(weights)
    with torch.no_grad():
        model.bias.copy_(initial_bias(means[train].mean(0)))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    generator = torch.Generator().manual_seed(settings.seed)
    best, best_epoch, waited, decays = -np.inf, 0, 0, 0
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    losses, curve = [], []
    for epoch in range(settings.max_epochs):
        model.train()
        order = train[torch.randperm(train.numel(), generator=generator).to(device)]
        total = 0.0
        for start in range(0, order.numel(), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            loss = poisson_loss(model(images[batch]), means[batch], weights[batch]).sum()
            optimizer.zero_grad()
            (loss + model.regularizer()).backward()
            optimizer.step()
            total += loss.item() * batch.numel()
        losses.append(total / train.numel() / model.n_units)
        if not np.isfinite(losses[-1]):
            raise ValueError(f"the shared core's training loss is not finite at epoch {epoch}")
        model.eval()
        with torch.no_grad():
            predicted = model(images[validation])
        r = correlations(predicted, means[validation])[torch.as_tensor(scored, device=device)]
        curve.append(float(r.nanmean()))  # NaN (every r undefined) never counts as a gain
        if np.isfinite(curve[-1]) and curve[-1] > best + settings.tolerance:
            best, best_epoch, waited = curve[-1], epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            continue
        waited += 1
        if waited >= settings.patience:  # plateau: back to the best state, smaller steps
            if decays >= settings.max_decays:
                break
            decays, waited = decays + 1, 0
            model.load_state_dict(best_state)
            for group in optimizer.param_groups:
                group["lr"] *= settings.lr_decay
    log.info(
        "shared core: %d epochs, best mean validation r %.3f at epoch %d",
        len(curve),
        best,
        best_epoch,
    )
    model.load_state_dict(best_state)
    model.eval()
    return SharedCoreResult(model, np.array(losses), np.array(curve), best_epoch)


@dataclass
class CoreMember:
    """One trained core and its readouts: one ensemble member of one scope group.

    Attributes:
        model: the network.
        units: (model.n_units,) unit ids, in readout order.
        group: ``session`` (scope ``session``) or the area whose units it holds (scope ``area``).
        member: the ensemble member, 0 .. ``models.ensemble`` - 1.
    """

    model: SharedCoreCNN
    units: np.ndarray
    group: str
    member: int


def save_shared_core(cores: list[CoreMember], path: str | os.PathLike) -> None:
    """Save the ``cores`` (networks, unit ids, groups, members) to ``path`` atomically.

    Raises:
        ValueError: no core, or a core whose unit ids do not match its readouts.
    """
    if not cores:
        raise ValueError("no shared core to save")
    entries = []
    for core in cores:
        model = core.model
        if len(core.units) != model.n_units:
            raise ValueError(f"{len(core.units)} unit ids for {model.n_units} readouts")
        entries.append(
            {
                "settings": settings_state(model.settings),
                "n_units": model.n_units,
                "height": model.height,
                "width": model.width,
                "seed": model.seed,
                "units": [int(u) for u in core.units],
                "group": str(core.group),
                "member": int(core.member),
                "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            }
        )
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "cores": entries}
    write_checkpoint(state, path)


def load_shared_core(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> list[CoreMember]:
    """The cores saved by :func:`save_shared_core`, networks in eval mode and frozen.

    Raises:
        FileNotFoundError: a missing file.
        CheckpointError: a truncated, corrupt or foreign file (or one of an older version), with
            how to make it again.
    """
    state = read_checkpoint(path, device, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)
    cores = []
    try:
        if not state["cores"]:
            raise ValueError("no core")
        for entry in state["cores"]:
            model = SharedCoreCNN(
                int(entry["n_units"]),
                int(entry["height"]),
                int(entry["width"]),
                ArchitectureSettings(**entry["settings"]),
                int(entry["seed"]),
            )
            model.load_state_dict(entry["state_dict"])
            model = model.to(device).eval().requires_grad_(False)
            units = np.array(entry["units"], dtype=np.int64)
            cores.append(CoreMember(model, units, str(entry["group"]), int(entry["member"])))
    except Exception as error:
        raise CheckpointError(
            f"shared-core checkpoint {path} does not hold valid networks "
            f"({type(error).__name__}: {error}); {recreate_advice(Path(path))}"
        ) from error
    return cores


def shared_core_ensemble(cores: list[CoreMember], units: np.ndarray) -> Ensemble:
    """The shared core's networks of ``units`` as an Ensemble (its members: the cores' members).

    Every member keeps its core and the readouts of ``units`` (:meth:`SharedCoreCNN.subset`), so
    the MEIs, the Gabor search and the phase-invariance test use it as they use a chunk's
    per-neuron networks.

    Args:
        cores: :func:`load_shared_core`'s list.
        units: (n,) unit ids, all of one group (a chunk's units: one area).

    Returns:
        :class:`~meiflow.models.ensemble.Ensemble` of the group's members, in member order, each
        holding ``units`` in order.

    Raises:
        ValueError: a unit no core holds (it was left out of the shared core: a scene without a
            valid presentation), or units of different groups; the unit ids are named.
    """
    units = np.asarray(units, dtype=np.int64)
    if units.size == 0:
        raise ValueError("shared_core_ensemble needs at least one unit")
    for group in dict.fromkeys(core.group for core in cores):
        members = sorted((c for c in cores if c.group == group), key=lambda c: c.member)
        held = np.isin(units, members[0].units)
        if held.all():
            index = {int(u): i for i, u in enumerate(members[0].units)}
            for core in members:
                if not np.array_equal(core.units, members[0].units):
                    raise ValueError(f"the members of shared core {group!r} hold other units")
            return Ensemble.from_members(
                [core.model.subset([index[int(u)] for u in units]) for core in members]
            )
        if held.any():
            raise ValueError(
                f"units {units[~held].tolist()} are not in the shared core {group!r} that holds "
                f"units {units[held].tolist()} ({LEFT_OUT_ADVICE})"
            )
    raise ValueError(f"no shared core holds units {units.tolist()} ({LEFT_OUT_ADVICE})")


def shared_core_predict(
    cores: list[CoreMember], images: Tensor, batch_size: int = 64
) -> tuple[np.ndarray, Tensor]:
    """Every unit's prediction of the cores: the mean over its group's members.

    Args:
        cores: :func:`load_shared_core`'s list (or ``fit_shared_core``'s).
        images: (n_images, 1, H, W) luminance in [0, 1], on the cores' device.
        batch_size: images per forward pass.

    Returns:
        The unit ids (n_units,), group after group, and (n_images, n_units) predicted spike
        counts (``Ensemble.predict`` of each group's members).
    """
    units, columns = [], []
    for group in dict.fromkeys(core.group for core in cores):
        members = sorted((c for c in cores if c.group == group), key=lambda c: c.member)
        ensemble = Ensemble.from_members([core.model for core in members])
        columns.append(ensemble.predict(images, batch_size))
        units.append(members[0].units)
    return np.concatenate(units), torch.cat(columns, dim=1)
