"""Per-neuron CNN encoding models, many of them run as one batched network.

Each neuron gets its own small CNN (the architecture of the notebook this project grew from, see
the project's science notes): a core of ``layers`` conv layers (layer 0: kernel
``first_kernel``, average pooling, BatchNorm, ELU; later layers: kernel ``hidden_kernel``,
BatchNorm, ELU; "same" padding, the outputs of all layers concatenated) and a point readout on a
Laplace pyramid of the core output (one learned position per neuron, positive feature weights,
a bias, output ELU + 1).

``PerNeuronCNN(n_models, ...)`` holds ``n_models`` such models side by side and evaluates them in
one pass: the first layer is a convolution with ``n_models * channels`` output channels (the same
as a grouped convolution of the image repeated to ``n_models`` channels, without the copies; the
convolution and the average pooling are done as one convolution of stride ``pool`` with the
kernel convolved with the pooling box, the same linear map without the full-resolution
intermediate), the hidden layers are grouped convolutions (``groups=n_models``), BatchNorm runs over
``n_models * channels`` channels (so the statistics of a channel are those of one model) and the
readout is batched over models (see ``PerNeuronCNN``'s ``readout`` argument). No model sees
another's parameters: model k of a chunk computes exactly what a network holding model k alone
computes, in train and in eval mode, and the gradient of model k's output or penalty is zero on
the other models' parameters.

The contract the training loop relies on: every parameter and every floating-point buffer has a
first dimension ``n_models * m`` with model k's values in rows ``k*m:(k+1)*m``, so
``model_rows(tensor, n_models)`` (``tensor.view(n_models, -1)``) has one row per model;
``model_tensors`` lists them all. ``select`` / ``combine`` split and join networks,
``checkpoint_state`` / ``save_checkpoint`` / ``load_checkpoint`` store and restore them.
``model_response`` shows each model its own images (the response function of MEI synthesis).

Choices made here (the notebook leaves them open):

- Positive feature weights: the readout uses ``|feature_weights|`` (abs). The gradient has the
  same magnitude as for an unconstrained weight (Adam-friendly, unlike softplus near zero), a
  weight can reach zero and the L1 penalty is simply ``sum |feature_weights|``.
- Pyramid blur: the binomial kernel of size ``gauss_size`` (a row of Pascal's triangle, the
  discrete Gaussian of variance (gauss_size - 1) / 4; 5 -> [1, 4, 6, 4, 1] / 16, the classic
  Burt-Adelson kernel, sigma 1, close to the 5x5 Gaussian of neuralpredictors' Laplace pyramid),
  applied separably with
  zero padding; ``gauss_size`` must be odd. Level l = G_l - 4 * conv_transpose(G_{l+1}),
  G_{l+1} = blur(G_l)[::2, ::2], then the low-pass residual G_L.
- Positions are clamped to [-1, 1] in the forward pass (not in place); outside, the gradient of a
  coordinate is zero.
- Laplace penalty: sum over the first-layer kernels of the squared 3x3 Laplacian
  ([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]) of the kernel with zero padding 1 ('same'), NOT
  normalized by the kernel's squared norm (normalizing makes the penalty scale-free but its
  gradient explodes for small kernels). With zero padding the kernel is treated as embedded in
  zeros, so a constant kernel c of size k is penalized by its borders: (4k + 8) c^2 for k >= 2
  and 16 c^2 for k = 1; the penalty is zero only for the zero kernel.
- Group sparsity: sum over all hidden layers and (out, in) channel pairs of the L2 norm of the
  kernel (``torch.linalg.vector_norm``, whose gradient at a zero kernel is 0, not NaN).
- Initialization per model from ``torch.Generator().manual_seed(seed)``: conv kernels Xavier
  normal, no conv bias (BatchNorm follows), BatchNorm weight 1 and bias 0, positions uniform
  in [-POSITION_INIT_RANGE, POSITION_INIT_RANGE] (the training loop usually sets them with
  ``set_positions``), feature weights 1 / (channels * layers), bias 0.
- CPU: large batched activations make glibc malloc page-fault every step; see
  ``keep_freed_memory``.
- BatchNorm momentum is BATCHNORM_MOMENTUM (not None), so ``num_batches_tracked`` is unused.
"""

from __future__ import annotations

import ctypes
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from meiflow.io.runtime import recreate_advice
from meiflow.models.settings import ArchitectureSettings

__all__ = [
    "CheckpointError",
    "PerNeuronCNN",
    "checkpoint_state",
    "combine",
    "keep_freed_memory",
    "laplace_penalty",
    "load_checkpoint",
    "model_response",
    "model_rows",
    "model_tensors",
    "read_checkpoint",
    "save_checkpoint",
    "select",
    "settings_state",
    "write_checkpoint",
]

POSITION_INIT_RANGE = 0.1
BATCHNORM_MOMENTUM = 0.1
CHECKPOINT_FORMAT = "meiflow.PerNeuronCNN"
CHECKPOINT_VERSION = 1
READOUTS = ("adjoint", "sample")

_LAPLACE_3X3 = ((0.0, -1.0, 0.0), (-1.0, 4.0, -1.0), (0.0, -1.0, 0.0))


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read or does not hold the network it should."""


# ----------------------------------------------------------------------------------------------
# Small functional pieces


def _same_padding(kernel: int) -> tuple[int, int]:
    """(before, after) zero padding that keeps the size under a stride-1 convolution."""
    before = (kernel - 1) // 2
    return before, kernel - 1 - before


def _conv_same(x: Tensor, weight: Tensor, groups: int = 1) -> Tensor:
    """Stride-1 convolution whose output has the input's size (asymmetric padding if even)."""
    k_h, k_w = weight.shape[-2:]
    (top, bottom), (left, right) = _same_padding(k_h), _same_padding(k_w)
    if top == bottom and left == right:
        return F.conv2d(x, weight, padding=(top, left), groups=groups)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, groups=groups)


def _first_layer(images: Tensor, weight: Tensor, pool: int, groups: int = 1) -> Tensor:
    """avg_pool2d(_conv_same(images, weight, groups), pool) as one convolution of stride ``pool``.

    The effective kernel (k + pool - 1 wide) is the full convolution of ``weight`` with the
    pool x pool box of value 1 / pool^2; the output has floor(size / pool) rows and columns like
    AvgPool2d.
    """
    if pool == 1:
        return _conv_same(images, weight, groups=groups)
    k_h, k_w = weight.shape[-2:]
    (top, bottom), (left, right) = _same_padding(k_h), _same_padding(k_w)
    box = torch.full((1, 1, pool, pool), 1.0 / pool**2, dtype=weight.dtype, device=weight.device)
    effective = F.conv2d(F.pad(weight, (pool - 1,) * 4), box)
    return F.conv2d(
        F.pad(images, (left, right, top, bottom)), effective, stride=pool, groups=groups
    )


def binomial_kernel(size: int) -> list[float]:
    """Row ``size - 1`` of Pascal's triangle, normalized to sum 1 (a discrete Gaussian)."""
    row = [math.comb(size - 1, i) for i in range(size)]
    return [value / sum(row) for value in row]


def laplace_penalty(kernels: Tensor) -> Tensor:
    """Squared 3x3 Laplacian of each kernel, zero padding 1: (n, c, k, k) -> (n, c) sums."""
    n, c, k_h, k_w = kernels.shape
    laplace = torch.tensor(_LAPLACE_3X3, dtype=kernels.dtype, device=kernels.device)
    filtered = F.conv2d(kernels.reshape(n * c, 1, k_h, k_w), laplace[None, None], padding=1)
    return filtered.pow(2).sum((1, 2, 3)).view(n, c)


class _Pyramid:
    """Separable binomial blur / stride-2 steps of the Laplace pyramid, on (M, C, h, w) maps.

    Not a module and holds no buffer (the network's buffers are all per model); the filters are
    made on the device and dtype of the input and cached.
    """

    def __init__(self, size: int) -> None:
        self.taps = binomial_kernel(size)
        self.pad = size // 2
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    def _filters(self, channels: int, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (channels, like.device, like.dtype)
        if key not in self._cache:
            taps = torch.tensor(self.taps, dtype=like.dtype, device=like.device)
            row = taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1).contiguous()
            col = taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1).contiguous()
            self._cache = {key: (row, col)}
        return self._cache[key]

    def down(self, x: Tensor) -> Tensor:
        """blur(x)[::2, ::2]: (M, C, h, w) -> (M, C, ceil(h / 2), ceil(w / 2))."""
        c = x.shape[1]
        row, col = self._filters(c, x)
        x = F.conv2d(x, row, stride=(1, 2), padding=(0, self.pad), groups=c)
        return F.conv2d(x, col, stride=(2, 1), padding=(self.pad, 0), groups=c)

    def up(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Transpose of ``down`` onto ``size`` (no factor 4): zero insertion, then blur."""
        c = x.shape[1]
        row, col = self._filters(c, x)
        h, w = size
        x = F.conv_transpose2d(
            x, col, stride=(2, 1), padding=(self.pad, 0), output_padding=((h + 1) % 2, 0), groups=c
        )
        return F.conv_transpose2d(
            x, row, stride=(1, 2), padding=(0, self.pad), output_padding=(0, (w + 1) % 2), groups=c
        )

    def levels(self, x: Tensor, n_levels: int) -> list[Tensor]:
        """Laplace pyramid: G_l - 4 up(G_{l+1}) for l < n_levels, then G_{n_levels}."""
        out = []
        for _ in range(n_levels):
            low = self.down(x)
            out.append(x - 4.0 * self.up(low, x.shape[-2:]))
            x = low
        out.append(x)
        return out


def pyramid_sizes(height: int, width: int, n_levels: int) -> list[tuple[int, int]]:
    """Map sizes of the pyramid levels and the residual of an (height, width) map."""
    sizes = [(height, width)]
    for _ in range(n_levels):
        height, width = (height + 1) // 2, (width + 1) // 2
        sizes.append((height, width))
    return sizes


def _down_matrix(size: int, taps: Sequence[float]) -> Tensor:
    """1-d blur (zero padding) + keep every second sample, as a matrix.

    The matrix is (ceil(size/2), size) float64; its transpose is ``_Pyramid.up`` along one axis.
    """
    matrix = torch.zeros((size + 1) // 2, size, dtype=torch.float64)
    pad = len(taps) // 2
    for i in range(matrix.shape[0]):
        for t, tap in enumerate(taps):
            if 0 <= 2 * i + t - pad < size:
                matrix[i, 2 * i + t - pad] = tap
    return matrix


def _pyramid_factors(size: tuple[int, int], s: ArchitectureSettings) -> list[list[Tensor | None]]:
    """Separable factors of the pyramid's sampling maps, one list per level (float64, CPU).

    Along one axis with D_j the down matrix of level j's length, P_l = D_{l-1} ... D_0 and t the
    bilinear weights on level l's grid, level l < L samples G_l - 4 up(down(G_l)), whose map on the
    core grid is (P_l^T t_y)(P_l^T t_x)^T - (P_l^T 2 D_l^T D_l t_y)(P_l^T 2 D_l^T D_l t_x)^T
    (4 = 2 x 2 per axis); the residual L samples G_L = P_L x: (P_L^T t_y)(P_L^T t_x)^T. Returns
    [rows_1, rows_2, cols_1, cols_2] per level, the matrices that t_y and t_x are multiplied with
    (rows_2 = cols_2 = None for the residual).
    """
    taps = binomial_kernel(s.gauss_size)
    axes = []
    for length in size:
        lengths = [length]
        for _ in range(s.pyramid_levels):
            lengths.append((lengths[-1] + 1) // 2)
        downs = [_down_matrix(n, taps) for n in lengths[:-1]]
        factors, back = [], torch.eye(length, dtype=torch.float64)  # back = P_l^T
        for level in range(s.pyramid_levels + 1):
            if level < s.pyramid_levels:
                band = back @ (2.0 * downs[level].T @ downs[level])
                factors.append((back, band))
                back = back @ downs[level].T
            else:
                factors.append((back, None))
        axes.append(factors)
    return [[r1, r2, c1, c2] for (r1, r2), (c1, c2) in zip(*axes, strict=True)]


def _tent(coordinate: Tensor, size: int) -> Tensor:
    """Bilinear (align_corners=True) weights of ``size`` pixels at normalized coordinates.

    coordinate (n,) in [-1, 1] -> (n, size); the pixel position is (coordinate + 1) / 2 * (size-1),
    as in F.grid_sample(align_corners=True).
    """
    pixel = (coordinate + 1.0) * (0.5 * (size - 1))
    grid = torch.arange(size, dtype=coordinate.dtype, device=coordinate.device)
    return torch.clamp(1.0 - (grid[None, :] - pixel[:, None]).abs(), min=0.0)


class _ModelDot(torch.autograd.Function):
    """out[b, n] = <x[b, n], m[n]> for x (B, N, K), m (N, K): one dot product per image and model.

    Same as torch.einsum("bnk,nk->bn", x, m) but without copying x to a model-major layout (the
    batched matrix products read it in place) and with the gradient of x written directly in
    x's layout; 1.3-4x faster on CPU for large x. The backward is made of differentiable
    operations, so second derivatives work too (gradgradcheck); torch.func transforms do not.
    """

    @staticmethod
    def forward(ctx, x: Tensor, m: Tensor) -> Tensor:
        ctx.save_for_backward(x, m)
        return torch.bmm(x.transpose(0, 1), m.unsqueeze(-1)).squeeze(-1).t()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, m = ctx.saved_tensors
        grad_x = grad_m = None
        if ctx.needs_input_grad[0]:
            grad_x = grad.unsqueeze(-1) * m
        if ctx.needs_input_grad[1]:
            grad_m = torch.bmm(grad.t().unsqueeze(1), x.transpose(0, 1)).squeeze(1)
        return grad_x, grad_m


# ----------------------------------------------------------------------------------------------
# The network


class NotebookCore:
    """The notebook's conv core (module docstring) of a network with ``n_cores`` cores side by side.

    Needs the attributes ``settings`` (ArchitectureSettings), ``conv_weights`` (layer l:
    (n_cores * channels, in, k, k)), ``norms`` and ``n_cores``.
    """

    def core(self, images: Tensor) -> list[Tensor]:
        """Outputs of the core layers, each (B, n_cores * channels, h, w), h, w = core_size.

        ``images`` (B, 1, H, W) are seen by every core; (B, n_cores, H, W) are paired: core k
        sees channel k only.
        """
        s, n = self.settings, self.n_cores
        # Layer 0: one convolution with n_cores * channels outputs on the single-channel image
        # is the grouped convolution of the image repeated to n_cores channels (paired images:
        # the grouped convolution itself); the 'same' convolution followed by AvgPool2d(pool) is
        # one stride-pool convolution with the kernel convolved with the pool's box (no
        # full-resolution intermediate, fewer operations).
        x = _first_layer(images, self.conv_weights[0], s.pool, groups=images.shape[1])
        x = F.elu(self.norms[0](x))
        outputs = [x]
        for layer in range(1, s.layers):
            x = _conv_same(x, self.conv_weights[layer], groups=n)
            x = F.elu(self.norms[layer](x))
            outputs.append(x)
        return outputs


class PointReadout:
    """A point readout on the Laplace pyramid of a core's output, one learned position per readout.

    Needs the attributes ``settings``, ``positions`` (n, 2), ``feature_weights`` (n,
    (pyramid_levels + 1) * channels * layers), ``_factors`` (:func:`_pyramid_factors` of the core
    size) and ``_factor_cache`` (a dict).
    """

    def clamped_positions(self) -> Tensor:
        """Positions limited to the feature map, [-1, 1] (differentiable, not in place)."""
        return self.positions.clamp(-1.0, 1.0)

    def readout_maps(self) -> Tensor:
        """Sampling maps of the pyramid levels at each readout's position: (n, levels + 1, h, w).

        ``<core map, maps[k, l]>`` equals level l of the core map's pyramid sampled at readout k's
        position (bilinear, align_corners=True): the bilinear weights on level l's grid pushed
        back through the transposed pyramid. Everything is separable: see ``_pyramid_factors``.
        """
        positions = self.clamped_positions()
        key = (positions.device, positions.dtype)
        if key not in self._factor_cache:
            self._factor_cache = {
                key: [
                    [None if m is None else m.to(device=key[0], dtype=key[1]) for m in level]
                    for level in self._factors
                ]
            }
        maps = []
        for rows_1, rows_2, cols_1, cols_2 in self._factor_cache[key]:
            t_y = _tent(positions[:, 1], rows_1.shape[1])
            t_x = _tent(positions[:, 0], cols_1.shape[1])
            level = (t_y @ rows_1.T)[:, :, None] * (t_x @ cols_1.T)[:, None, :]
            if rows_2 is not None:
                level = level - (t_y @ rows_2.T)[:, :, None] * (t_x @ cols_2.T)[:, None, :]
            maps.append(level)
        return torch.stack(maps, dim=1)

    def readout_weights(self) -> Tensor:
        """Positive feature weights |feature_weights|: (n, levels + 1, channels * layers)."""
        n = self.feature_weights.shape[0]
        return self.feature_weights.abs().view(n, self.settings.pyramid_levels + 1, -1)

    def effective_maps(self) -> Tensor:
        """Readout weight map of every readout on the core output: (n, F, h, w).

        sum_l |w[k, l, f]| * readout_maps()[k, l]: the drive of readout k is the dot product of
        this map with its core's output.
        """
        return torch.einsum("nlf,nlhw->nfhw", self.readout_weights(), self.readout_maps())

    @torch.no_grad()
    def set_positions(self, xy: Tensor) -> None:
        """Set the readout positions (n, 2) (x, y) in place, without gradient."""
        xy = torch.as_tensor(xy)
        n = self.positions.shape[0]
        if tuple(xy.shape) != (n, 2):
            raise ValueError(f"positions must be ({n}, 2), got {tuple(xy.shape)}")
        self.positions.copy_(xy.to(self.positions))


class PerNeuronCNN(NotebookCore, PointReadout, nn.Module):
    """``n_models`` independent per-neuron CNNs evaluated as one network.

    Args:
        n_models: number of models (neurons) side by side.
        height: input image height (the forward pass checks it).
        width: input image width (the forward pass checks it).
        settings: the architecture, shared by all models.
        seeds: one int per model; model k's initial parameters depend only on ``seeds[k]``.
        readout: "adjoint" (default) or "sample", two implementations of the same readout:
            "sample" builds the Laplace pyramid of every core feature map and samples each level
            with F.grid_sample(align_corners=True) over a (B * n_models, F, h_l, w_l) view at
            the model's position (one grid point per image and model), the reference;
            "adjoint" uses that pyramid + sampling is linear in the core output: it pushes the
            bilinear sampling weights of each model's position back through the (transposed)
            pyramid to one map per level and model, (n_models, levels + 1, h, w), combines them
            with the feature weights and takes one dot product with the core output per image and
            model. Same result to float rounding (tested), same gradients, far less memory and
            time (the pyramid runs on n_models maps instead of batch x n_models x features).

    Attributes (all tensors follow the per-model row contract, see ``model_rows``):
        conv_weights[l]: (n_models * channels, in_per_model, k, k); layer 0 has in = 1.
        norms[l]: BatchNorm2d over n_models * channels channels.
        positions: (n_models, 2) readout position (x = column, y = row; -1 = left / top) in
            grid_sample's normalized coordinates, align_corners=True.
        feature_weights: (n_models, (pyramid_levels + 1) * channels * layers), used as |w|;
            the features of one model are ordered (level, layer, channel).
        bias: (n_models,).
    """

    def __init__(
        self,
        n_models: int,
        height: int,
        width: int,
        settings: ArchitectureSettings,
        seeds: Sequence[int],
        readout: str = "adjoint",
    ) -> None:
        """Build the models side by side (arguments: see the class docstring)."""
        super().__init__()
        seeds = [int(seed) for seed in seeds]
        if n_models < 1 or len(seeds) != n_models:
            raise ValueError(f"need n_models >= 1 and one seed per model: {n_models}, {seeds}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if height // settings.pool < 1 or width // settings.pool < 1:
            raise ValueError(f"image {height}x{width} too small for pooling {settings.pool}")
        self.n_models = int(n_models)
        self.height = int(height)
        self.width = int(width)
        self.settings = settings
        self.seeds = seeds
        self.readout = readout
        self.core_size = (height // settings.pool, width // settings.pool)
        self._pyramid = _Pyramid(settings.gauss_size)
        self._factors = _pyramid_factors(self.core_size, settings)
        self._factor_cache: dict[tuple, list] = {}

        s = settings
        per_model = [_initial_parameters(seed, s) for seed in seeds]
        self.conv_weights = nn.ParameterList(
            [
                nn.Parameter(torch.cat([p["conv"][layer] for p in per_model]))
                for layer in range(s.layers)
            ]
        )
        self.norms = nn.ModuleList(
            [
                nn.BatchNorm2d(n_models * s.channels, momentum=BATCHNORM_MOMENTUM)
                for _ in range(s.layers)
            ]
        )
        self.positions = nn.Parameter(torch.stack([p["position"] for p in per_model]))
        self.feature_weights = nn.Parameter(
            torch.full((n_models, s.readout_features), 1.0 / s.features)
        )
        self.bias = nn.Parameter(torch.zeros(n_models))

    @property
    def n_cores(self) -> int:
        """One core per model."""
        return self.n_models

    def features(self, images: Tensor) -> Tensor:
        """Core output of every model: (B, n_models, channels * layers, h, w)."""
        batch = images.shape[0]
        h, w = self.core_size
        outputs = [x.view(batch, self.n_models, -1, h, w) for x in self.core(images)]
        return torch.cat(outputs, dim=2)

    def readout_sampled(self, features: Tensor) -> Tensor:
        """Readout features by pyramid + grid_sample: (B, n, F, h, w) -> (B, n, levels*F)."""
        batch, n, n_features, h, w = features.shape
        grid = self.clamped_positions().expand(batch, n, 2).reshape(batch * n, 1, 1, 2)
        levels = self._pyramid.levels(
            features.reshape(batch, n * n_features, h, w), self.settings.pyramid_levels
        )
        samples = [
            F.grid_sample(
                level.reshape(batch * n, n_features, *level.shape[-2:]),
                grid,
                mode="bilinear",
                padding_mode="zeros",
                align_corners=True,
            )
            for level in levels
        ]
        return torch.cat(samples, dim=1).view(batch, n, -1)

    def readout_drive(self, features: Tensor) -> Tensor:
        """Weighted readout before bias and ELU: (B, n_models, F, h, w) core output -> (B, n)."""
        batch, n = features.shape[:2]
        if self.readout == "sample":
            sampled = self.readout_sampled(features)
            return (sampled * self.readout_weights().view(1, n, -1)).sum(-1)
        return _ModelDot.apply(features.reshape(batch, n, -1), self.effective_maps().view(n, -1))

    def forward(self, images: Tensor) -> Tensor:
        """Images in [0, 1] -> (B, n_models) positive predicted spike counts.

        ``images`` is (B, 1, H, W), every image seen by every model, or (B, n_models, H, W),
        paired: output [b, k] is model k's response to images[b, k] (e.g. one MEI per model).
        """
        if (
            images.dim() != 4
            or images.shape[1] not in (1, self.n_models)
            or tuple(images.shape[2:]) != (self.height, self.width)
        ):
            raise ValueError(
                f"expected images (B, 1 or {self.n_models}, {self.height}, {self.width}), "
                f"got {tuple(images.shape)}"
            )
        if self.readout == "sample":
            drive = self.readout_drive(self.features(images))
        else:
            # one dot product per image, model and core layer with the effective weight maps
            # (no concatenated copy of the core output)
            batch, n = images.shape[0], self.n_models
            per_layer = self.effective_maps().split(self.settings.channels, dim=1)
            drive = 0.0
            for output, layer_map in zip(self.core(images), per_layer, strict=True):
                drive = drive + _ModelDot.apply(output.view(batch, n, -1), layer_map.reshape(n, -1))
        return F.elu(drive + self.bias) + 1.0

    # -- regularization --------------------------------------------------------------------

    def regularizer(self) -> Tensor:
        """Per-model penalty (n_models,), see the module docstring.

        gamma_laplace * Laplace L2 of the first-layer kernels + gamma_group * group sparsity of the
        hidden kernels + gamma_readout * L1 of the feature weights.
        """
        s, n = self.settings, self.n_models
        laplace = laplace_penalty(self.conv_weights[0]).view(n, -1).sum(1)
        penalty = s.gamma_laplace * laplace
        for weight in self.conv_weights[1:]:
            norms = torch.linalg.vector_norm(weight, dim=(2, 3))
            penalty = penalty + s.gamma_group * norms.view(n, -1).sum(1)
        return penalty + s.gamma_readout * self.feature_weights.abs().sum(1)

    def extra_repr(self) -> str:
        """Dimensions, readout and settings, shown in the module's ``repr``."""
        return (
            f"n_models={self.n_models}, height={self.height}, width={self.width}, "
            f"readout={self.readout!r}, settings={self.settings}"
        )


def _initial_parameters(seed: int, s: ArchitectureSettings) -> dict:
    """One model's initial conv kernels and position, from its own generator only."""
    generator = torch.Generator().manual_seed(seed)
    convs = []
    for layer in range(s.layers):
        k = s.first_kernel if layer == 0 else s.hidden_kernel
        in_channels = 1 if layer == 0 else s.channels
        std = math.sqrt(2.0 / ((in_channels + s.channels) * k * k))  # Xavier normal
        convs.append(torch.randn(s.channels, in_channels, k, k, generator=generator) * std)
    position = (torch.rand(2, generator=generator) * 2.0 - 1.0) * POSITION_INIT_RANGE
    return {"conv": convs, "position": position}


# ----------------------------------------------------------------------------------------------
# The per-model row contract


def model_rows(tensor: Tensor, n_models: int) -> Tensor:
    """``tensor.view(n_models, -1)``: row k holds model k's values (a view, shares storage)."""
    if tensor.dim() == 0 or tensor.shape[0] % n_models:
        raise ValueError(f"first dimension of {tuple(tensor.shape)} not a multiple of {n_models}")
    return tensor.view(n_models, -1)


def model_tensors(module: nn.Module) -> list[tuple[str, Tensor]]:
    """Every parameter and floating-point buffer, by name.

    Integer buffers such as BatchNorm's num_batches_tracked are left out; they are not per model
    and not used.
    """
    tensors = list(module.named_parameters())
    tensors += [(name, b) for name, b in module.named_buffers() if b.is_floating_point()]
    return tensors


def _like(model: PerNeuronCNN, n_models: int, seeds: Sequence[int]) -> PerNeuronCNN:
    """A new network with ``model``'s dimensions, settings, device, dtype and mode."""
    new = PerNeuronCNN(
        n_models, model.height, model.width, model.settings, seeds, readout=model.readout
    )
    new.to(device=model.positions.device, dtype=model.positions.dtype)
    return new.train(model.training)


@torch.no_grad()
def select(model: PerNeuronCNN, indices: Sequence[int]) -> PerNeuronCNN:
    """A new network holding models ``indices`` of ``model`` (parameters and buffers copied)."""
    indices = [int(i) for i in indices]
    if not indices or any(not 0 <= i < model.n_models for i in indices):
        raise IndexError(f"model indices {indices} not in 0..{model.n_models - 1}")
    new = _like(model, len(indices), [model.seeds[i] for i in indices])
    index = torch.tensor(indices, device=model.positions.device)
    targets = dict(model_tensors(new))
    for name, tensor in model_tensors(model):
        rows = model_rows(tensor, model.n_models).index_select(0, index)
        targets[name].copy_(rows.view_as(targets[name]))
    return new


@torch.no_grad()
def combine(models: Sequence[PerNeuronCNN]) -> PerNeuronCNN:
    """One network holding the models of ``models`` in order (the inverse of ``select``)."""
    models = list(models)
    if not models:
        raise ValueError("nothing to combine")
    first = models[0]
    for other in models[1:]:
        if (other.height, other.width, other.settings) != (
            first.height,
            first.width,
            first.settings,
        ):
            raise ValueError("can only combine networks of the same image size and settings")
    new = _like(first, sum(m.n_models for m in models), [s for m in models for s in m.seeds])
    sources = [dict(model_tensors(m)) for m in models]
    for name, target in model_tensors(new):
        rows = [model_rows(src[name], m.n_models) for src, m in zip(sources, models, strict=True)]
        target.copy_(torch.cat([r.to(target) for r in rows]).view_as(target))
    return new


def model_response(model: PerNeuronCNN) -> Callable[[Tensor], Tensor]:
    """Paired response of a PerNeuronCNN: images (n_models, n_init, H, W) -> (n_models, n_init).

    Model u sees images[u] only: ``model(images.transpose(0, 1)).transpose(0, 1)`` (predicted
    spike counts), the response function of MEI synthesis and of the Gabor search. The model
    must be in eval mode when called (in train mode BatchNorm would couple the images). Freezing
    its parameters (``model.requires_grad_(False)``) saves the autograd bookkeeping of the
    parameter-only computations (about 10 % of a step on CPU); the image gradient is the same.

    The returned function raises ValueError when the model is in train mode or the images are
    not (n_models, n_init, H, W).
    """

    def response(images: Tensor) -> Tensor:
        if model.training:
            raise ValueError("model_response needs the model in eval mode (call model.eval())")
        if images.dim() != 4 or images.shape[0] != model.n_models:
            raise ValueError(
                f"expected images ({model.n_models}, n_init, H, W), got {tuple(images.shape)}"
            )
        return model(images.transpose(0, 1)).transpose(0, 1)

    return response


# ----------------------------------------------------------------------------------------------
# CPU memory


def keep_freed_memory() -> bool:
    """Make glibc malloc keep and reuse freed memory for the rest of the process (CPU training).

    glibc serves blocks larger than 32 MiB with mmap and unmaps them on free, so every training
    step of a batched network (activations of hundreds of MB) page-faults all its memory in again;
    that doubled the step time of a 32-model chunk on CPU. This sets M_MMAP_MAX = 0 (large blocks
    from the heap) and M_TRIM_THRESHOLD = -1 (never give the heap back), like starting the process
    with the environment MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 (e.g. in the
    Snakemake rule). Process-wide and irreversible: the resident memory stays at its peak.
    Call it once at the start of a CPU training process; no effect on CUDA memory.

    Returns:
        Whether it was applied (False where the C library is not glibc).
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, -1))


# ----------------------------------------------------------------------------------------------
# Checkpoints


def settings_state(settings: ArchitectureSettings) -> dict:
    """``settings`` as plain Python numbers (numpy scalars would not load with weights_only)."""
    return {
        f.name: type(f.default)(getattr(settings, f.name)) for f in fields(ArchitectureSettings)
    }


def write_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """torch.save(state) to ``path`` atomically (temporary file + rename).

    A reader never sees the file half written.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def read_checkpoint(
    path: str | os.PathLike, device: str | torch.device, checkpoint_format: str, version: int
) -> dict:
    """The dict :func:`write_checkpoint` saved in ``path``, its tensors on ``device``.

    Raises:
        FileNotFoundError: a missing file.
        CheckpointError: a truncated or corrupt file, or one of another format or version; the
            message says how to make it again.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    advice = recreate_advice(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(error).__name__}: {error}); {advice}"
        ) from error
    if not isinstance(state, dict) or state.get("format") != checkpoint_format:
        raise CheckpointError(f"{path} is not a {checkpoint_format} checkpoint; {advice}")
    if state.get("version") != version:
        raise CheckpointError(
            f"checkpoint {path} has version {state.get('version')!r}, not {version}; {advice}"
        )
    return state


def checkpoint_state(model: PerNeuronCNN) -> dict:
    """Plain-type description + CPU state_dict of ``model``, for torch.save."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "settings": settings_state(model.settings),
        "n_models": model.n_models,
        "height": model.height,
        "width": model.width,
        "seeds": list(model.seeds),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }


def save_checkpoint(
    model: PerNeuronCNN, path: str | os.PathLike, extra: dict | None = None
) -> None:
    """torch.save(checkpoint_state(model)) to ``path`` atomically (temporary file + rename).

    Args:
        model: the network to save.
        path: the checkpoint file; a reader never sees it half written.
        extra: plain-type entries saved beside the state (e.g. the chunk's ``units``).
    """
    write_checkpoint({**checkpoint_state(model), **(extra or {})}, path)


def load_checkpoint(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    n_models: int | None = None,
    height: int | None = None,
    width: int | None = None,
    settings: ArchitectureSettings | None = None,
) -> PerNeuronCNN:
    """The network saved in ``path``, on ``device``, in eval mode.

    The keyword arguments, when given, are what the caller expects.

    Raises:
        CheckpointError: a checkpoint of other dimensions or settings, a truncated or corrupt
            file, one that is not a meiflow checkpoint or whose tensors do not fit its stored
            dimensions.
        FileNotFoundError: a missing file.
    """
    path = Path(path)
    advice = recreate_advice(path)
    state = read_checkpoint(path, device, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)
    try:
        stored = ArchitectureSettings(**state["settings"])
        model = PerNeuronCNN(
            int(state["n_models"]),
            int(state["height"]),
            int(state["width"]),
            stored,
            [int(seed) for seed in state["seeds"]],
        )
        model.to(device)
        model.load_state_dict(state["state_dict"], strict=True)
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {path} does not hold a valid network ({type(error).__name__}: {error});"
            f" {advice}"
        ) from error
    expected = {"n_models": n_models, "height": height, "width": width, "settings": settings}
    found = {
        "n_models": model.n_models,
        "height": model.height,
        "width": model.width,
        "settings": model.settings,
    }
    wrong = [
        f"{k} {found[k]} (expected {v})"
        for k, v in expected.items()
        if v is not None and v != found[k]
    ]
    if wrong:
        raise CheckpointError(
            f"checkpoint {path} holds a network of other dimensions: {', '.join(wrong)}; {advice}"
        )
    return model.eval()
