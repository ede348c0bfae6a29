"""Figures of the MEI stage on small hand-made datasets: what they show, and empty areas."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from meiflow.plots import meis as plots
from meiflow.plots.base import save_figure

H, W = 12, 20
KINDS = ["mei", "recorded_gabor", "insilico_gabor"]


def texts(fig: Figure) -> str:
    return " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def make(n_units: int = 3, n_init: int = 2, steps: int = 7):
    rng = np.random.default_rng(0)
    units = np.arange(100, 100 + n_units)
    where = {"session_id": 5, "area": "VISp"}
    meis = xr.Dataset(
        {
            "mei": (("unit", "init", "y", "x"), rng.uniform(0, 1, (n_units, n_init, H, W))),
            "response": (("unit", "init"), rng.uniform(1, 3, (n_units, n_init))),
            "response_trace": (
                ("unit", "init", "step"),
                rng.uniform(0, 3, (n_units, n_init, steps)),
            ),
            "std_trace": (("unit", "init", "step"), rng.uniform(0, 0.3, (n_units, n_init, steps))),
            "best_init": ("unit", np.arange(n_units) % n_init),
            "init_similarity": ("unit", rng.uniform(0, 1, n_units)),
        },
        coords={"unit": units, "init": [f"noise:{k}" for k in range(n_init)]},
        attrs=where,
    )
    gabors = xr.Dataset(
        {
            "recorded_gabor": (("unit", "y", "x"), rng.uniform(0, 1, (n_units, H, W))),
            "insilico_gabor": (("unit", "y", "x"), rng.uniform(0, 1, (n_units, H, W))),
            "response_mei": ("unit", np.full(n_units, 3.0)),
            "response_insilico_gabor": ("unit", np.full(n_units, 2.0)),
            "response_recorded_gabor": ("unit", np.full(n_units, 1.0)),
            "response_best_scene": ("unit", np.r_[4.0, np.full(n_units - 1, 2.5)]),
        },
        coords={"unit": units},
        attrs=where,
    )
    fy, fx = np.fft.fftshift(np.fft.fftfreq(H)), np.fft.fftshift(np.fft.fftfreq(W))
    flagged = np.arange(n_units) == 1
    metrics = xr.Dataset(
        {
            "log_power": (
                ("unit", "image_kind", "fy", "fx"),
                rng.uniform(0, 1, (n_units, 3, H, W)),
            ),
            "deviation_outside_rf_mask": (("unit", "image_kind"), np.full((n_units, 3), 0.25)),
            "rf_mask_center_y": ("unit", np.full(n_units, 5.0)),
            "rf_mask_center_x": ("unit", np.arange(n_units) + 4.0),
            "rf_mask_radius": ("unit", np.full(n_units, 3.0)),
            "mei_flagged": ("unit", flagged),
            "mei_flag_reason": ("unit", np.where(flagged, "model r 0.41 < 0.60", "")),
        },
        coords={"unit": units, "image_kind": KINDS, "fy": fy, "fx": fx},
        attrs=where,
    )
    return meis, gabors, metrics


def test_gallery_one_panel_per_unit_with_its_best_init_mask_and_flag():
    meis, _, metrics = make(7)
    fig = plots.mei_gallery(meis, metrics)
    assert len(fig.axes) == 7
    shown = fig.axes[1].images[0].get_array()
    np.testing.assert_array_equal(shown, meis["mei"][1, 1])  # unit 1's best init is 1
    assert "unit 101" in texts(fig) and "session 5, VISp" in texts(fig)
    for k, ax in enumerate(fig.axes):  # the unit's own receptive-field mask
        (circle,) = ax.patches
        assert circle.center == (k + 4.0, 5.0) and circle.radius == 3.0
    assert "model r 0.41 < 0.60" in fig.axes[1].get_title()  # only unit 101 is flagged
    assert fig.axes[1].title.get_color() != fig.axes[0].title.get_color()
    assert "model r" not in fig.axes[0].get_title() and "out 0.25" in fig.axes[0].get_title()
    assert "budget unknown" in texts(fig)  # the file does not say
    meis.attrs.update(budget="stimulus budget", budget_mean=0.5, budget_contrast=0.2346)
    assert "on the stimulus budget (mean 0.500, RMS contrast <= 0.235)" in texts(
        plots.mei_gallery(meis, metrics)
    )
    meis.attrs["budget"] = "none"
    assert "pixels in [0, 1]" in texts(plots.mei_comparison(meis, *make(7)[1:]))


def test_initializations_grid_and_comparison_rows():
    meis, gabors, metrics = make(3, n_init=2)
    assert len(plots.mei_initializations(meis).axes) == 3 * 2
    fig = plots.mei_comparison(meis, gabors, metrics)
    assert len(fig.axes) == 3 * 7 + 3  # 7 panels per unit, plus the std axis of each trace
    assert "recorded Gabor: 1.00" in texts(fig)
    # unit 1's optimization traces are those of its best init (1), not of init 0
    trace = [ax for ax in fig.axes if ax.get_title().startswith("response (blue)")][1]
    std = fig.axes[fig.axes.index(trace) + 1]  # its twin axis
    np.testing.assert_array_equal(trace.lines[0].get_ydata(), meis["response_trace"][1, 1])
    np.testing.assert_array_equal(std.lines[0].get_ydata(), meis["std_trace"][1, 1])


def test_responses_count_the_wins_of_the_mei():
    _, gabors, _ = make(3)
    fig = plots.mei_responses(gabors)
    assert "best natural scene (MEI higher: 2/3)" in texts(fig)
    assert "in-silico best Gabor (MEI higher: 3/3)" in texts(fig)


@pytest.mark.parametrize(
    "name", ["mei_gallery", "mei_initializations", "mei_comparison", "mei_responses"]
)
def test_empty_area(name, tmp_path):
    meis, gabors, metrics = (ds.isel(unit=slice(0, 0)) for ds in make())
    for ds in (meis, gabors, metrics):
        ds.attrs["empty_reason"] = "no unit of the area passed the selection rule"
    args = {
        "mei_gallery": (meis, metrics),
        "mei_comparison": (meis, gabors, metrics),
        "mei_responses": (gabors,),
    }
    fig = getattr(plots, name)(*args.get(name, (meis,)))
    assert "no MEI in this area" in texts(fig) and "selection rule" in texts(fig)
    path = save_figure(fig, tmp_path / f"{name}.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
