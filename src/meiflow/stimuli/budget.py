"""The stimulus budget: the set of images an MEI, a Gabor control or a true optimum may be.

An image x of N pixels is on the budget (mean luminance mu, contrast sigma) when

- every pixel lies in [0, 1] (the screen's range);
- its mean luminance equals mu, the mean luminance of the session's natural scenes;
- its RMS contrast, the pixel standard deviation over the whole image (population, ddof 0), is at
  most sigma, the mean RMS contrast of the scenes (times a configurable scale).

The contrast condition is a ball around the uniform image of luminance mu, not a sphere, so a
unit whose best image lies below full contrast (a normalized one) is handled too. Both numbers
are measured from each session's own scenes (``images.nc``), so the budget holds for real
sessions as for simulated ones.

:meth:`StimulusBudget.project` is the Euclidean projection onto the budget. By the KKT
conditions of minimizing ||x - y||^2 over the box, the hyperplane and the ball, the projection of
y has the form clip(a * y + b, 0, 1) with 0 < a <= 1 (a = 1 / (1 + the ball's multiplier), b from
the mean's multiplier): b is found for a given a by a safeguarded Newton search (the mean is
piecewise linear and nondecreasing in b: a Newton step solves the current piece exactly, a
bisection step is taken where it would leave the bracket; it ends when the step no longer moves,
in a few iterations), inside a search on a (the contrast is nondecreasing in a; Illinois regula
falsi, which keeps a bracket). :meth:`StimulusBudget.step` is a cheap approximation for the
inner loop of a gradient ascent (one pass of alternating projections).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: the settings need no torch
    from torch import Tensor

__all__ = ["BudgetSettings", "StimulusBudget"]

#: The most iterations of each of the two nested searches of the exact projection (each ends
#: earlier, when converged; a bisection step halves a bracket of width <= 2: 2^-50 is at float64
#: resolution).
BISECTION_STEPS = 50
#: The largest deviation of a pixel from its image's mean that the exact projection accepts.
MAX_SPREAD = 1e6


@dataclass(frozen=True)
class BudgetSettings:
    """The stimulus budget's configurable part (config section ``budget``).

    Attributes:
        contrast_scale: factor on the scenes' mean RMS contrast that gives the budget's maximal
            contrast (> 0).

    Raises:
        ValueError: a contrast_scale that is not > 0 and finite.
    """

    contrast_scale: float = 1.0

    def __post_init__(self) -> None:
        """Check contrast_scale."""
        if not 0.0 < self.contrast_scale < np.inf:
            raise ValueError(f"budget.contrast_scale must be > 0, got {self.contrast_scale}")


def _std(images: Tensor) -> Tensor:
    """Population pixel std of (..., H, W) images, (...)."""
    return images.var(dim=(-2, -1), correction=0).clamp_min(0.0).sqrt()


@dataclass(frozen=True)
class StimulusBudget:
    """Mean luminance and maximal RMS contrast of the images a unit may be shown.

    Attributes:
        mean: mean luminance of every image on the budget, in (0, 1).
        contrast: maximal pixel standard deviation (population) over the whole image, > 0.

    Raises:
        ValueError: mean outside (0, 1) or contrast not > 0 (or not finite).
    """

    mean: float
    contrast: float

    def __post_init__(self) -> None:
        """Check the two numbers (see the class docstring)."""
        if not 0.0 < self.mean < 1.0:
            raise ValueError(f"the budget's mean luminance must lie in (0, 1), got {self.mean}")
        if not 0.0 < self.contrast < np.inf:
            raise ValueError(f"the budget's contrast must be > 0 and finite, got {self.contrast}")

    @classmethod
    def from_scenes(cls, scenes: np.ndarray, contrast_scale: float = 1.0) -> StimulusBudget:
        """The budget of a session: its scenes' mean luminance and mean RMS contrast.

        Args:
            scenes: (n_scenes, H, W) the natural scenes at model resolution, luminance in [0, 1]
                (``images.nc`` without the blank).
            contrast_scale: factor on the scenes' mean RMS contrast (> 0).

        Raises:
            ValueError: no scene, or scenes that give an invalid budget.
        """
        scenes = np.asarray(scenes, dtype=np.float64)
        if scenes.ndim != 3 or scenes.shape[0] == 0:
            raise ValueError(f"scenes must be (n_scenes >= 1, H, W), got {scenes.shape}")
        return cls(
            mean=float(scenes.mean()),
            contrast=float(scenes.std(axis=(1, 2)).mean() * contrast_scale),
        )

    def holds(self, images: Tensor, tolerance: float = 1e-4) -> Tensor:
        """(...,) bool: which of the (..., H, W) images lie on the budget, within tolerance."""
        low, high = images.amin(dim=(-2, -1)), images.amax(dim=(-2, -1))
        mean = images.mean(dim=(-2, -1))
        return (
            (low >= -tolerance)
            & (high <= 1.0 + tolerance)
            & ((mean - self.mean).abs() <= tolerance)
            & (_std(images) <= self.contrast + tolerance)
        )

    def project(self, images: Tensor, steps: int = BISECTION_STEPS) -> Tensor:
        """The Euclidean projection of (..., H, W) images onto the budget (module docstring).

        clip(a * y + b, 0, 1): for each image y, b so that the mean is ``mean`` (safeguarded
        Newton, module docstring), inside a search for the largest a in (0, 1] whose contrast is
        at most ``contrast`` (:func:`_largest_scale`). Each evaluation of a pair (a, b) is exact
        and costs O(log N): the clipped pixels are found in the sorted pixels of y (sorted once)
        and the rest summed from prefix sums of y and y^2, in float64. The search runs on each
        image centred and scaled by its largest deviation s (the same family clip(a' y' + b'),
        a' = a s at most s), so that large offsets or spreads do not cancel in the sums.

        Args:
            images: (..., H, W) floating point, finite values whose deviation from their image's
                mean is at most MAX_SPREAD (the prefix sums would lose the few unclipped pixels'
                variance beyond: the images of an ascent deviate by a few units at most).
            steps: the most iterations of each of the two searches.

        Returns:
            (..., H, W) images on the budget (its mean to float resolution, contrast at most
            ``contrast``, pixels in [0, 1]), dtype and device of ``images``.

        Raises:
            ValueError: images that are not floating point, hold a NaN or an infinity, or
                deviate by more than MAX_SPREAD.
        """
        import torch

        if not images.is_floating_point():
            raise ValueError(f"images must be floating point, got {images.dtype}")
        if images.numel() == 0:
            return images.detach().clone()
        if not torch.isfinite(images).all():
            raise ValueError("images hold NaN or infinite values: no projection is defined")
        y = images.detach().reshape(-1, images.shape[-2] * images.shape[-1]).double()
        y = y - y.mean(dim=1, keepdim=True)
        spread = y.abs().amax(dim=1, keepdim=True)  # the largest deviation, s
        if (spread > MAX_SPREAD).any():
            raise ValueError(
                f"images deviate from their mean by up to {spread.max().item():.3g}, more than "
                f"the exact projection handles ({MAX_SPREAD:g})"
            )
        y = y / torch.where(spread > 0, spread, 1.0)  # in [-1, 1]; a' = a s at most s
        n = y.shape[1]
        ordered = y.sort(dim=1).values
        zero = ordered.new_zeros((y.shape[0], 1))
        sum1 = torch.cat((zero, ordered.cumsum(dim=1)), dim=1)
        sum2 = torch.cat((zero, (ordered**2).cumsum(dim=1)), dim=1)

        def pieces(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
            """Pieces of clip(a * y + b, 0, 1) per image, a > 0, (B, 1) each.

            Pixels inside (0, 1), pixels clipped to 1, and the inside pixels' sums of y and y^2.
            """
            low = torch.searchsorted(ordered, -b / a, right=True)  # pixels clipped to 0
            high = torch.searchsorted(ordered, (1.0 - b) / a)  # from here on clipped to 1
            s1 = sum1.gather(1, high) - sum1.gather(1, low)
            s2 = sum2.gather(1, high) - sum2.gather(1, low)
            return (high - low).double(), (n - high).double(), s1, s2

        def moments(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
            """Mean and variance of clip(a * y + b, 0, 1) per image, a > 0, (B, 1) each."""
            inside, top, s1, s2 = pieces(a, b)
            mean = (top + a * s1 + b * inside) / n
            second = (top + a * a * s2 + 2 * a * b * s1 + b * b * inside) / n
            return mean, (second - mean**2).clamp_min(0.0)

        def shift(a: Tensor) -> Tensor:
            """B that gives clip(a * y + b, 0, 1) the budget's mean (safeguarded Newton).

            The bracket [low, high] holds the root (mean 0 at low, 1 at high). Each iteration
            solves the piece of the current b exactly, n * mean = top + a * s1 + b * inside, and
            takes that b where it lies in the bracket (else the bracket's middle); it ends when
            no image's b moves (the piece is the root's), after ``steps`` iterations at most.
            """
            low, high = -a * ordered[:, -1:], 1.0 - a * ordered[:, :1]
            b = (self.mean - a * sum1[:, -1:] / n).clamp(low, high)
            for _ in range(steps):
                inside, top, s1, _ = pieces(a, b)
                below = (top + a * s1 + b * inside) / n < self.mean
                low, high = torch.where(below, b, low), torch.where(below, high, b)
                newton = (n * self.mean - top - a * s1) / inside.clamp_min(1.0)
                usable = (inside > 0) & (newton >= low) & (newton <= high)
                moved = torch.where(usable, newton, (low + high) / 2)
                if torch.equal(moved, b):
                    break
                b = moved
            return b

        one = torch.where(spread > 0, spread, 1.0)  # a = 1 in the image's own units
        limit = self.contrast**2
        excess = moments(one, shift(one))[1] - limit  # > 0: the image needs a < 1
        if (excess <= 0).all():
            scale = one
        else:
            scale = _largest_scale(
                lambda a: moments(a, shift(a))[1] - limit, limit, one, excess, steps
            )
            scale = torch.where(excess <= 0, one, scale)
        projected = (scale * y + shift(scale)).clamp(0.0, 1.0)
        return projected.reshape(images.shape).to(images.dtype)

    def step(self, images: Tensor) -> Tensor:
        """One cheap pass towards the budget, for every step of a gradient ascent.

        The mean is set to ``mean`` and the deviation from it scaled down to the contrast (the
        projection onto the hyperplane and the ball), then clipped to [0, 1]: the result is in
        range, its mean and contrast are close to the budget's; :meth:`project` is exact.
        """
        import torch

        deviation = images - images.mean(dim=(-2, -1), keepdim=True)
        std = _std(deviation)[..., None, None]
        shrink = torch.where(std > self.contrast, self.contrast / std.clamp_min(1e-30), 1.0)
        return (self.mean + shrink * deviation).clamp(0.0, 1.0)


def _largest_scale(
    excess_at: Callable[[Tensor], Tensor],
    limit: float,
    upper: Tensor,
    excess_at_upper: Tensor,
    steps: int,
) -> Tensor:
    """The largest a in (0, upper] with excess_at(a) <= 0, per image (B, 1), excess nondecreasing.

    Illinois regula falsi (Dowell & Jarratt 1971, BIT 11:168) on the bracket [0, upper], where
    the excess is -limit at a = 0 (a uniform image) and ``excess_at_upper`` at ``upper``: each
    iteration evaluates the secant's root (the bracket's middle where that is not strictly
    inside), and halves the kept end's value when the same end was kept twice in a row. It
    ends when every image's feasible end lies within a relative 1e-12 of the boundary, or the
    bracket is at float resolution, after ``steps`` iterations at most; the feasible end is
    returned, so the contrast never exceeds the budget's.
    """
    import torch

    low, high = torch.zeros_like(excess_at_upper), upper.expand_as(excess_at_upper).clone()
    f_low, f_high = -limit, excess_at_upper  # kept ends' values (halved by Illinois)
    low_excess = -limit  # the true excess at low
    kept = torch.zeros_like(low)  # +1: high was replaced last, -1: low was
    for _ in range(steps):
        tight = high - low <= 4 * torch.finfo(low.dtype).eps * high
        done = (low_excess >= -1e-12 * limit) | tight
        if done.all():
            break
        secant = (low * f_high - high * f_low) / (f_high - f_low)
        inside = (secant > low) & (secant < high)
        a = torch.where(inside, secant, (low + high) / 2)
        excess = excess_at(a)
        over = excess > 0
        f_low = torch.where(over & (kept > 0), f_low / 2, f_low)
        f_high = torch.where(~over & (kept < 0), f_high / 2, f_high)
        low = torch.where(over | done, low, a)
        low_excess = torch.where(over | done, low_excess, excess)
        f_low = torch.where(over | done, f_low, excess)
        high = torch.where(over & ~done, a, high)
        f_high = torch.where(over & ~done, excess, f_high)
        kept = torch.where(over, 1.0, -1.0)
    return low.clamp_min(torch.finfo(low.dtype).tiny)
