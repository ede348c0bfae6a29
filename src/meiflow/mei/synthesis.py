"""Most exciting inputs (MEIs): gradient ascent on the image, batched over units and starts.

``synthesize`` optimizes a tensor of images (n_units, n_init, H, W) at once: unit u's response
function sees unit u's images only (see ``meiflow.models.network.model_response`` and, for an
ensemble, ``meiflow.models.ensemble.Ensemble.response``), the objective is summed over units and
initializations and differentiated with one ``torch.autograd.grad`` call per step, so each image
gets the gradient of its own term (models in eval mode: nothing couples the images). The loop
over steps is the only Python loop. Device and dtype are those of the initial images.

Each step t = 0 .. steps - 1 (see the project's science notes, "MEI synthesis"):

1. objective = response - contrast_weight * |C* - std(image)|, std over the pixels of each
   image (population std, ddof 0), C* the ``target_std`` of ``synthesize``; its gradient g.
   The std is NaN-safe: a constant image has std 0 and a zero contrast gradient (instead of 0/0).
2. Fourier preconditioning: g <- irfft2(rfft2(g) * w), w = 1 / |f|^fourier_exponent with |f| in
   cycles/pixel (torch.fft.fftfreq), normalized to mean 1 over the full (H, W) frequency grid.
   The DC term (|f| = 0) gets the weight of the lowest non-zero frequency, 1 / max(H, W) cycles/px
   (finite and the largest weight, so the mean luminance moves like the coarsest pattern).
3. Update x <- x + step_gain * step_size(t) * d, step_size linear from ``step_size`` to
   ``final_step_size``;
   "notebook": d = g (as the notebook: alpha 0.1, no normalization);
   "walker": d = C* * g / mean|g| (mean over the pixels of each image; Walker et al.'s code steps
   z-scored images, pixel / training pixel std, so one of their units is about C* in our [0, 1]
   luminance; step_gain 0.1 / 255 is their step_gain / 255).
4. Blur: separable Gaussian (conv2d, reflect padding, kernel radius ceil(4 sigma) limited to
   size - 1 by the reflect padding, truncated and renormalized). "notebook": sigma decays
   geometrically from ``blur_sigma`` (7 px) to ``final_blur_sigma`` (0.001 px, an identity blur);
   "walker": sigma decays linearly (1.5 -> 0.01 px), as in Walker et al.'s deepdraw code.
5. Range: "notebook": blur, then min-max rescale of each image to [0, 1] (a constant image
   becomes 0); "walker": clip to [0, 1], then blur (Walker's order; a normalized positive kernel
   keeps the range); "walker" on a stimulus budget: the budget's cheap step
   (:meth:`~meiflow.stimuli.budget.StimulusBudget.step`, or its exact projection with
   ``exact_budget``) instead of the clip, then blur; the final images are projected onto the
   budget exactly and, with ``settings.polish``, polished by the stages of
   :data:`meiflow.mei.settings.POLISH` (plain projected steps).

The objective of "walker" is the response only (contrast_weight 0 by default, as Walker et al.:
the contrast is bounded by the clipping and the blur); any contrast_weight > 0 adds the notebook's
contrast term to either method. Schedules reach their final value at the last step.

Two properties of the notebook's recipe (measured here, kept for fidelity): the min-max rescale
after every step undoes any change along x - mean(x), which is the direction of the contrast
term's gradient up to the preconditioner, so that term barely acts: on a linear Gabor model (see
the tests) the final std is 0.084 with and without it, for C* = 0.27; the MEI's contrast follows
from its shape. Where nothing rescales (walker with contrast_weight > 0) the term does bring the
std to C* (tested). And the unnormalized step makes the result depend on the scale of the
response's gradient: one much weaker than the image's existing structure (e.g. a CNN with random
weights) leaves the blurred starting noise, rescaled to [0, 1], in charge.

Deterministic for fixed inputs on CPU; on CUDA the convolution backward of the model may differ
in the last bits between runs unless torch's deterministic algorithms are enabled.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from meiflow.io.netcdf import describe
from meiflow.mei.settings import POLISH, MEISettings
from meiflow.mei.trust import ensemble_spread, gradient_energy, init_spread
from meiflow.models.ensemble import Ensemble
from meiflow.stimuli.budget import BudgetSettings, StimulusBudget

__all__ = [
    "GRAY_NOISE_STD",
    "MEIResult",
    "at_best_init",
    "best_init",
    "budget_attrs",
    "budget_of",
    "fourier_weights",
    "gaussian_blur",
    "init_similarity",
    "initial_images",
    "synthesize",
]

logger = logging.getLogger(__name__)

GRAY_NOISE_STD = 0.01  # std of the noise of a "gray:k" start, luminance units
BLUR_TRUNCATE = 4.0  # blur kernel radius in sigmas

ResponseFunction = Callable[[Tensor], Tensor]


@dataclass
class MEIResult:
    """Outcome of ``synthesize`` (all tensors detached, on the device of the initial images).

    Attributes:
        images: (n_units, n_init, H, W) MEIs, luminance in [0, 1].
        response: (n_units, n_init) predicted response to ``images``.
        response_trace: (n_units, n_init, steps) response to the image at the start of each
            step (the one the step's gradient is taken at); with ``settings.polish`` the
            POLISH stages' steps follow.
        std_trace: (n_units, n_init, steps) pixel std of that image.
    """

    images: Tensor
    response: Tensor
    response_trace: Tensor
    std_trace: Tensor


# ----------------------------------------------------------------------------------------------
# Starting images


def _kind_offset(kind: str) -> tuple[str, int | None]:
    """'noise:3' -> ('noise', 3); 'black' -> ('black', None); ValueError for anything else."""
    name, sep, number = kind.partition(":")
    if name in ("black", "gray") and not sep:
        return name, None
    if name in ("noise", "gray") and sep and number.lstrip("-").isdigit():
        return name, int(number)
    raise ValueError(
        f"unknown initial image kind {kind!r}: expected 'noise:<int>', 'black', 'gray' or "
        "'gray:<int>'"
    )


def initial_images(
    n_units: int,
    height: int,
    width: int,
    kinds: Sequence[str],
    seed: int,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Starting images (n_units, len(kinds), height, width), luminance in [0, 1].

    Kinds (one per initialization, the same image for every unit, so a unit optimized alone
    starts where it does in a batch):
        "noise:k": white Gaussian noise from torch.Generator seeded with seed + k, min-max
            scaled to [0, 1] (the notebook's start);
        "black": zeros;
        "gray": exactly 0.5 (a constant image: std 0, see the module docstring; with the
            notebook's min-max rescale a gray start stays flat unless the response's gradient
            has structure);
        "gray:k": 0.5 + Gaussian noise of std GRAY_NOISE_STD from seed + k, clipped to [0, 1]
            (Walker et al.'s start).
    The noise is drawn on the CPU in float64 and then moved, so it does not depend on device.
    """
    if n_units < 1 or height < 1 or width < 1 or not kinds or isinstance(kinds, str):
        raise ValueError(
            f"need n_units, height, width >= 1 and a sequence of kinds: "
            f"{n_units}, {height}, {width}, {kinds!r}"
        )
    starts = []
    for kind in kinds:
        name, offset = _kind_offset(kind)
        if offset is None:
            value = 0.0 if name == "black" else 0.5
            starts.append(torch.full((height, width), value, dtype=torch.float64))
            continue
        generator = torch.Generator().manual_seed(seed + offset)
        noise = torch.randn(height, width, generator=generator, dtype=torch.float64)
        if name == "noise":
            starts.append(_rescale(noise))
        else:
            starts.append((0.5 + GRAY_NOISE_STD * noise).clamp(0.0, 1.0))
    return torch.stack(starts).to(device=device, dtype=dtype).expand(n_units, -1, -1, -1).clone()


# ----------------------------------------------------------------------------------------------
# Image operations (all on (..., H, W) tensors, per image)


def _rescale(images: Tensor) -> Tensor:
    """Min-max rescale of each image to [0, 1]; a constant image becomes 0."""
    low = images.amin(dim=(-2, -1), keepdim=True)
    span = images.amax(dim=(-2, -1), keepdim=True) - low
    return (images - low) / torch.where(span > 0, span, torch.ones_like(span))


def _pixel_std(images: Tensor) -> Tensor:
    """Population std over the pixels of each image, (..., H, W) -> (...).

    The gradient is 0 (not NaN) at a constant image.
    """
    variance = images.var(dim=(-2, -1), correction=0)
    positive = variance > 0
    safe = torch.where(positive, variance, torch.ones_like(variance))
    return torch.where(positive, safe.sqrt(), torch.zeros_like(variance))


def fourier_weights(
    height: int, width: int, exponent: float, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Gradient preconditioner 1 / |f|^exponent on the rfft2 grid: (height, width // 2 + 1).

    |f| = sqrt(fy^2 + fx^2) in cycles/pixel; the DC term uses the lowest non-zero frequency,
    1 / max(height, width); normalized to mean 1 over the full (height, width) grid.
    """
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(width, dtype=torch.float64)[None, :]
    radius = torch.sqrt(fy**2 + fx**2)
    radius[0, 0] = 1.0 / max(height, width)
    weights = radius ** (-exponent)
    weights = weights / weights.mean()
    return weights[:, : width // 2 + 1].to(device=device, dtype=dtype)


def _precondition(gradient: Tensor, weights: Tensor) -> Tensor:
    """irfft2(rfft2(gradient) * weights) over the last two dimensions."""
    spectrum = torch.fft.rfft2(gradient)
    return torch.fft.irfft2(spectrum * weights, s=gradient.shape[-2:])


def _blur_matrix(size: int, sigma: float, like: Tensor) -> Tensor:
    """(size, size) matrix of the 1-D Gaussian blur along an axis of ``size`` pixels.

    Row i holds the normalized taps of offsets -r .. r (r = ceil(BLUR_TRUNCATE * sigma) limited
    to size - 1) at the pixels i + offset reflected at the edges (``reflect`` padding: -1 -> 1,
    size -> size - 2); identity for a 1-pixel axis or a radius of 0.
    """
    radius = min(math.ceil(BLUR_TRUNCATE * sigma), size - 1)
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    taps /= taps.sum()
    index = np.arange(size)[:, None] + offsets
    index = np.abs(index)
    index = np.where(index > size - 1, 2 * (size - 1) - index, index)
    matrix = np.zeros((size, size))
    np.add.at(
        matrix, (np.repeat(np.arange(size), offsets.size), index.ravel()), np.tile(taps, size)
    )
    return torch.as_tensor(matrix).to(device=like.device, dtype=like.dtype)


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (..., H, W) images, sigma in pixels, reflect padding.

    Kernel radius ceil(BLUR_TRUNCATE * sigma), limited to H - 1 (W - 1) along each axis (reflect
    padding needs less than the size); the truncated kernel is renormalized to sum 1, so the
    output stays within each image's [min, max]. Images of 1 pixel along an axis are not blurred
    along it. Applied as two matrix products, By @ x @ Bx^T (:func:`_blur_matrix`): a
    single-channel convolution is many times slower on a CPU.
    """
    height, width = images.shape[-2:]
    rows = _blur_matrix(height, sigma, images)
    columns = _blur_matrix(width, sigma, images)
    return rows @ images @ columns.T


# ----------------------------------------------------------------------------------------------
# Gradient ascent


def _objective_gradient(
    response: ResponseFunction, images: Tensor, contrast_weight: float, target_std: float
) -> tuple[Tensor, Tensor, Tensor]:
    """(gradient (U, I, H, W), response (U, I), std (U, I)) of the objective at ``images``."""
    x = images.detach().requires_grad_(True)
    with torch.enable_grad():
        predicted = response(x)
        if predicted.shape != images.shape[:2]:
            raise ValueError(
                f"response must map images {tuple(images.shape)} to {tuple(images.shape[:2])}, "
                f"got {tuple(predicted.shape)}"
            )
        std = _pixel_std(x)
        objective = predicted - contrast_weight * (target_std - std).abs()
        (gradient,) = torch.autograd.grad(objective.sum(), x)
    return gradient, predicted.detach(), std.detach()


def synthesize(
    response: ResponseFunction,
    initial: Tensor,
    settings: MEISettings,
    target_std: float,
    budget: StimulusBudget | None = None,
    exact_budget: bool = False,
) -> MEIResult:
    """MEIs of every unit from every starting image by gradient ascent (module docstring).

    Args:
        response: maps images (n_units, n_init, H, W) to (n_units, n_init) responses, unit u's
            model applied to unit u's images (``meiflow.models.network.model_response``,
            ``meiflow.models.ensemble.Ensemble.response``).
        initial: (n_units, n_init, H, W) starting images (``initial_images``); floating point,
            its device and dtype are used throughout.
        settings: method and constants.
        target_std: C*, the mean pixel std of the training scenes (luminance units, > 0): the
            target of the contrast term and, for "walker", the unit of the step.
        budget: optional stimulus budget (:class:`meiflow.stimuli.budget.StimulusBudget`): for
            "walker" each step's clip to [0, 1] becomes :meth:`StimulusBudget.step` (before the
            blur), and the final images are projected onto the budget exactly
            (:meth:`StimulusBudget.project`); not with "notebook" (ValueError).
        exact_budget: every step projects onto the budget exactly (:meth:`StimulusBudget.project`,
            a sort of every image's pixels): the iterates of the cheap step settle slightly inside
            the budget where clipping is active, the exact ones reach its boundary. With a
            ``budget`` and ``settings.polish`` the ascent is followed by the stages of
            :data:`meiflow.mei.settings.POLISH`, all of them with exact projections (the
            settings' ``budget`` flag is :func:`chunk_meis`'s: here the budget argument rules).

    Returns:
        MEIResult with images in [0, 1]. Progress (mean response and std) is logged at INFO
        about every 10 % of the steps.
    """
    if initial.dim() != 4 or not initial.is_floating_point():
        raise ValueError(f"initial must be floating (n_units, n_init, H, W): {initial.shape}")
    if not 0.0 < target_std < math.inf:
        raise ValueError(f"target_std must be > 0 and finite, got {target_std}")
    if budget is not None and settings.method != "walker":
        raise ValueError(f"a stimulus budget needs the walker method, not {settings.method!r}")
    s = settings
    height, width = initial.shape[-2:]
    weights = fourier_weights(height, width, s.fourier_exponent, initial.device, initial.dtype)
    step_sizes, sigmas = s.schedule()
    response_trace = initial.new_empty((*initial.shape[:2], s.steps))
    std_trace = torch.empty_like(response_trace)
    report_every = max(s.steps // 10, 1)
    x = initial.detach().clone()
    for t in range(s.steps):
        gradient, predicted, std = _objective_gradient(response, x, s.contrast_weight, target_std)
        response_trace[..., t] = predicted
        std_trace[..., t] = std
        direction = _precondition(gradient, weights)
        if s.method == "walker":
            mean_abs = direction.abs().mean(dim=(-2, -1), keepdim=True)
            direction = target_std * direction / torch.where(mean_abs > 0, mean_abs, 1.0)
        x = x + s.step_gain * step_sizes[t] * direction
        if s.method == "notebook":
            x = _rescale(gaussian_blur(x, sigmas[t]))
        else:
            if budget is None:
                x = x.clamp(0.0, 1.0)
            else:
                x = budget.project(x) if exact_budget else budget.step(x)
            x = gaussian_blur(x, sigmas[t])
        if (t + 1) % report_every == 0 or t + 1 == s.steps:
            logger.info(
                "MEI step %d/%d: mean response %.4g, mean std %.4g (blur sigma %.3g px)",
                t + 1,
                s.steps,
                predicted.mean().item(),
                std.mean().item(),
                sigmas[t],
            )
    if budget is not None:
        x = budget.project(x)
    if s.polish and budget is not None:
        responses, stds = [response_trace], [std_trace]
        for stage in POLISH:
            polished = synthesize(response, x, stage, target_std, budget, exact_budget=True)
            x = polished.images
            responses.append(polished.response_trace)
            stds.append(polished.std_trace)
        response_trace, std_trace = torch.cat(responses, dim=-1), torch.cat(stds, dim=-1)
    with torch.no_grad():
        final = response(x).detach()
    return MEIResult(images=x, response=final, response_trace=response_trace, std_trace=std_trace)


# ----------------------------------------------------------------------------------------------
# Robustness across initializations


def init_similarity(images: Tensor) -> Tensor:
    """Mean pairwise Pearson correlation of each unit's MEIs across initializations.

    images (n_units, n_init, H, W) -> (n_units,): the mean over the n_init * (n_init - 1) / 2
    pairs of the correlation over pixels (the notebook's check that the MEI does not depend on
    the start). NaN where n_init < 2 or an image is constant.
    """
    n_units, n_init = images.shape[:2]
    flat = images.reshape(n_units, n_init, -1).to(torch.float64)
    centred = flat - flat.mean(-1, keepdim=True)
    unit_norm = centred / centred.norm(dim=-1, keepdim=True)
    correlation = unit_norm @ unit_norm.transpose(1, 2)
    pairs = torch.triu(torch.ones(n_init, n_init, dtype=torch.bool, device=images.device), 1)
    return correlation[:, pairs].mean(-1).to(images.dtype)


def best_init(result: MEIResult) -> Tensor:
    """(n_units,) index of the initialization with the highest final response of each unit."""
    return result.response.argmax(dim=1)


def at_best_init(meis: xr.Dataset, variable: str = "mei") -> np.ndarray:
    """``variable`` (unit, init, ...) of a ``meis.nc`` dataset at each unit's best initialization.

    The best initialization is ``best_init``.

    Returns:
        (n_units, ...); by default the MEIs, (n_units, H, W).
    """
    best = meis["best_init"].to_numpy().astype(int)
    values = meis[variable].transpose("unit", "init", ...).to_numpy()
    return values[np.arange(best.size), best]


def budget_attrs(budget: StimulusBudget | None) -> dict[str, str | float]:
    """The attributes that say which stimulus budget a file's images lie on (:func:`budget_of`).

    ``budget``: "stimulus budget" or "none"; on a budget also ``budget_mean`` and
    ``budget_contrast`` (luminance units).
    """
    if budget is None:
        return {"budget": "none"}
    return {
        "budget": "stimulus budget",
        "budget_mean": budget.mean,
        "budget_contrast": budget.contrast,
    }


def budget_of(meis: xr.Dataset) -> StimulusBudget | None:
    """The stimulus budget the MEIs of a ``meis.nc`` dataset lie on (None: none).

    Read from the attributes :func:`chunk_meis` writes (:func:`budget_attrs`).

    Raises:
        ValueError: the dataset does not say (a file from before the budget) or says it
            incompletely.
    """
    kind = meis.attrs.get("budget")
    if kind == "none":
        return None
    if kind != "stimulus budget" or not {"budget_mean", "budget_contrast"} <= set(meis.attrs):
        raise ValueError(
            f"the MEIs' file does not say which stimulus budget they lie on (attribute "
            f"'budget' = {kind!r}): make them again (snakemake --forcerun generate_meis)"
        )
    return StimulusBudget(float(meis.attrs["budget_mean"]), float(meis.attrs["budget_contrast"]))


def chunk_meis(
    chunk: xr.Dataset,
    ensemble: Ensemble,
    images: xr.DataArray,
    split: np.ndarray,
    settings: MEISettings,
    budget_settings: BudgetSettings,
    device: torch.device,
) -> xr.Dataset:
    """The MEIs of one chunk's units from every starting image (``meis/chunk_{i}.nc``).

    Args:
        chunk: the chunk's dataset (``unit``; its attribute
            ``model``, the model of ``ensemble``, is copied to the output: ``meiflow.models.
            chunks.load_chunk``).
        ensemble: the chunk's trained networks (their mean response is maximized).
        images: the scenes at model resolution (frame, y, x) in [0, 1]; C*, the contrast the
            notebook's method pulls towards, is the mean pixel std of the training scenes.
        split: (n_frames,) ``train``, ``validation`` or ``test`` of each frame.
        settings: the method, its constants, the starting images and whether the MEIs lie on
            the stimulus budget.
        budget_settings: the budget's contrast scale; with ``settings.budget`` the budget is
            :meth:`StimulusBudget.from_scenes` of all scenes (the blank left out), as the
            simulator's.
        device: where the model runs.

    Returns:
        ``mei`` (unit, init, y, x) in [0, 1], ``response`` (unit, init) in spikes, the traces
        ``response_trace`` and ``std_trace`` (unit, init, step), ``best_init`` and
        ``init_similarity`` (unit); the trust signals of :mod:`meiflow.mei.trust`:
        ``member_response`` (unit, init, member) in spikes, ``init_spread`` and
        ``ensemble_spread`` (unit; NaN with one member) and ``gradient_energy`` (unit, y, x)
        over all scenes (the blank left out), spikes per unit of luminance; the settings and C*
        in the attributes, and the budget: ``budget`` ("stimulus budget" or "none"), with
        ``budget_mean`` and ``budget_contrast`` (luminance units) on the budget.
    """
    units = chunk["unit"].to_numpy()
    pixels, shown = images.to_numpy(), images["frame"].to_numpy() >= 0  # the blank left out
    scenes, training = pixels[shown], pixels[(split == "train") & shown]
    target_std = float(training.std(axis=(1, 2)).mean())  # C*: mean std of the training scenes
    budget = None
    if settings.budget:
        budget = StimulusBudget.from_scenes(scenes, budget_settings.contrast_scale)
    kinds = list(settings.initializations)
    logger.info(
        "%d units x %d starts, %d steps (%s) on %s, C* = %.3f, budget: %s",
        units.size,
        len(kinds),
        settings.steps,
        settings.method,
        device,
        target_std,
        "none" if budget is None else f"mean {budget.mean:.3f}, contrast <= {budget.contrast:.3f}",
    )
    initial = initial_images(
        units.size, ensemble.height, ensemble.width, kinds, settings.seed, device
    )
    result = synthesize(ensemble.response, initial, settings, target_std, budget)
    best = best_init(result).cpu().numpy()
    with torch.no_grad():
        members = ensemble.member_responses(result.images)  # (member, unit, init)
    at_best = members[:, torch.arange(units.size), torch.as_tensor(best, device=members.device)]
    energy = gradient_energy(
        ensemble.response, torch.as_tensor(scenes, device=device), units.size
    ).cpu()
    ds = xr.Dataset(
        {
            "mei": (("unit", "init", "y", "x"), result.images.cpu().numpy()),
            "response": (("unit", "init"), result.response.cpu().numpy()),
            "response_trace": (("unit", "init", "step"), result.response_trace.cpu().numpy()),
            "std_trace": (("unit", "init", "step"), result.std_trace.cpu().numpy()),
            "best_init": ("unit", best),
            "init_similarity": ("unit", init_similarity(result.images).cpu().numpy()),
            "member_response": (("unit", "init", "member"), members.permute(1, 2, 0).cpu().numpy()),
            "init_spread": ("unit", init_spread(result.response).cpu().numpy()),
            "ensemble_spread": ("unit", ensemble_spread(at_best).cpu().numpy()),
            "gradient_energy": (("unit", "y", "x"), energy.numpy()),
        },
        coords={
            "unit": units,
            "init": kinds,
            "y": np.arange(ensemble.height),
            "x": np.arange(ensemble.width),
            "step": np.arange(result.response_trace.shape[-1]),
            "member": np.arange(ensemble.n_members),
        },
    )
    attrs = {
        "mei": ("most exciting input, luminance (0 black, 1 white)", "1"),
        "response": ("predicted response to the MEI", "spikes"),
        "response_trace": ("predicted response at the start of each step", "spikes"),
        "std_trace": ("pixel standard deviation at the start of each step", "1"),
        "best_init": ("index of the initialization with the highest response", "1"),
        "init_similarity": ("mean pairwise correlation of the MEIs across starts", "1"),
        "member_response": ("each ensemble member's predicted response to the MEI", "spikes"),
        "init_spread": ("(max - min) / max of the predicted responses across starts", "1"),
        "ensemble_spread": (
            "std / mean of the members' predicted responses to the best start's MEI",
            "1",
        ),
        "gradient_energy": (
            "root mean square over the scenes of the response's gradient per pixel",
            "spikes per unit of luminance",
        ),
    }
    describe(ds, attrs)
    ds.attrs.update(
        model=chunk.attrs.get("model", "per_neuron"),
        target_std=target_std,
        device=str(device),
        **{
            f"setting_{k}": v
            for k, v in dataclasses.asdict(settings).items()
            if k not in ("initializations", "seed", "budget", "polish")  # coordinate, config, below
        },
        setting_polish=f"{sum(s.steps for s in POLISH)} steps" if settings.polish else "none",
    )
    ds.attrs.update(budget_attrs(budget))
    logger.info(
        "median response %.3f, median similarity across starts %.3f",
        float(np.median(result.response.cpu().numpy().max(1))),
        float(np.nanmedian(ds["init_similarity"])),
    )

    return ds
