import math

import numpy as np
import pytest
import torch

from meiflow.mei.gabor_search import (
    GaborGrid,
    best_gabors,
    canonical_parameters,
    match_mean_std,
    recorded_best_gabor,
    render_gabor,
)
from meiflow.stimuli.gabor import allen_gabor_stimulus, gabor
from meiflow.stimuli.geometry import ScreenGeometry

GEOM = ScreenGeometry()
HEIGHT, WIDTH = 30, 48
X, Y = GEOM.pixel_grid(HEIGHT, WIDTH)
PIXELS = (torch.as_tensor(X), torch.as_tensor(Y))
PPD = float(np.mean(GEOM.pixels_per_degree(HEIGHT, WIDTH)))
GRID = GaborGrid(
    phases=(0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi),
    wavelengths_px=(6.0, 12.0),
    orientations=(0.0, 30.0, 60.0, 90.0, 120.0, 150.0),
    sigmas_px=(4.0,),
    n_y=4,
    n_x=6,
)
N_GRID = 4 * 2 * 6 * 1 * 4 * 6
STD = 0.05  # small enough that no matched image of these tests is clipped


pytestmark = pytest.mark.usefixtures("one_thread")


def deg_parameters(col, row, orientation, wavelength_px, phase, sigma_px):
    """(6,) parameters in deg from a position in pixels and sizes in pixels (mean ppd)."""
    cx, cy = GEOM.pixel_to_deg(col, row, HEIGHT, WIDTH)
    return [float(cx), float(cy), orientation, PPD / wavelength_px, phase, sigma_px / PPD]


def linear_response(filters: np.ndarray):
    """Unit u responds <filters[u], image - 0.5>: images (n_units, n, H, W) -> (n_units, n)."""
    f = torch.as_tensor(filters)

    def response(images):
        return torch.einsum("uchw,uhw->uc", images - 0.5, f.to(images))

    return response


def stats(n_units, mean=0.5, dtype=torch.float64):
    return torch.full((n_units,), mean, dtype=dtype), torch.full((n_units,), STD, dtype=dtype)


# off the grid in every parameter (orientation, wavelength, sigma, position, phase)
TRUTH = np.array(
    [
        deg_parameters(17.3, 11.6, 35.0, 9.0, 1.0, 4.5),
        deg_parameters(30.6, 18.2, 100.0, 8.0, 2.5, 3.5),
        deg_parameters(9.4, 20.7, 163.0, 10.0, 4.0, 5.0),
    ]
)
FILTERS = gabor(X, Y, *TRUTH.T[:, :, None])[:, 0]


def test_torch_rendering_equals_numpy_gabor():
    rng = np.random.default_rng(0)
    params = np.stack(
        [
            rng.uniform(-50, 50, 5),
            rng.uniform(-40, 40, 5),
            rng.uniform(-360, 360, 5),
            rng.uniform(0.01, 0.1, 5),
            rng.uniform(-7, 7, 5),
            rng.uniform(3, 20, 5),
        ],
        axis=1,
    )
    expected = gabor(X, Y, *params.T)
    rendered = render_gabor(*PIXELS, torch.as_tensor(params))
    assert rendered.shape == (5, HEIGHT, WIDTH) and rendered.dtype == torch.float64
    np.testing.assert_allclose(rendered.numpy(), expected, rtol=0, atol=1e-13)
    # differentiable in every parameter
    small = tuple(p[::10, ::12] for p in PIXELS)
    start = torch.as_tensor(params[:2]).requires_grad_()
    assert torch.autograd.gradcheck(lambda p: render_gabor(*small, p), (start,))


def test_match_mean_std_sets_mean_and_std_and_documents_clipping():
    rng = np.random.default_rng(1)
    patches = torch.as_tensor(gabor(X, Y, *TRUTH.T[:, :, None]))  # (3, 1, H, W)
    mean = torch.tensor([0.3, 0.5, 0.6], dtype=torch.float64)
    std = torch.tensor([0.02, 0.05, 0.04], dtype=torch.float64)
    images = match_mean_std(patches, mean, std)
    assert images.shape == patches.shape
    np.testing.assert_allclose(images.mean((-2, -1))[:, 0], mean, atol=1e-12)
    np.testing.assert_allclose(images.std((-2, -1), unbiased=False)[:, 0], std, atol=1e-12)
    # affine in the patch: correlation 1 with it
    for u in range(3):
        assert np.corrcoef(images[u, 0].ravel(), patches[u, 0].ravel())[0, 1] > 1 - 1e-12
    # a high contrast is clipped to [0, 1] and loses std
    noise = torch.as_tensor(rng.normal(size=(1, 2, HEIGHT, WIDTH)) ** 3)
    clipped = match_mean_std(noise, torch.tensor([0.5]).double(), torch.tensor([0.6]).double())
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    assert (clipped.std((-2, -1), unbiased=False) < 0.6).all()
    # a constant patch becomes the mean, without NaN
    flat = match_mean_std(torch.ones(1, 1, 4, 5), torch.tensor([0.4]), torch.tensor([0.1]))
    torch.testing.assert_close(flat, torch.full((1, 1, 4, 5), 0.4))


def test_canonical_parameters_render_the_same_gabor():
    rng = np.random.default_rng(2)
    params = torch.as_tensor(np.tile(TRUTH[:1], (50, 1)))
    params[:, 2] = torch.as_tensor(rng.uniform(-700, 700, 50))
    params[:, 4] = torch.as_tensor(rng.uniform(-20, 20, 50))
    canonical = canonical_parameters(params)
    assert (canonical[:, 2] >= 0).all() and (canonical[:, 2] < 180).all()
    assert (canonical[:, 4] >= 0).all() and (canonical[:, 4] < 2 * math.pi).all()
    torch.testing.assert_close(canonical[:, [0, 1, 3, 5]], params[:, [0, 1, 3, 5]])
    torch.testing.assert_close(
        render_gabor(*PIXELS, canonical), render_gabor(*PIXELS, params), rtol=0, atol=1e-9
    )


def test_walker_grid():
    walker = GaborGrid.walker(36, 64)
    assert walker.wavelengths_px == (4, 7, 10, 15, 20) and walker.sigmas_px == (2, 3, 5, 7, 9)
    assert len(walker.phases) == 4 and len(walker.orientations) == 8
    assert walker.orientations[1] == 22.5 and walker.phases[2] == pytest.approx(math.pi)
    assert walker.n_shapes * walker.n_y * walker.n_x == 72_800
    ours = GaborGrid.walker(60, 96)
    np.testing.assert_allclose(ours.wavelengths_px, np.array([4, 7, 10, 15, 20]) * 60 / 36)
    np.testing.assert_allclose(ours.sigmas_px, np.array([2, 3, 5, 7, 9]) * 60 / 36)
    assert (ours.n_y, ours.n_x) == (7, 12)  # Walker's spacing: 64 / 13 px of 36 x 64
    with pytest.raises(ValueError):
        GaborGrid(
            phases=(), wavelengths_px=(1.0,), orientations=(0.0,), sigmas_px=(1.0,), n_y=1, n_x=1
        )
    with pytest.raises(ValueError):
        GaborGrid((0.0,), (0.0,), (0.0,), (1.0,), 1, 1)


def test_grid_finds_a_filter_on_the_grid_exactly():
    # grid position (row 2, col 3): pixel centre (2.5 * 30 / 4 - 0.5, 3.5 * 48 / 6 - 0.5)
    truth = np.array([deg_parameters(27.5, 18.25, 60.0, 12.0, math.pi, 4.0)])
    filters = gabor(X, Y, *truth.T[:, :, None])[:, 0]
    mean, std = stats(1)
    response = linear_response(filters)
    found = best_gabors(response, 1, mean, std, HEIGHT, WIDTH, GEOM, GRID, refine_steps=0)
    np.testing.assert_allclose(found.parameters.numpy(), truth, rtol=1e-12, atol=1e-12)
    optimum = response(match_mean_std(torch.as_tensor(filters)[:, None], mean, std))[:, 0]
    torch.testing.assert_close(found.response, optimum)
    torch.testing.assert_close(found.grid_response, optimum)
    # nothing beats the filter itself (Cauchy-Schwarz): refinement keeps it
    refined = best_gabors(response, 1, mean, std, HEIGHT, WIDTH, GEOM, GRID, refine_steps=20)
    assert refined.response.item() == pytest.approx(optimum.item(), rel=1e-9)


def test_search_recovers_off_grid_filters():
    mean, std = stats(3)
    response = linear_response(FILTERS)
    found = best_gabors(response, 3, mean, std, HEIGHT, WIDTH, GEOM, GRID, top_k=4)
    params = found.parameters.numpy()
    assert found.images.shape == (3, HEIGHT, WIDTH) and found.response.shape == (3,)
    difference = (params[:, 2] - TRUTH[:, 2] + 90) % 180 - 90
    assert np.abs(difference).max() < 10
    col, row = GEOM.deg_to_pixel(params[:, 0], params[:, 1], HEIGHT, WIDTH)
    true_col, true_row = GEOM.deg_to_pixel(TRUTH[:, 0], TRUTH[:, 1], HEIGHT, WIDTH)
    assert np.hypot(col - true_col, row - true_row).max() < 2
    # refinement beats the grid (the truth is off it) and gets close to the optimum
    assert (found.response > found.grid_response + 0.05 * found.grid_response.abs()).all()
    optimum = response(match_mean_std(torch.as_tensor(FILTERS)[:, None], mean, std))[:, 0]
    assert (found.response <= optimum + 1e-9).all()
    assert (found.response > 0.99 * optimum).all()
    # the images are the matched renderings of the parameters, with the MEI's mean and std
    expected = match_mean_std(render_gabor(*PIXELS, found.parameters)[:, None], mean, std)[:, 0]
    torch.testing.assert_close(found.images, expected)
    torch.testing.assert_close(found.response, response(found.images[:, None])[:, 0])
    assert found.images.min() > 0 and found.images.max() < 1  # no clipping
    torch.testing.assert_close(found.images.mean((1, 2)), mean)
    torch.testing.assert_close(found.images.std((1, 2), unbiased=False), std)


def test_units_are_independent_and_batch_size_does_not_matter():
    mean = torch.tensor([0.45, 0.5, 0.55], dtype=torch.float64)
    std = torch.full((3,), STD, dtype=torch.float64)
    settings = dict(top_k=3, refine_steps=30)
    together = best_gabors(
        linear_response(FILTERS),
        3,
        mean,
        std,
        HEIGHT,
        WIDTH,
        GEOM,
        GRID,
        batch_size=1000,
        **settings,
    )
    for u in range(3):
        alone = best_gabors(
            linear_response(FILTERS[u : u + 1]),
            1,
            mean[u : u + 1],
            std[u : u + 1],
            HEIGHT,
            WIDTH,
            GEOM,
            GRID,
            batch_size=37,
            **settings,
        )
        torch.testing.assert_close(alone.parameters[0], together.parameters[u])
        torch.testing.assert_close(alone.images[0], together.images[u])
        torch.testing.assert_close(alone.response[0], together.response[u])
        torch.testing.assert_close(alone.grid_response[0], together.grid_response[u])


def test_grid_is_evaluated_in_batches():
    calls = []
    response = linear_response(FILTERS[:2])

    def counted(images):
        calls.append(images.shape[1])
        return response(images)

    mean, std = stats(2)
    best_gabors(counted, 2, mean, std, HEIGHT, WIDTH, GEOM, GRID, batch_size=100, refine_steps=0)
    # grid in batches of 100, then the refinement's evaluation of the start, then the final pair
    assert calls[:-2] == [100] * (N_GRID // 100) + [N_GRID % 100]
    assert calls[-2:] == [8, 2]


def test_window_restricts_grid_positions_around_centres():
    calls = []
    response = linear_response(FILTERS[:2])

    def counted(images):
        calls.append(images.shape[1])
        return response(images)

    mean, std = stats(2, dtype=torch.float32)
    # unit 0: centre at the top-left corner of the screen; unit 1: at the true position
    centers = np.array([[-60.0, 47.5], TRUTH[1, :2]])
    found = best_gabors(
        counted,
        2,
        mean,
        std,
        HEIGHT,
        WIDTH,
        GEOM,
        GRID,
        refine_steps=0,
        centers_deg=centers,
        window=(1, 1),
    )
    assert found.parameters.dtype == torch.float32
    assert sum(calls[:-2]) == GRID.n_shapes
    corner = GEOM.pixel_to_deg(0.5 * 48 / 6 - 0.5, 0.5 * 30 / 4 - 0.5, HEIGHT, WIDTH)
    np.testing.assert_allclose(found.parameters[0, :2].numpy(), corner, rtol=1e-6)
    # the grid position nearest to the truth (col 30.6 -> cell 3, row 18.2 -> cell 2)
    nearest = GEOM.pixel_to_deg(3.5 * 48 / 6 - 0.5, 2.5 * 30 / 4 - 0.5, HEIGHT, WIDTH)
    np.testing.assert_allclose(found.parameters[1, :2].numpy(), nearest, rtol=1e-6)
    calls.clear()
    larger = best_gabors(
        counted,
        2,
        mean,
        std,
        HEIGHT,
        WIDTH,
        GEOM,
        GRID,
        refine_steps=0,
        centers_deg=centers,
        window=(2, 3),
    )
    assert sum(calls[:-2]) == GRID.n_shapes * 6
    assert (larger.grid_response >= found.grid_response - 1e-5).all()


def test_best_gabors_rejects_bad_input():
    mean, std = stats(2)
    response = linear_response(FILTERS[:2])
    args = (HEIGHT, WIDTH, GEOM, GRID)
    with pytest.raises(ValueError):
        best_gabors(response, 3, mean, std, *args)
    with pytest.raises(ValueError):
        best_gabors(response, 2, mean, std[:1], *args)
    with pytest.raises(ValueError):
        best_gabors(response, 2, mean, std, *args, top_k=N_GRID + 1)
    with pytest.raises(ValueError):
        best_gabors(response, 2, mean, std, *args, batch_size=0)
    with pytest.raises(ValueError):
        best_gabors(response, 2, mean, std, *args, window=(1, 1))
    with pytest.raises(ValueError):
        best_gabors(response, 2, mean, std, *args, centers_deg=np.zeros((2, 2)), window=(5, 1))
    with pytest.raises(ValueError):
        best_gabors(response, 2, mean, std, *args, centers_deg=np.zeros((3, 2)), window=(1, 1))
    with pytest.raises(ValueError):
        best_gabors(lambda images: images.mean((-2, -1))[:1], 2, mean, std, *args)


# -- recorded ----------------------------------------------------------------------------------

ORIENTATIONS, XS, YS = (
    a.ravel()
    for a in np.meshgrid([0.0, 45.0, 90.0], [-30.0, 0.0, 30.0], [-20.0, 20.0], indexing="ij")
)


def test_recorded_best_gabor_averages_the_top_conditions():
    rng = np.random.default_rng(3)
    n_conditions = len(ORIENTATIONS)
    counts = rng.uniform(0, 1, (2, n_conditions))
    counts[0, [7, 3, 12]] = [5.0, 4.0, 3.0]
    counts[1, [2, 9]] = [6.0, 6.0]  # a tie: lower index first
    counts[1, 15] = 5.5
    images, ranked = recorded_best_gabor(counts, ORIENTATIONS, XS, YS, 3, GEOM, HEIGHT, WIDTH)
    np.testing.assert_array_equal(ranked, [[7, 3, 12], [2, 9, 15]])
    assert images.shape == (2, HEIGHT, WIDTH)
    for u in range(2):
        frames = [allen_gabor_stimulus(X, Y, XS[c], YS[c], ORIENTATIONS[c], 0.0) for c in ranked[u]]
        np.testing.assert_allclose(images[u], np.mean(frames, axis=0), atol=1e-12)
    single, top = recorded_best_gabor(counts, ORIENTATIONS, XS, YS, 1, GEOM, HEIGHT, WIDTH)
    np.testing.assert_array_equal(top[:, 0], [7, 2])
    np.testing.assert_allclose(single[0], allen_gabor_stimulus(X, Y, XS[7], YS[7], 45.0, 0.0))


def test_recorded_best_gabor_rejects_bad_input():
    counts = np.ones((2, len(ORIENTATIONS)))
    args = (GEOM, HEIGHT, WIDTH)
    with pytest.raises(ValueError):
        recorded_best_gabor(counts, ORIENTATIONS, XS, YS, len(ORIENTATIONS) + 1, *args)
    with pytest.raises(ValueError):
        recorded_best_gabor(counts, ORIENTATIONS, XS, YS, 0, *args)
    with pytest.raises(ValueError):
        recorded_best_gabor(counts[0], ORIENTATIONS, XS, YS, 1, *args)
    with pytest.raises(ValueError):
        recorded_best_gabor(counts, ORIENTATIONS[:-1], XS, YS, 1, *args)
    counts[0, 0] = np.nan
    with pytest.raises(ValueError):
        recorded_best_gabor(counts, ORIENTATIONS, XS, YS, 1, *args)
