"""Gabor controls of MEIs: the best Gabor of a model (in silico) and of the recorded responses.

In silico (:func:`best_gabors`), after Walker et al. 2019's control (see the project's science
notes): every candidate Gabor is matched to the MEI's mean and pixel std (:func:`match_mean_std`),
a grid of candidates (:class:`GaborGrid`) is evaluated in batches, the ``top_k`` per unit are
refined by gradient ascent on the continuous parameters through the differentiable renderer
(:func:`render_gabor`, the formula of :func:`meiflow.stimuli.gabor.gabor`), and the better of the
grid's best and the refined best is kept.

Recorded (:func:`recorded_best_gabor`): the average of the static frames of the Allen 'gabors'
conditions with the highest mean spike counts.

Units: positions, sizes and orientations in visual-field degrees (y up, orientation 0 = vertical
bars, clockwise, see :mod:`meiflow.stimuli.gabor`), phases in radians, images in [0, 1]. Parameters
are stacked along a last axis of length 6 in the order of ``PARAMETERS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from meiflow.mei.synthesis import ResponseFunction
from meiflow.stimuli.gabor import allen_gabor_stimulus, gabor_formula
from meiflow.stimuli.geometry import ScreenGeometry

__all__ = [
    "PARAMETERS",
    "BestGabors",
    "GaborGrid",
    "best_gabors",
    "canonical_parameters",
    "match_mean_std",
    "recorded_best_gabor",
    "render_gabor",
]

#: Order of the Gabor parameters along the last axis of a parameter tensor.
PARAMETERS = ("center_x_deg", "center_y_deg", "orientation_deg", "sf_cpd", "phase_rad", "sigma_deg")

#: Height of the images of Walker et al.'s grid (36 x 64 pixels).
WALKER_HEIGHT, WALKER_WIDTH = 36, 64


@dataclass(frozen=True)
class GaborGrid:
    """The coarse grid of candidate Gabors, in pixels of the searched images.

    Candidates are all combinations of phase, wavelength, orientation, sigma and position; the
    positions are the centres of the cells of an ``n_y`` x ``n_x`` tiling of the image (or of a
    window of it, see :func:`best_gabors`).

    Attributes:
        phases: carrier phases in rad.
        wavelengths_px: carrier wavelengths in pixels (> 0).
        orientations: orientations in deg (0 = vertical bars, clockwise).
        sigmas_px: envelope standard deviations in pixels (> 0).
        n_y: number of positions along y (rows).
        n_x: number of positions along x (columns).
    """

    phases: tuple[float, ...]
    wavelengths_px: tuple[float, ...]
    orientations: tuple[float, ...]
    sigmas_px: tuple[float, ...]
    n_y: int
    n_x: int

    def __post_init__(self) -> None:
        """Check the grid.

        Raises:
            ValueError: a list of values that is empty or not finite, a wavelength or sigma that is
                not > 0, or n_y or n_x below 1.
        """
        for name in ("phases", "wavelengths_px", "orientations", "sigmas_px"):
            values = getattr(self, name)
            if len(values) == 0 or not np.all(np.isfinite(values)):
                raise ValueError(f"GaborGrid.{name} must be finite and non-empty: {values}")
        if min(self.wavelengths_px) <= 0 or min(self.sigmas_px) <= 0:
            raise ValueError("GaborGrid wavelengths and sigmas must be > 0")
        if self.n_y < 1 or self.n_x < 1:
            raise ValueError(f"GaborGrid needs n_y, n_x >= 1: {self.n_y}, {self.n_x}")

    @classmethod
    def walker(cls, height: int, width: int) -> GaborGrid:
        """Walker et al.'s grid for images of height x width pixels.

        Theirs, on 36 x 64 images: 4 phases x 5 wavelengths (4, 7, 10, 15, 20 px) x
        8 orientations x 5 sigmas (2, 3, 5, 7, 9 px) x 7 y x 13 x positions (72,800 Gabors).
        Wavelengths and sigmas are scaled by height / 36; 7 positions along y and
        round(13 * width / (64 * height / 36)) along x, Walker's spacing in scaled pixels
        (13 at 36 x 64, 12 at 60 x 96: 67,200 Gabors).
        """
        scale = height / WALKER_HEIGHT
        return cls(
            phases=tuple(0.5 * math.pi * i for i in range(4)),
            wavelengths_px=tuple(scale * w for w in (4, 7, 10, 15, 20)),
            orientations=tuple(22.5 * i for i in range(8)),
            sigmas_px=tuple(scale * s for s in (2, 3, 5, 7, 9)),
            n_y=7,
            n_x=max(1, round(13 * width / (WALKER_WIDTH * scale))),
        )

    @property
    def n_shapes(self) -> int:
        """Number of (phase, wavelength, orientation, sigma) combinations."""
        return (
            len(self.phases)
            * len(self.wavelengths_px)
            * len(self.orientations)
            * len(self.sigmas_px)
        )


@dataclass(frozen=True)
class BestGabors:
    """Result of :func:`best_gabors`, tensors on the device of the MEI statistics.

    Attributes:
        parameters: (n_units, 6) the best Gabor, ``PARAMETERS`` order; orientation in [0, 180),
            phase in [0, 2 pi) (see :func:`canonical_parameters`).
        images: (n_units, H, W) its image in [0, 1], matched to the MEI's mean and std.
        response: (n_units,) the response to ``images``.
        grid_response: (n_units,) the response to the best image of the grid, evaluated in the
            same call as ``response`` (``response >= grid_response``).
    """

    parameters: Tensor
    images: Tensor
    response: Tensor
    grid_response: Tensor


def render_gabor(x_deg: Tensor, y_deg: Tensor, parameters: Tensor) -> Tensor:
    """Differentiable Gabor patches, the formula of :func:`meiflow.stimuli.gabor.gabor` in torch.

    On a pixel grid whose x varies along columns only and y along rows only (the screen's,
    :meth:`~meiflow.stimuli.geometry.ScreenGeometry.pixel_grid`) the patch is rendered as a sum
    of two outer products: the envelope is separable and cos(A(x) + B(y)) = cos A cos B -
    sin A sin B, so a patch costs O(H + W) transcendental functions and 2 H W multiply-adds
    instead of about 15 operations per pixel; equal to the formula to float rounding.

    Args:
        x_deg: (H, W) pixel x positions in deg (ScreenGeometry.pixel_grid as tensors).
        y_deg: (H, W) pixel y positions in deg (ScreenGeometry.pixel_grid as tensors).
        parameters: P + (6,) in ``PARAMETERS`` order.

    Returns:
        P + (H, W) patches, peak value 1, dtype and device of the inputs.
    """
    columns, rows = x_deg[0], y_deg[:, 0]
    if not (
        torch.equal(x_deg, columns.expand_as(x_deg))
        and torch.equal(y_deg, rows[:, None].expand_as(y_deg))
    ):
        return gabor_formula(
            torch, x_deg, y_deg, *(p[..., None, None] for p in parameters.unbind(-1))
        )
    cx, cy, orientation, sf, phase, sigma = (p[..., None] for p in parameters.unbind(-1))
    dx, dy = columns - cx, rows - cy  # P + (W,), P + (H,)
    theta = torch.deg2rad(orientation)
    along_x = 2 * math.pi * sf * torch.cos(theta) * dx
    along_y = phase - 2 * math.pi * sf * torch.sin(theta) * dy
    envelope_x = torch.exp(-(dx**2) / (2 * sigma**2))
    envelope_y = torch.exp(-(dy**2) / (2 * sigma**2))
    left = torch.stack((envelope_y * torch.cos(along_y), -envelope_y * torch.sin(along_y)), -1)
    right = torch.stack((envelope_x * torch.cos(along_x), envelope_x * torch.sin(along_x)), -2)
    return left @ right


def match_mean_std(patches: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Images with the pixel mean and std of the MEIs: clip(mean + std * z, 0, 1).

    z = (g - mean(g)) / std(g) over the pixels of each patch g (population std; a constant patch
    gives z = 0). The clip to the image range [0, 1] comes after the matching, so an image whose
    z reaches beyond (1 - mean) / std or -mean / std (small envelopes concentrate the patch on few
    pixels: large |z|) has a lower std (and a shifted mean) than the MEI.

    Args:
        patches: (n_units, n, H, W).
        mean: (n_units,) target mean per unit.
        std: (n_units,) target pixel std per unit.

    Returns:
        (n_units, n, H, W) in [0, 1].
    """
    centred = patches - patches.mean(dim=(-2, -1), keepdim=True)
    spread = centred.square().mean(dim=(-2, -1), keepdim=True).sqrt()
    z = centred / spread.clamp_min(torch.finfo(patches.dtype).tiny)
    return (mean[:, None, None, None] + std[:, None, None, None] * z).clamp(0.0, 1.0)


def canonical_parameters(parameters: Tensor) -> Tensor:
    """The same Gabors with orientation in [0, 180) deg and phase in [0, 2 pi).

    Turning the orientation by 180 deg flips the carrier's axis u -> -u, the same as negating the
    phase, so (theta + 180 n, phi) renders as (theta, (-1)^n phi).

    Args:
        parameters: P + (6,).
    """
    cx, cy, orientation, sf, phase, sigma = parameters.unbind(-1)
    turns = torch.floor(orientation / 180.0)
    orientation = orientation - 180.0 * turns
    phase = torch.remainder(torch.where(torch.remainder(turns, 2) == 1, -phase, phase), 2 * math.pi)
    return torch.stack((cx, cy, orientation, sf, phase, sigma), dim=-1)


def _grid_positions(
    grid: GaborGrid,
    geometry: ScreenGeometry,
    height: int,
    width: int,
    centers_deg: ArrayLike | None,
    window: tuple[int, int] | None,
    n_units: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(n_units, m_y) y and (n_units, m_x) x positions in deg of each unit's grid positions.

    Without a window every unit gets the n_y x n_x cell centres of the image; with one, the
    window[0] x window[1] block of them nearest to the unit's centre, shifted to stay inside the
    grid (a centre near the border gets the block at that border).
    """
    rows = (np.arange(grid.n_y) + 0.5) * height / grid.n_y - 0.5
    cols = (np.arange(grid.n_x) + 0.5) * width / grid.n_x - 0.5
    x_deg, y_deg = geometry.pixel_to_deg(cols, rows, height, width)
    if window is None:
        return np.tile(y_deg, (n_units, 1)), np.tile(x_deg, (n_units, 1))
    centers = np.asarray(centers_deg, dtype=float)
    col, row = geometry.deg_to_pixel(centers[:, 0], centers[:, 1], height, width)
    blocks = []
    for center, size, n, extent in (
        (row, window[0], grid.n_y, height),
        (col, window[1], grid.n_x, width),
    ):
        index = (center + 0.5) * n / extent - 0.5  # continuous index of the grid position
        start = np.clip(np.round(index - (size - 1) / 2), 0, n - size).astype(int)
        blocks.append(start[:, None] + np.arange(size))
    return y_deg[blocks[0]], x_deg[blocks[1]]


def _grid_parameters(index: Tensor, shapes: Tensor, y_deg: Tensor, x_deg: Tensor) -> Tensor:
    """(n_units, b, 6) parameters of the candidates ``index`` (n_units, b).

    Candidate c of a unit is shape c // (m_y m_x) (a row of ``shapes``: (phase, sf, orientation,
    sigma) as (n_shapes, 4)) at y position (c // m_x) % m_y and x position c % m_x.
    """
    m_y, m_x = y_deg.shape[1], x_deg.shape[1]
    shape = shapes[torch.div(index, m_y * m_x, rounding_mode="floor")]
    cy = y_deg.gather(1, torch.div(index, m_x, rounding_mode="floor") % m_y)
    cx = x_deg.gather(1, index % m_x)
    phase, sf, orientation, sigma = shape.unbind(-1)
    return torch.stack((cx, cy, orientation, sf, phase, sigma), dim=-1)


def _evaluate(
    response: ResponseFunction,
    parameters: Tensor,
    mean: Tensor,
    std: Tensor,
    pixels: tuple[Tensor, Tensor],
) -> Tensor:
    """(n_units, n) responses to the matched images of ``parameters`` (n_units, n, 6)."""
    images = match_mean_std(render_gabor(*pixels, parameters), mean, std)
    values = response(images)
    if tuple(values.shape) != tuple(parameters.shape[:2]):
        raise ValueError(
            f"response returned {tuple(values.shape)} for images {tuple(images.shape)}, "
            f"expected {tuple(parameters.shape[:2])}"
        )
    return values


def _refine(
    response: ResponseFunction,
    start: Tensor,
    mean: Tensor,
    std: Tensor,
    pixels: tuple[Tensor, Tensor],
    geometry: ScreenGeometry,
    steps: int,
    rates: tuple[float, float, float, float],
) -> tuple[Tensor, Tensor]:
    """Gradient ascent (Adam) from ``start`` (n_units, k, 6); best parameters and responses seen.

    Free variables: centre (deg, projected onto the screen after each step), orientation (deg)
    and phase (rad), both periodic and left unbounded, log wavelength and log sigma (log deg),
    with Adam learning rates ``rates`` = (position deg, orientation deg, phase rad, log scale).
    Every iterate (the start included) is evaluated; returns the best (n_units, k, 6) and its
    (n_units, k) response.
    """
    cx, cy, orientation, sf, phase, sigma = start.unbind(-1)
    center = torch.stack((cx, cy), dim=-1).requires_grad_()
    orientation = orientation.clone().requires_grad_()
    phase = phase.clone().requires_grad_()
    log_wavelength = (-sf.log()).requires_grad_()
    log_sigma = sigma.log().requires_grad_()
    variables = [center, orientation, phase, log_wavelength, log_sigma]
    rate_of = (rates[0], rates[1], rates[2], rates[3], rates[3])
    optimizer = torch.optim.Adam(
        [{"params": [v], "lr": lr} for v, lr in zip(variables, rate_of, strict=True)]
    )
    bound = torch.tensor([geometry.width_deg / 2, geometry.height_deg / 2]).to(center)
    best, best_value = start, torch.full(start.shape[:2], -math.inf).to(start)
    for step in range(steps + 1):
        parameters = torch.stack(
            (*center.unbind(-1), orientation, (-log_wavelength).exp(), phase, log_sigma.exp()),
            dim=-1,
        )
        value = _evaluate(response, parameters, mean, std, pixels)
        better = value.detach() > best_value
        best = torch.where(better[..., None], parameters.detach(), best)
        best_value = torch.where(better, value.detach(), best_value)
        if step == steps:
            break
        gradients = torch.autograd.grad(value.sum(), variables)
        for variable, gradient in zip(variables, gradients, strict=True):
            variable.grad = -gradient
        optimizer.step()
        with torch.no_grad():
            center.copy_(torch.maximum(torch.minimum(center, bound), -bound))
    return best, best_value


def best_gabors(
    response: ResponseFunction,
    n_units: int,
    mean: Tensor,
    std: Tensor,
    height: int,
    width: int,
    geometry: ScreenGeometry,
    grid: GaborGrid,
    *,
    top_k: int = 8,
    batch_size: int = 512,
    refine_steps: int = 100,
    lr_position_deg: float = 0.5,
    lr_orientation_deg: float = 2.0,
    lr_phase_rad: float = 0.1,
    lr_log_scale: float = 0.05,
    centers_deg: ArrayLike | None = None,
    window: tuple[int, int] | None = None,
) -> BestGabors:
    """The Gabor image of highest predicted response per unit, matched to the MEI's statistics.

    1. Grid: every candidate of ``grid`` (pixel wavelengths and sigmas converted to deg with the
       mean of the two pixels-per-degree of the geometry, since pixels are not square in deg:
       the patches are round in deg and so slightly elliptic in pixels), rendered with
       :func:`render_gabor`, matched with :func:`match_mean_std` and passed to ``response``,
       ``batch_size`` candidates per unit and call (memory about 10 * n_units * batch_size *
       H * W * itemsize bytes); the ``top_k`` per unit are kept.
    2. Refinement: ``refine_steps`` Adam steps from each of them on the continuous parameters
       (see ``_refine``; learning rates in natural units: deg, deg, rad, and the relative change
       of wavelength and sigma), keeping the best iterate of each.
    3. The grid's best and the refined best are evaluated together and the better one is kept.

    No Python loop over units or candidates: units and candidates are batch dimensions.

    Args:
        response: images (n_units, n, H, W) -> (n_units, n), unit u's model on images[u] only
            (e.g. :func:`meiflow.models.network.model_response`, the model in eval mode); must be
            differentiable for the refinement.
        n_units: number of units.
        mean: (n_units,) the MEI's mean per unit; its dtype and device are those of the search.
        std: (n_units,) the MEI's pixel std per unit; its dtype and device are those of the
            search.
        height: image height in pixels.
        width: image width in pixels.
        geometry: the visual field of the images.
        grid: the candidate grid, e.g. ``GaborGrid.walker(height, width)``.
        top_k: candidates of the grid refined per unit.
        batch_size: candidates per unit in one call of ``response`` during the grid search.
        refine_steps: Adam steps (0: the grid's best).
        lr_position_deg: Adam learning rate of the centre (deg).
        lr_orientation_deg: Adam learning rate of the orientation (deg).
        lr_phase_rad: Adam learning rate of the phase (rad).
        lr_log_scale: Adam learning rate of log wavelength and log sigma (the relative change of
            wavelength and sigma).
        centers_deg: (n_units, 2) (x, y) deg per unit, e.g. the MEI's mask centre; with
            ``window`` restricts the grid positions of unit u to the window[0] x window[1] grid
            positions nearest to centers_deg[u] (see ``_grid_positions``); the refinement may
            leave the window.
        window: (rows, columns) of grid positions per unit, at most (grid.n_y, grid.n_x).

    Returns:
        :class:`BestGabors`.
    """
    if mean.shape != (n_units,) or std.shape != (n_units,):
        raise ValueError(f"mean and std must be ({n_units},): {mean.shape}, {std.shape}")
    if (centers_deg is None) != (window is None):
        raise ValueError("centers_deg and window go together")
    if window is not None:
        if np.shape(centers_deg) != (n_units, 2):
            raise ValueError(f"centers_deg must be ({n_units}, 2), got {np.shape(centers_deg)}")
        if not (1 <= window[0] <= grid.n_y and 1 <= window[1] <= grid.n_x):
            raise ValueError(f"window {window} must lie within 1..({grid.n_y}, {grid.n_x})")
    y_deg, x_deg = (
        torch.as_tensor(p).to(mean)
        for p in _grid_positions(grid, geometry, height, width, centers_deg, window, n_units)
    )
    n_candidates = grid.n_shapes * y_deg.shape[1] * x_deg.shape[1]
    if not 1 <= top_k <= n_candidates or batch_size < 1 or refine_steps < 0:
        raise ValueError(
            f"need 1 <= top_k <= {n_candidates}, batch_size >= 1, refine_steps >= 0: "
            f"{top_k}, {batch_size}, {refine_steps}"
        )
    ppd = float(np.mean(geometry.pixels_per_degree(height, width)))
    shapes = torch.cartesian_prod(
        *(
            torch.as_tensor(values, dtype=torch.float64)
            for values in (
                grid.phases,
                [ppd / w for w in grid.wavelengths_px],
                grid.orientations,
                [s / ppd for s in grid.sigmas_px],
            )
        )
    ).to(mean)
    pixels = tuple(torch.as_tensor(p).to(mean) for p in geometry.pixel_grid(height, width))

    top_value = torch.empty(n_units, 0).to(mean)
    top_index = torch.empty(n_units, 0, dtype=torch.long, device=mean.device)
    with torch.no_grad():
        for first in range(0, n_candidates, batch_size):
            index = torch.arange(first, min(first + batch_size, n_candidates), device=mean.device)
            index = index.expand(n_units, -1)
            value = _evaluate(
                response, _grid_parameters(index, shapes, y_deg, x_deg), mean, std, pixels
            )
            top_value, order = torch.cat((top_value, value), 1).topk(
                min(top_k, top_value.shape[1] + value.shape[1]), dim=1
            )
            top_index = torch.cat((top_index, index), 1).gather(1, order)
    start = _grid_parameters(top_index, shapes, y_deg, x_deg)
    rates = (lr_position_deg, lr_orientation_deg, lr_phase_rad, lr_log_scale)
    refined, refined_value = _refine(
        response, start, mean, std, pixels, geometry, refine_steps, rates
    )
    units = torch.arange(n_units, device=mean.device)
    finalists = canonical_parameters(
        torch.stack((start[:, 0], refined[units, refined_value.argmax(1)]), dim=1)
    )
    with torch.no_grad():
        images = match_mean_std(render_gabor(*pixels, finalists), mean, std)
        value = response(images)
    choice = value.argmax(1)  # the grid's best on ties
    return BestGabors(
        parameters=finalists[units, choice],
        images=images[units, choice],
        response=value[units, choice],
        grid_response=value[:, 0],
    )


def recorded_best_gabor(
    mean_counts: np.ndarray,
    orientation_deg: np.ndarray,
    x_position_deg: np.ndarray,
    y_position_deg: np.ndarray,
    k: int,
    geometry: ScreenGeometry,
    height: int,
    width: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The average of the Allen 'gabors' frames of each unit's k best recorded conditions.

    The conditions are ranked by mean count, highest first, ties by condition index (lowest
    first). Each is rendered by :func:`meiflow.stimuli.gabor.allen_gabor_stimulus` (Allen size,
    spatial frequency and contrast) at its recorded position and orientation as one static frame of
    phase 0: the recorded stimulus drifts through a full carrier cycle, and its average over
    phases is the gray background (the carrier averages to 0), so a static frame stands for it.

    Args:
        mean_counts: (n_units, n_conditions) mean spike count per presentation (finite).
        orientation_deg: (n_conditions,) the conditions' orientations (deg).
        x_position_deg: (n_conditions,) the conditions' x positions (deg).
        y_position_deg: (n_conditions,) the conditions' y positions (deg).
        k: conditions averaged per unit, 1 <= k <= n_conditions.
        geometry: the visual field of the images.
        height: the height of the images (pixels).
        width: the width of the images (pixels).

    Returns:
        images (n_units, height, width) float64 in [0, 1] and the ranked condition indices
        (n_units, k) int.
    """
    mean_counts = np.asarray(mean_counts, dtype=float)
    conditions = [
        np.asarray(c, dtype=float) for c in (orientation_deg, x_position_deg, y_position_deg)
    ]
    if mean_counts.ndim != 2 or not np.all(np.isfinite(mean_counts)):
        raise ValueError(f"mean_counts must be finite (n_units, n_conditions): {mean_counts.shape}")
    n_conditions = mean_counts.shape[1]
    if any(c.shape != (n_conditions,) for c in conditions):
        raise ValueError(f"orientation and positions must be ({n_conditions},)")
    if not 1 <= k <= n_conditions:
        raise ValueError(f"need 1 <= k <= {n_conditions}, got {k}")
    ranked = np.argsort(-mean_counts, axis=1, kind="stable")[:, :k]
    orientation, x_position, y_position = (c[ranked] for c in conditions)
    x_deg, y_deg = geometry.pixel_grid(height, width)
    frames = allen_gabor_stimulus(x_deg, y_deg, x_position, y_position, orientation, 0.0)
    return frames.mean(axis=1), ranked
