"""The model stage's settings: split, architecture, training, chunks and ensembles.

Config section ``models``; plain frozen dataclasses, importable without torch, whose defaults
are ``config/config.yaml``'s (see :mod:`meiflow.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ArchitectureSettings", "ModelsSettings", "SplitSettings", "TrainingSettings"]


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
class ModelsSettings:
    """The per-neuron CNNs and the ridge baseline (config section ``models``).

    Attributes:
        device: ``auto`` (CUDA when available, else CPU) or a torch device (``cpu``, ``cuda:1``).
        chunk_size: selected units trained together as one batched network.
        ensemble: networks per unit, trained from different seeds (Walker et al. 2019);
            predictions and the MEI, Gabor and phase-scrambling objectives average them.
        split: the seeded split of the scenes into train, validation and test.
        architecture: core and readout of each network.
        training: the optimizer, early stopping and loss.
        linear_downsample: block-averaging factor of the pixels for the ridge baseline.
    """

    device: str = "auto"
    chunk_size: int = 8
    ensemble: int = 1
    split: SplitSettings = field(default_factory=SplitSettings)
    architecture: ArchitectureSettings = field(default_factory=ArchitectureSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    linear_downsample: int = 2
