"""The model stage's settings: split, architecture, training, chunks, ensembles, model kinds.

Config section ``models``; plain frozen dataclasses, importable without torch, whose defaults
are ``config/config.yaml``'s (see :mod:`meiflow.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = [
    "MODEL_KINDS",
    "ArchitectureSettings",
    "ModelsSettings",
    "SharedCoreSettings",
    "SplitSettings",
    "TrainingSettings",
]

#: The encoding models a session can get (config ``models.kind``); ``linear`` is always fit.
MODEL_KINDS = ("per_neuron", "shared_core")

#: What one shared core is trained on (``models.shared_core.scope``).
SHARED_CORE_SCOPES = ("session", "area")


@dataclass(frozen=True)
class SplitSettings:
    """Shares of the scenes held out, and the split's seed (config key ``models.split``).

    Attributes:
        validation: share of the scenes for validation (early stopping, readout choice).
        test: share of the scenes for test (every score).
        seed: seed of the shuffle; the same split for every unit, chunk and area of a session.
    """

    validation: float = 0.1
    test: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class ArchitectureSettings:
    """Architecture and regularization of one per-neuron CNN (shared by all models of a net).

    The names of the notebook this project grew from and of neuralpredictors (Sinz lab;
    ``Stacked2dCore`` and the Laplace-pyramid point readout ``PointPyramid2d``) for the same
    settings: ``channels`` is ``hidden_channels``, ``layers`` is ``layers``, ``first_kernel`` is
    ``input_kern``, ``hidden_kernel`` is ``hidden_kern``, ``gamma_laplace`` is ``gamma_input``
    (Laplace smoothness of the first layer), ``gamma_group`` is ``gamma_hidden`` (group sparsity
    of the hidden layers), ``pyramid_levels`` is the readout's ``scale_n``, ``gauss_size`` 5 is
    its ``type="gauss5x5"``, ``gamma_readout`` is the readout's L1 weight. ``pool`` (average
    pooling after the first layer) is the notebook's own.
    """

    channels: int = 16  # per layer of the core (the notebook: 64)
    layers: int = 3
    first_kernel: int = 4
    hidden_kernel: int = 3
    pool: int = 2  # average pooling after the first layer (1 = none)
    pyramid_levels: int = 3  # Laplace pyramid: this many levels + the residual
    gauss_size: int = 5  # size of the pyramid's Gaussian kernel
    gamma_laplace: float = 0.01  # Laplace L2 of the first-layer kernels (notebook: 0.1)
    gamma_group: float = 0.01  # group sparsity of the hidden kernels (notebook: 0.1)
    gamma_readout: float = 0.0  # L1 of the readout feature weights

    def __post_init__(self) -> None:
        """Check the settings.

        Raises:
            ValueError: a size below 1, a negative ``pyramid_levels`` or gamma, or an even
                ``gauss_size``.
        """
        for name in ("channels", "layers", "first_kernel", "hidden_kernel", "pool", "gauss_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(
                    f"ArchitectureSettings.{name} must be >= 1, got {getattr(self, name)}"
                )
        if self.pyramid_levels < 0:
            raise ValueError(
                f"ArchitectureSettings.pyramid_levels must be >= 0: {self.pyramid_levels}"
            )
        if self.gauss_size % 2 == 0:
            raise ValueError(f"ArchitectureSettings.gauss_size must be odd, got {self.gauss_size}")
        for name in ("gamma_laplace", "gamma_group", "gamma_readout"):
            if not getattr(self, name) >= 0:
                raise ValueError(
                    f"ArchitectureSettings.{name} must be >= 0, got {getattr(self, name)}"
                )

    @property
    def features(self) -> int:
        """Core output channels of one model (all layers concatenated)."""
        return self.channels * self.layers

    @property
    def readout_features(self) -> int:
        """Readout feature weights of one model: core features x (pyramid levels + residual)."""
        return self.features * (self.pyramid_levels + 1)


@dataclass(frozen=True)
class TrainingSettings:
    """Optimization settings (``models.training`` in the config)."""

    max_epochs: int = 200
    batch_size: int = 16
    lr: float = 0.005
    lr_decay: float = 0.3
    max_decays: int = 3
    patience: int = 5
    tolerance: float = 1e-4
    loss: str = "trials"  # "trials": Poisson over trials; "means": Poisson over per-image means
    seed: int = 0


@dataclass(frozen=True)
class SharedCoreSettings:
    """The shared-core model (config section ``models.shared_core``).

    One core for all valid units of the session, a readout per unit
    (:mod:`meiflow.models.shared_core`); ``models.architecture`` gives everything but the core's
    ``channels`` and ``first_kernel``, set here, and ``models.training`` the optimizer and early
    stopping. Chosen on seed 0 by the mean validation correlation of the selected units (README,
    "Encoding models").

    Attributes:
        scope: ``session``: one core for every valid unit of the session; ``area``: one core per
            analysed area, for the valid units of that area.
        channels: channels per core layer.
        first_kernel: size of the first layer's kernels (px).
        seed: seed of the core's initial kernels and of the mini-batch order.
    """

    scope: str = "session"
    channels: int = 32
    first_kernel: int = 9
    seed: int = 0

    def __post_init__(self) -> None:
        """Check the settings.

        Raises:
            ValueError: a scope other than ``session`` and ``area``, or a size below 1.
        """
        if self.scope not in SHARED_CORE_SCOPES:
            raise ValueError(
                f"models.shared_core.scope must be 'session' (one core per session) or 'area' "
                f"(one core per analysed area), got {self.scope!r}"
            )
        for name in ("channels", "first_kernel"):
            if int(getattr(self, name)) < 1:
                raise ValueError(
                    f"models.shared_core.{name} must be >= 1, got {getattr(self, name)}"
                )


@dataclass(frozen=True)
class ModelsSettings:
    """The per-neuron CNNs, the shared core and the ridge baseline (config section ``models``).

    Attributes:
        device: ``auto`` (CUDA when available, else CPU) or a torch device (``cpu``, ``cuda:1``).
        chunk_size: selected units trained together as one batched network.
        ensemble: networks per unit, trained from different seeds (Walker et al. 2019);
            predictions and the MEI, Gabor and phase-scrambling objectives average them. The
            shared core is trained as many times (seeds ``shared_core.seed + m``).
        split: the seeded split of the scenes into train, validation and test.
        architecture: core and readout of each network.
        training: the optimizer, early stopping and loss.
        linear_downsample: block-averaging factor of the pixels for the ridge baseline.
        kind: the CNN encoding models to fit, a tuple of MODEL_KINDS (``per_neuron``: one
            network per selected unit, trained in chunks; ``shared_core``: one core for the
            session's units, or one per area).
        shared_core: the shared-core model's own settings.

    Raises:
        ValueError: an unknown or repeated kind, or a list without ``per_neuron`` (its
            readout candidates start the shared core's readouts, and its chunks are the MEI
            stage's jobs whichever model ``meis.model`` names).
    """

    device: str = "auto"
    chunk_size: int = 8
    ensemble: int = 1
    split: SplitSettings = field(default_factory=SplitSettings)
    architecture: ArchitectureSettings = field(default_factory=ArchitectureSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    linear_downsample: int = 2
    kind: tuple[str, ...] = ("per_neuron", "shared_core")
    shared_core: SharedCoreSettings = field(default_factory=SharedCoreSettings)

    def __post_init__(self) -> None:
        """Check ``kind`` (see the class docstring)."""
        kinds = tuple(self.kind)
        unknown = sorted(set(kinds) - set(MODEL_KINDS))
        if unknown or len(set(kinds)) != len(kinds) or "per_neuron" not in kinds:
            raise ValueError(
                f"models.kind must list per_neuron (the shared core's readouts start at its "
                f"readout candidates; its chunks are the MEI jobs) and optionally "
                f"shared_core, each once; got {list(kinds)}"
            )
        object.__setattr__(self, "kind", kinds)

    @property
    def shared_core_architecture(self) -> ArchitectureSettings:
        """``architecture`` with the shared core's ``channels`` and ``first_kernel``."""
        return replace(
            self.architecture,
            channels=self.shared_core.channels,
            first_kernel=self.shared_core.first_kernel,
        )
