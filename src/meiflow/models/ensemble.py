"""Model ensembles: networks of the same units trained from different seeds, and their mean.

Walker et al. (2019) average the predictions of several networks per unit, trained from different
seeds; ``models.ensemble`` sets how many. A chunk's network holds members x units models
side by side, member-major: every unit of member 0, then every unit of member 1, ..., so model
``m * n_units + u`` is member m's network of unit u. :class:`Ensemble` is the one place where
such a network is split into its members and where anything is averaged over them. It averages
by two routes, each the arithmetic its callers have always used (results stay bitwise
reproducible):

- outputs of the whole member-major network, one column per model: :meth:`Ensemble.mean`
  (``values.reshape(..., n_members, n_units).mean(-2)``), for training, where the network is
  evaluated in one pass;
- each member network evaluated on its own (:attr:`Ensemble.members`), the results stacked on a
  new first dimension and averaged over it (``torch.stack(...).mean(0)``; ``np.mean(..., axis=0)``
  for the readout positions): :meth:`Ensemble.predict`, :meth:`Ensemble.response`,
  :meth:`Ensemble.readout_pixels`, for the MEIs, the Gabor search and the phase-invariance test.

The two routes agree to float rounding, not to the bit: a model's output can differ in the last
bit between the whole network and its member's network, and the two reductions can round
differently (seen with five members). A mean over one member is that member's value.
"""

from __future__ import annotations

from functools import cached_property
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from meiflow.models.network import PerNeuronCNN, model_response, select
from meiflow.models.training import predict
from meiflow.models.training_data import grid_to_pixel

__all__ = ["Ensemble"]

Values = TypeVar("Values", np.ndarray, Tensor)


class Ensemble:
    """The ``n_members`` members of a member-major network, and means over them.

    Args:
        network: a PerNeuronCNN of ``n_members * n_units`` models, member-major (every unit of
            member 0, then of member 1, ...), e.g. a chunk's checkpoint (see
            ``meiflow.models.chunks.load_chunk``).
        n_members: number of members (``models.ensemble``), an integer >= 1.

    Raises:
        ValueError: ``n_members`` is not an integer >= 1 or does not divide
            ``network.n_models``.

    Attributes:
        network: the member-major network itself (not copied).
        n_members: number of members.
        n_units: number of units, the models of each member.
    """

    def __init__(self, network: PerNeuronCNN, n_members: int) -> None:
        """Wrap ``network`` as ``n_members`` members (arguments: see the class docstring)."""
        if (
            isinstance(n_members, bool)
            or not isinstance(n_members, (int, np.integer))
            or n_members < 1
            or network.n_models % n_members
        ):
            raise ValueError(f"{network.n_models} models do not split into {n_members} members")
        self.network = network
        self.n_members = int(n_members)
        self.n_units = network.n_models // self.n_members

    @classmethod
    def from_members(cls, members: list) -> Ensemble:
        """An Ensemble of separate member networks, each of the same units in the same order.

        E.g. shared cores trained from different seeds.

        Args:
            members: networks with ``n_models`` (one per unit), ``height``, ``width``, paired
                input and point readouts (a PerNeuronCNN or a
                ``meiflow.models.shared_core.SharedCoreCNN``).

        Returns:
            The Ensemble; its ``network`` is None (:meth:`mean`, the member-major route, is for
            a chunk's training and is not available).

        Raises:
            ValueError: no member, or members of different unit counts or image sizes.
        """
        members = list(members)
        if not members or any(
            (m.n_models, m.height, m.width)
            != (members[0].n_models, members[0].height, members[0].width)
            for m in members
        ):
            raise ValueError("need at least one member, all of the same units and image size")
        ensemble = cls.__new__(cls)
        ensemble.network = None
        ensemble.n_members, ensemble.n_units = len(members), int(members[0].n_models)
        ensemble.__dict__["members"] = members  # the cached property, already known
        return ensemble

    def __repr__(self) -> str:
        """The member and unit counts, e.g. ``Ensemble(5 members x 32 units)``."""
        return f"Ensemble({self.n_members} members x {self.n_units} units)"

    @property
    def height(self) -> int:
        """Image height in pixels the networks take."""
        return (self.network if self.network is not None else self.members[0]).height

    @property
    def width(self) -> int:
        """Image width in pixels the networks take."""
        return (self.network if self.network is not None else self.members[0]).width

    @cached_property
    def members(self) -> list[PerNeuronCNN]:
        """The ``n_members`` member networks, each of ``n_units`` models.

        Member m holds models ``m * n_units`` to ``(m + 1) * n_units - 1`` of ``network``, so its
        model u is unit u.

        Copies (``meiflow.models.network.select``) made at the first access, on the network's
        device, in its mode (train or eval) and with its parameters frozen if all of the
        network's are (``requires_grad`` False); later changes to ``network`` do not reach them.
        """
        frozen = not any(p.requires_grad for p in self.network.parameters())
        n = self.n_units
        members = [select(self.network, range(m * n, (m + 1) * n)) for m in range(self.n_members)]
        return [m.requires_grad_(False) if frozen else m for m in members]

    def mean(self, values: Values) -> Values:
        """Members' mean of outputs of the member-major ``network`` (e.g. its predictions).

        Args:
            values: array or tensor (..., n_members * n_units), one column per model of
                ``network`` in its order (units of member 0, then of member 1, ...), in any units.

        Returns:
            (..., n_units) of the same type, dtype and units: the mean over members
            (``values.reshape(..., n_members, n_units).mean(-2)``).

        Raises:
            ValueError: the last dimension is not ``n_members * n_units``.
        """
        if self.network is None:
            raise ValueError(f"{self} has no member-major network (Ensemble.from_members)")
        if values.ndim < 1 or values.shape[-1] != self.network.n_models:
            raise ValueError(
                f"expected values (..., {self.network.n_models}) of {self}, "
                f"got {tuple(values.shape)}"
            )
        return values.reshape(*values.shape[:-1], self.n_members, -1).mean(-2)

    def predict(self, images: Tensor, batch_size: int = 64) -> Tensor:
        """Members' mean prediction for ``images``, each member network on its own.

        Args:
            images: (n_images, 1, H, W), every unit shown every image, or (n_images, n_units,
                H, W), paired: unit u shown images[:, u]; luminance in [0, 1], on the networks'
                device.
            batch_size: images per forward pass (``meiflow.models.training.predict``).

        Returns:
            (n_images, n_units) predicted spike counts: ``torch.stack`` of every member's
            ``predict`` (eval mode, no gradients; it leaves the members in eval mode), mean over
            the members.

        Raises:
            ValueError: images of another shape (from the networks' forward pass).
        """
        return torch.stack([predict(m, images, batch_size) for m in self.members]).mean(0)

    def response(self, images: Tensor) -> Tensor:
        """Members' mean paired response.

        The response function of MEI synthesis and of the Gabor search (pass the bound method
        ``ensemble.response``).

        Args:
            images: (n_units, n_init, H, W) luminance in [0, 1]; unit u sees images[u] only.

        Returns:
            (n_units, n_init) predicted spike counts: ``torch.stack`` of every member's
            ``meiflow.models.network.model_response``, mean over the members; differentiable
            in ``images``.

        Raises:
            ValueError: a member is in train mode, or images are not (n_units, n_init, H, W).
        """
        return self.member_responses(images).mean(0)

    def member_responses(self, images: Tensor) -> Tensor:
        """Every member's paired response (the terms of :meth:`response`'s mean).

        Args:
            images: (n_units, n_init, H, W) luminance in [0, 1]; unit u sees images[u] only.

        Returns:
            (n_members, n_units, n_init) predicted spike counts (each member's
            ``meiflow.models.network.model_response``); differentiable in ``images``.

        Raises:
            ValueError: a member is in train mode, or images are not (n_units, n_init, H, W).
        """
        return torch.stack([model_response(m)(images) for m in self.members])

    def readout_pixels(self) -> np.ndarray:
        """Each unit's readout position, mean over the members.

        Returns:
            (n_units, 2) float64 image pixel (col, row)
            (``meiflow.models.training_data.grid_to_pixel`` of each member's clamped position, then
            ``np.mean`` over the members).
        """
        return np.mean(
            [
                grid_to_pixel(
                    m.clamped_positions().detach().cpu().numpy(), m.height, m.width, m.settings.pool
                )
                for m in self.members
            ],
            axis=0,
        )
