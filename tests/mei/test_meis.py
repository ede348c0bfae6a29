"""MEI synthesis: known optima, batched = one at a time, the contrast term, the helpers."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.ndimage
import torch
import xarray as xr

from meiflow.mei.settings import POLISH, MEISettings
from meiflow.mei.synthesis import (
    MEIResult,
    best_init,
    budget_of,
    fourier_weights,
    gaussian_blur,
    init_similarity,
    initial_images,
    synthesize,
)
from meiflow.models.network import PerNeuronCNN, model_response, select
from meiflow.models.settings import ArchitectureSettings
from meiflow.stimuli.budget import StimulusBudget
from meiflow.stimuli.gabor import gabor
from meiflow.stimuli.geometry import ScreenGeometry

H, W = 30, 48
C_STAR = 0.27
CENTERS_X = np.array([-25.0, 20.0, 0.0])
CENTERS_Y = np.array([12.0, -10.0, 0.0])
SIGMA_DEG = 10.0


pytestmark = pytest.mark.usefixtures("one_thread")


def gabor_filters() -> torch.Tensor:
    """(3, H, W) unit-norm Gabor filters of different position and orientation (float32)."""
    x_deg, y_deg = ScreenGeometry().pixel_grid(H, W)
    f = gabor(x_deg, y_deg, CENTERS_X, CENTERS_Y, [0.0, 45.0, 90.0], 0.04, 0.0, SIGMA_DEG)
    f /= np.sqrt(np.square(f).sum(axis=(-2, -1), keepdims=True))
    return torch.tensor(f, dtype=torch.float32)


def envelope_masks() -> np.ndarray:
    """(3, H, W) bool: pixels where a filter's Gaussian envelope exceeds 0.1."""
    x_deg, y_deg = ScreenGeometry().pixel_grid(H, W)
    r2 = (x_deg - CENTERS_X[:, None, None]) ** 2 + (y_deg - CENTERS_Y[:, None, None]) ** 2
    return np.exp(-r2 / (2 * SIGMA_DEG**2)) > 0.1


def linear_response(filters: torch.Tensor):
    """Unit u's response <f_u, x - 0.5>: images (U, I, H, W) -> (U, I)."""
    return lambda images: ((images - 0.5) * filters[:, None]).sum(dim=(-2, -1))


def small_cnn(n_units: int = 3) -> PerNeuronCNN:
    model = PerNeuronCNN(
        n_units, H, W, ArchitectureSettings(channels=4), [7 + u for u in range(n_units)]
    )
    model.set_positions(torch.tensor([[-0.4, 0.3], [0.5, -0.2], [0.0, 0.1]])[:n_units])
    return model.eval()


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# ----------------------------------------------------------------------------------------------
# 1. Known optimum


@pytest.mark.parametrize("method", ["notebook", "walker"])
def test_linear_model_mei_is_its_filter(method):
    filters = gabor_filters()
    initial = initial_images(3, H, W, ["noise:0", "noise:1", "gray:0"], seed=3)
    result = synthesize(linear_response(filters), initial, MEISettings(method, 200), C_STAR)
    masks = envelope_masks()
    for u in range(3):
        f = filters[u].numpy()
        for i in range(3):
            mei = result.images[u, i].numpy()
            assert pearson(mei[masks[u]], f[masks[u]]) > 0.9, (method, u, i)
            if method == "notebook":
                assert pearson(mei, f) > 0.95, (u, i)
    trace = result.response_trace
    assert (trace[..., -1] > trace[..., 0] + 0.1).all()
    # overall increase: the second half of the trace lies above the first
    assert (trace[..., 100:].mean(-1) > trace[..., :100].mean(-1)).all()
    expected = linear_response(filters)(result.images)
    torch.testing.assert_close(result.response, expected)


def test_the_polish_reaches_a_linear_units_exact_optimum_on_the_budget():
    # <f, x> over the budget: with no pixel clipped, the maximizer is the budget's mean plus the
    # filter's mean-free part scaled to the budget's contrast (a full-field grating stays inside)
    budget = StimulusBudget(0.48, 0.2)
    y, x = np.mgrid[0:H, 0:W]
    filters = torch.as_tensor(np.stack([np.cos(2 * np.pi * (x / 9 + y / 13) + k) for k in (0, 1)]))
    free = filters - filters.mean(dim=(-2, -1), keepdim=True)
    optimum = budget.mean + budget.contrast * free / free.std(
        dim=(-2, -1), keepdim=True, correction=0
    )
    assert ((optimum > 0) & (optimum < 1)).all()
    initial = initial_images(2, H, W, ["noise:0", "black", "gray:0"], seed=1, dtype=torch.float64)
    found = {
        polish: synthesize(
            linear_response(filters), initial, MEISettings(steps=40, polish=polish), C_STAR, budget
        )
        for polish in (False, True)
    }
    assert budget.holds(found[True].images, tolerance=1e-9).all()
    best = linear_response(filters)(optimum[:, None])
    gap = {p: (best - r.response).max().item() / best.min().item() for p, r in found.items()}
    assert gap[True] < 1e-4 < gap[False]  # the ascent alone stops short of it
    torch.testing.assert_close(
        found[True].images, optimum[:, None].expand_as(initial), atol=1e-3, rtol=0
    )
    assert found[True].response_trace.shape[-1] == 40 + sum(stage.steps for stage in POLISH)


def test_constant_starts_give_finite_meis():
    """Black and gray starts have std 0: the contrast term must not produce NaN."""
    filters = gabor_filters()
    initial = initial_images(3, H, W, ["black", "gray"], seed=0)
    for method in ("notebook", "walker"):
        settings = MEISettings(method, 100, contrast_weight=2.0)
        result = synthesize(linear_response(filters), initial, settings, C_STAR)
        assert torch.isfinite(result.images).all() and torch.isfinite(result.std_trace).all()
        assert (result.std_trace[..., 0] == 0).all()
        for u in range(3):
            for i in range(2):
                assert pearson(result.images[u, i].numpy(), filters[u].numpy()) > 0.7


# ----------------------------------------------------------------------------------------------
# 2. Batched = one unit at a time


@pytest.mark.parametrize("method", ["notebook", "walker"])
def test_batched_equals_one_unit_at_a_time(method):
    model = small_cnn()
    initial = initial_images(3, H, W, ["noise:0", "noise:1"], seed=11)
    settings = MEISettings(method, 40)
    batched = synthesize(model_response(model), initial, settings, C_STAR)
    for u in range(3):
        single_model = select(model, [u])
        single_initial = initial_images(1, H, W, ["noise:0", "noise:1"], seed=11)
        alone = synthesize(model_response(single_model), single_initial, settings, C_STAR)
        torch.testing.assert_close(alone.images[0], batched.images[u], atol=1e-5, rtol=0)
        torch.testing.assert_close(alone.response[0], batched.response[u], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            alone.response_trace[0], batched.response_trace[u], atol=1e-5, rtol=1e-5
        )
    assert not torch.allclose(batched.images[0], batched.images[1], atol=1e-3)


# ----------------------------------------------------------------------------------------------
# 3. Shapes, range, determinism, validation


def test_result_shapes_range_and_determinism(caplog):
    model = small_cnn()
    initial = initial_images(3, H, W, ["noise:0", "black", "gray:1"], seed=2)
    for method in ("notebook", "walker"):
        settings = MEISettings(method, 20)
        with caplog.at_level(logging.INFO, logger="meiflow.mei.synthesis"):
            caplog.clear()
            result = synthesize(model_response(model), initial, settings, C_STAR)
        assert isinstance(result, MEIResult)
        assert result.images.shape == (3, 3, H, W)
        assert result.response.shape == (3, 3)
        assert result.response_trace.shape == result.std_trace.shape == (3, 3, 20)
        assert result.images.min() >= 0.0 and result.images.max() <= 1.0
        assert len([r for r in caplog.records if "MEI step" in r.getMessage()]) == 10
        again = synthesize(model_response(model), initial, settings, C_STAR)
        assert torch.equal(result.images, again.images)
        assert torch.equal(result.response_trace, again.response_trace)
        stds = initial.std(dim=(-2, -1), correction=0)
        torch.testing.assert_close(result.std_trace[..., 0], stds)
    # notebook: every MEI is min-max rescaled to exactly [0, 1]
    notebook = synthesize(model_response(model), initial, MEISettings("notebook", steps=5), C_STAR)
    torch.testing.assert_close(notebook.images.amin(dim=(-2, -1)), torch.zeros(3, 3))
    torch.testing.assert_close(notebook.images.amax(dim=(-2, -1)), torch.ones(3, 3))


def test_settings_defaults_and_schedules():
    notebook = MEISettings("notebook")
    assert (notebook.method, notebook.steps, notebook.step_size, notebook.contrast_weight) == (
        "notebook",
        1000,
        0.1,
        2.0,
    )
    assert (notebook.blur_sigma, notebook.final_blur_sigma, notebook.fourier_exponent) == (
        7.0,
        0.001,
        0.25,
    )
    steps, sigmas = MEISettings("notebook", steps=5).schedule()
    assert steps == pytest.approx([0.1] * 5)
    assert sigmas[0] == pytest.approx(7.0) and sigmas[-1] == pytest.approx(0.001)
    assert np.diff(np.log(sigmas)) == pytest.approx([np.log(0.001 / 7.0) / 4] * 4)
    walker = MEISettings("walker", 5)
    assert (walker.contrast_weight, walker.fourier_exponent) == (0.0, 0.2)
    steps, sigmas = walker.schedule()
    assert steps == pytest.approx(np.linspace(3.0, 0.125, 5).tolist())
    assert sigmas == pytest.approx(np.linspace(1.5, 0.01, 5).tolist())
    assert MEISettings("walker", contrast_weight=1).contrast_weight == 1.0
    # the budget follows the method unless set, and the polish the budget
    assert (walker.budget, notebook.budget, MEISettings("walker", budget=False).budget) == (
        True,
        False,
        False,
    )
    assert (walker.polish, notebook.polish, MEISettings("walker", budget=False).polish) == (
        True,
        False,
        False,
    )


def test_budget_of_reads_what_chunk_meis_writes_and_refuses_an_unmarked_file():
    marked = xr.Dataset(
        attrs={"budget": "stimulus budget", "budget_mean": 0.4, "budget_contrast": 0.2}
    )
    assert budget_of(marked) == StimulusBudget(0.4, 0.2)
    assert budget_of(xr.Dataset(attrs={"budget": "none"})) is None
    for attrs in ({}, {"budget": "stimulus budget", "budget_mean": 0.4}):
        with pytest.raises(ValueError, match="forcerun generate_meis"):
            budget_of(xr.Dataset(attrs=attrs))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "adam"}, "method"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"step_size": 0.0}, "step_size"),
        ({"final_step_size": -1.0}, "final_step_size"),
        ({"step_gain": float("nan")}, "step_gain"),
        ({"blur_sigma": 0.0}, "blur_sigma"),
        ({"final_blur_sigma": float("inf")}, "final_blur_sigma"),
        ({"fourier_exponent": -0.1}, "fourier_exponent"),
        ({"contrast_weight": -2.0}, "contrast_weight"),
        ({"contrast_weight": "2"}, "contrast_weight"),
        ({"method": "notebook", "budget": True}, "meis.budget"),
        ({"budget": "yes"}, "budget"),
        ({"budget": False, "polish": True}, "meis.polish"),
    ],
)
def test_bad_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MEISettings(**kwargs)


def test_bad_synthesize_arguments_raise():
    filters = gabor_filters()
    initial = initial_images(3, H, W, ["noise:0"], seed=0)
    with pytest.raises(ValueError, match="target_std"):
        synthesize(linear_response(filters), initial, MEISettings("notebook", steps=2), 0.0)
    with pytest.raises(ValueError, match="response must map"):
        synthesize(
            lambda x: x.sum(dim=(1, 2, 3)), initial, MEISettings("notebook", steps=2), C_STAR
        )
    with pytest.raises(ValueError, match="initial"):
        synthesize(linear_response(filters), initial[0], MEISettings("notebook", steps=2), C_STAR)


def test_initial_images():
    images = initial_images(4, H, W, ["noise:0", "noise:1", "black", "gray", "gray:0"], seed=9)
    assert images.shape == (4, 5, H, W) and images.dtype == torch.float32
    assert torch.equal(images[0], images[3])  # the same starts for every unit
    noise = images[0, 0]
    assert (noise.min(), noise.max()) == (0.0, 1.0)
    assert not torch.allclose(images[0, 0], images[0, 1])
    expected = torch.randn(H, W, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    assert pearson(noise.numpy(), expected.numpy()) == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(images[:, 2], torch.zeros(4, H, W))
    assert torch.equal(images[:, 3], torch.full((4, H, W), 0.5))
    gray_noise = images[0, 4] - 0.5
    assert 0.005 < gray_noise.std() < 0.02 and gray_noise.abs().max() < 0.1
    assert pearson(gray_noise.numpy(), expected.numpy()) == pytest.approx(1.0, abs=1e-6)
    same = initial_images(1, H, W, ["noise:1"], seed=9, dtype=torch.float64)
    assert torch.allclose(same[0, 0].float(), images[0, 1])
    for kind in ("noise", "noise:x", "white:0", "black:1", "gray:"):
        with pytest.raises(ValueError, match=repr(kind)):
            initial_images(1, H, W, ["black", kind], seed=0)
    with pytest.raises(ValueError, match="sequence of kinds"):
        initial_images(1, H, W, "noise:0", seed=0)


# ----------------------------------------------------------------------------------------------
# 4. The contrast term


def test_one_walker_step_follows_the_objective_gradient():
    """One step without preconditioning or blur moves along the analytic gradient of
    <f, x - 0.5> - w |C* - std(x)|, scaled so that its mean |step| is step_gain * step * C*."""
    filters = gabor_filters()
    initial = initial_images(3, H, W, ["gray:0", "gray:1"], seed=4)  # std 0.01 < C*
    weight = 20.0
    settings = MEISettings(
        "walker", 1, fourier_exponent=0.0, blur_sigma=1e-3, contrast_weight=weight
    )
    result = synthesize(linear_response(filters), initial, settings, C_STAR)
    x = initial.double()
    centred = x - x.mean(dim=(-2, -1), keepdim=True)
    std = centred.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt()
    gradient = filters[:, None].double() + weight * centred / (H * W * std)
    expected = gradient / gradient.abs().mean(dim=(-2, -1), keepdim=True) * (3.0 * 0.1 / 255)
    step = (result.images - initial).double()
    torch.testing.assert_close(step, expected * C_STAR, atol=2e-7, rtol=1e-4)


@pytest.mark.parametrize("target", [C_STAR, 0.05])
def test_contrast_term_reaches_target_std(target):
    """With a flat response the objective is -w |C* - std|: the std goes to C* from below
    (noise starts have std ~0.15) and from above."""
    initial = initial_images(2, H, W, ["noise:0", "noise:1"], seed=1)
    settings = MEISettings("walker", 150, step_gain=0.01, contrast_weight=2.0)
    result = synthesize(lambda x: 0.0 * x.sum(dim=(-2, -1)), initial, settings, target)
    final_std = result.images.std(dim=(-2, -1), correction=0)
    assert (abs(result.std_trace[..., 0] - target) > 0.08).all()
    torch.testing.assert_close(final_std, torch.full((2, 2), target), atol=0.1 * target, rtol=0)


# ----------------------------------------------------------------------------------------------
# Helpers


def test_gaussian_blur_matches_scipy():
    images = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for sigma in (0.5, 1.5, 2.0):
        expected = scipy.ndimage.gaussian_filter(
            images.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=4.0
        )
        np.testing.assert_allclose(gaussian_blur(images, sigma).numpy(), expected, atol=1e-12)
    wide = gaussian_blur(images, 7.0)  # radius 28 along x, limited to 29 rows along y
    assert wide.shape == images.shape
    assert (wide.amin(dim=(-2, -1)) >= images.amin(dim=(-2, -1))).all()
    assert (wide.amax(dim=(-2, -1)) <= images.amax(dim=(-2, -1))).all()
    torch.testing.assert_close(gaussian_blur(images, 0.001), images)
    flat = torch.full((1, 5, 8), 0.3)
    torch.testing.assert_close(gaussian_blur(flat, 40.0), flat)


def test_fourier_weights():
    height, width, exponent = 6, 8, 0.25
    w = fourier_weights(height, width, exponent, torch.device("cpu"), torch.float64)
    assert w.shape == (height, width // 2 + 1)
    # full-grid mean 1: columns 1 .. width/2 - 1 appear twice in the full spectrum
    full_sum = w[:, 0].sum() + w[:, -1].sum() + 2 * w[:, 1:-1].sum()
    assert float(full_sum) / (height * width) == pytest.approx(1.0)
    # 1 / |f|^a: bin (0, 1) is 1/8 cycles/px, bin (1, 0) 1/6, bin (3, 4) sqrt(0.5^2 + 0.5^2)
    assert float(w[0, 1] / w[1, 0]) == pytest.approx((6 / 8) ** -exponent)
    assert float(w[3, 4] / w[0, 1]) == pytest.approx((np.sqrt(0.5) * 8) ** -exponent)
    assert float(w[0, 0]) == pytest.approx(float(w[0, 1]))  # DC = lowest non-zero frequency
    ones = fourier_weights(height, width, 0.0, torch.device("cpu"), torch.float32)
    torch.testing.assert_close(ones, torch.ones(height, width // 2 + 1))


def test_init_similarity_and_best_init():
    generator = torch.Generator().manual_seed(8)
    images = torch.rand(3, 4, H, W, generator=generator, dtype=torch.float64)
    images[1] = images[1, :1] * 2.0 + torch.arange(4.0, dtype=torch.float64)[:, None, None]
    similarity = init_similarity(images)
    for u in (0, 2):
        matrix = np.corrcoef(images[u].reshape(4, -1).numpy())
        expected = matrix[np.triu_indices(4, 1)].mean()
        assert float(similarity[u]) == pytest.approx(expected, abs=1e-12)
    assert float(similarity[1]) == pytest.approx(1.0)  # the same pattern, other gain and offset
    assert torch.isnan(init_similarity(images[:, :1])).all()
    response = torch.tensor([[0.1, 0.5, 0.2], [3.0, 1.0, 2.0]])
    result = MEIResult(
        torch.zeros(2, 3, 4, 4), response, torch.zeros(2, 3, 1), torch.zeros(2, 3, 1)
    )
    assert best_init(result).tolist() == [1, 0]
