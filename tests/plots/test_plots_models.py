"""Tests of meiflow.plots.models on synthetic model_scores datasets."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from meiflow.models.scores import MODELS
from meiflow.plots import models as plots
from meiflow.plots.base import save_figure

pytestmark = pytest.mark.filterwarnings("error")  # the figures must not spill warnings

N_FRAMES = 20
N_EPOCHS = 10
SPLITS = np.array(["train"] * 12 + ["validation"] * 4 + ["test"] * 4)


# --------------------------------------------------------------------------- synthetic data


def make_scores(n_units: int = 5, seed: int = 0) -> xr.Dataset:
    """One area's model scores, best first, models stopping at different epochs."""
    rng = np.random.default_rng(seed)
    units = rng.choice(np.arange(100, 1000), n_units, replace=False)
    test_r = np.sort(rng.uniform(0.1, 0.8, n_units))[::-1]
    rate = rng.gamma(2.0, 1.0, (n_units, N_FRAMES))
    epochs = np.arange(N_EPOCHS)
    validation = np.full((n_units, N_EPOCHS), np.nan)
    loss = np.full((n_units, N_EPOCHS), np.nan)
    best = np.zeros(n_units, np.int64)
    for i in range(n_units):
        stop = int(rng.integers(5, N_EPOCHS + 1))
        curve = test_r[i] * (1 - np.exp(-(epochs[:stop] + 1) / 2.0)) + rng.normal(0, 0.02, stop)
        validation[i, :stop] = curve
        loss[i, :stop] = 1.0 + np.exp(-epochs[:stop] / 3.0)
        best[i] = int(np.argmax(curve))
    test_rs = [
        test_r,
        test_r * rng.uniform(0.8, 1.2, n_units),
        test_r * rng.uniform(0.5, 1.1, n_units),
    ]
    return xr.Dataset(
        {
            "test_correlation": (("model", "unit"), np.stack(test_rs)),
            "validation_correlation": (("model", "unit"), np.stack(test_rs) + 0.05),
            "feve": (("model", "unit"), np.stack(test_rs) ** 2),
            "best_epoch": ("unit", best),
            "predicted_rate": (
                ("model", "unit", "frame"),
                np.stack([rate, rate * 0.9, rate * 0.8]),
            ),
            "train_loss": (("unit", "epoch"), loss),
            "validation_curve": (("unit", "epoch"), validation),
        },
        coords={
            "model": list(MODELS),
            "unit": units,
            "frame": np.arange(N_FRAMES),
            "split": ("frame", SPLITS),
            "epoch": epochs,
        },
        attrs={"session_id": 715093703, "area": "VISp"},
    )


def make_observed(scores: xr.Dataset, seed: int = 1) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    rate = scores["predicted_rate"].sel(model="per_neuron", drop=True)
    return (rate + rng.normal(0, 0.3, rate.shape)).clip(min=0).rename("observed")


def empty_scores() -> xr.Dataset:
    """What collect_models writes for an area without a selected unit."""
    return xr.Dataset(
        coords={"unit": np.array([], dtype=np.int64)},
        attrs={"empty_reason": "no unit of the area passed the selection rule"},
    )


def texts(fig: Figure) -> str:
    """Every text of the figure, joined (titles, labels, notes)."""
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def by_gid(ax, gid: str) -> list:
    return [c for c in ax.get_children() if c.get_gid() == gid]


# -------------------------------------------------------------------------------------- tests


def test_training_curves_one_line_and_marker_per_unit():
    scores = make_scores(4)
    fig = plots.training_curves(scores)
    assert isinstance(fig, Figure)
    ax, ax_loss = fig.axes
    for a in (ax, ax_loss):
        assert len(by_gid(a, "unit")) == 4
        assert len(by_gid(a, "best_epoch")) == 4
    marker = by_gid(ax, "best_epoch")[0]
    first = scores.isel(unit=0)
    best = int(first["best_epoch"])
    assert marker.get_xdata()[0] == best
    assert marker.get_ydata()[0] == pytest.approx(float(first["validation_curve"][best]))
    assert "VISp" in texts(fig)


def test_training_curves_max_units():
    fig = plots.training_curves(make_scores(5), max_units=3)
    assert len(by_gid(fig.axes[0], "unit")) == 3
    assert "best 3 of 5 units" in texts(fig)


def test_predicted_vs_observed_panels_and_test_highlight():
    scores = make_scores(5)
    observed = make_observed(scores)
    fig = plots.predicted_vs_observed(scores, observed, max_units=12)
    assert len(fig.axes) == 5
    for ax in fig.axes:
        (fit,) = by_gid(ax, "fit")
        (test,) = by_gid(ax, "test")
        assert len(test.get_offsets()) == int((SPLITS == "test").sum())
        assert len(fit.get_offsets()) + len(test.get_offsets()) == N_FRAMES
        assert len(by_gid(ax, "identity")) == 1
    assert "test r=" in fig.axes[0].get_title()
    assert fig.legends and "test scenes" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_predicted_vs_observed_subset_of_units_and_frames():
    scores = make_scores(5)
    observed = make_observed(scores).isel(unit=[1, 3], frame=slice(0, 18))  # 2 test scenes left
    fig = plots.predicted_vs_observed(scores, observed, max_units=1)
    assert len(fig.axes) == 1
    assert str(scores["unit"].to_numpy()[1]) in fig.axes[0].get_title()
    assert len(by_gid(fig.axes[0], "test")[0].get_offsets()) == 2


def test_cnn_vs_linear_one_point_per_unit_and_cnn():
    scores = make_scores(5)
    fig = plots.cnn_vs_linear(scores)
    (ax,) = fig.axes
    for model in ("per_neuron", "shared_core"):
        (points,) = by_gid(ax, f"unit:{model}")
        offsets = np.asarray(points.get_offsets())
        assert offsets.shape == (5, 2)
        np.testing.assert_allclose(offsets[:, 0], scores["test_correlation"].sel(model="linear"))
        np.testing.assert_allclose(offsets[:, 1], scores["test_correlation"].sel(model=model))
        median = float(np.median(scores["test_correlation"].sel(model=model)))
        assert f"{plots.MODEL_LABELS[model]} {median:.2f}" in texts(fig)
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim() == (0.0, 1.0)
    # without a shared core: the per-neuron CNNs alone
    fig = plots.cnn_vs_linear(scores.sel(model=["per_neuron", "linear"]))
    assert not by_gid(fig.axes[0], "unit:shared_core")


def test_cnn_vs_linear_negative_and_nan():
    scores = make_scores(4)
    scores["test_correlation"].loc["linear", scores["unit"][0]] = -0.2
    scores["test_correlation"].loc["per_neuron", scores["unit"][1]] = np.nan
    fig = plots.cnn_vs_linear(scores)
    (ax,) = fig.axes
    assert len(by_gid(ax, "unit:per_neuron")[0].get_offsets()) == 3
    assert len(by_gid(ax, "unit:shared_core")[0].get_offsets()) == 4
    assert ax.get_xlim()[0] < -0.2 and ax.get_xlim()[1] == 1.0
    assert "per-neuron CNN: 1 unit with a NaN r left out" in texts(fig)
    assert "shared core: " not in texts(fig)  # no NaN of its own
    # NaNs in different units: each unit's linear r counts once in the median
    scores = make_scores(4)
    scores["test_correlation"].loc["linear"] = [0.1, 0.2, 0.3, 0.9]
    scores["test_correlation"].loc["shared_core", scores["unit"][:3]] = np.nan
    assert "linear 0.25" in texts(plots.cnn_vs_linear(scores))


@pytest.mark.parametrize("name", ["training_curves", "predicted_vs_observed", "cnn_vs_linear"])
def test_empty_scores(name, tmp_path):
    scores = empty_scores()
    args = (scores, make_observed(make_scores(3))) if name == "predicted_vs_observed" else (scores,)
    fig = getattr(plots, name)(*args)
    assert isinstance(fig, Figure)
    assert "no trained model" in texts(fig)
    assert "selection rule" in texts(fig)
    path = save_figure(fig, tmp_path / f"{name}.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_figure_writes_png(tmp_path):
    scores = make_scores(3)
    figures = {
        "curves": plots.training_curves(scores),
        "scatter": plots.predicted_vs_observed(scores, make_observed(scores)),
        "linear": plots.cnn_vs_linear(scores),
    }
    for name, fig in figures.items():
        path = save_figure(fig, tmp_path / "out" / f"{name}.png")
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def ground_truth_units(shared_core: bool = True):
    import pandas as pd

    kinds = ["simple", "simple", "complex", "conjunction", "conjunction", "untuned"]
    table = pd.DataFrame(
        {
            "unit": np.arange(6),
            "cell_type": kinds,
            "linear_true_rate_correlation": [0.3, 0.5, 0.1, 0.0, 0.2, 0.0],
            "per_neuron_true_rate_correlation": [0.8, 0.6, 0.5, 0.3, 0.1, 0.0],
            "linear_heldout_correlation": [0.2, 0.4, 0.0, 0.1, 0.1, 0.0],
            "per_neuron_heldout_correlation": [0.7, 0.5, 0.4, 0.2, 0.0, 0.1],
        }
    )
    if shared_core:
        table["shared_core_true_rate_correlation"] = [0.9, 0.7, 0.6, 0.5, 0.3, 0.0]
        table["shared_core_heldout_correlation"] = [0.8, 0.4, 0.5, 0.5, 0.4, 0.2]
    return table


def test_model_comparison_medians_per_type_and_paired_units():
    fig = plots.model_comparison(ground_truth_units(), session=7)
    test, heldout, paired = fig.axes[:3]
    (shared,) = [line for line in heldout.lines if line.get_gid() == "heldout:shared_core"]
    np.testing.assert_allclose(shared.get_ydata(), [0.6, 0.5, 0.45])  # simple, complex, conj.
    (linear,) = [line for line in test.lines if line.get_gid() == "true_rate:linear"]
    np.testing.assert_allclose(linear.get_ydata(), [0.4, 0.1, 0.1])
    points = {c.get_gid(): c.get_offsets() for c in paired.collections}
    np.testing.assert_allclose(points["units:conjunction"], [[0.2, 0.5], [0.0, 0.4]])
    assert "units:untuned" not in points  # untuned units have no type to compare
    labels = [t.get_text() for t in paired.get_legend().get_texts()]
    assert "conjunction, n = 2 (median gain 0.35)" in labels
    assert "simple, n = 2 (median gain 0.00)" in labels
    assert "session 7, all areas" in texts(fig)


def test_model_comparison_without_a_shared_core_or_units(tmp_path):
    fig = plots.model_comparison(ground_truth_units(shared_core=False), session=7)
    assert not [line for line in fig.axes[1].lines if "shared_core" in str(line.get_gid())]
    assert "no shared core (models.kind)" in texts(fig)
    empty = plots.model_comparison(ground_truth_units().iloc[5:], session=7)  # untuned only
    assert "no modelled tuned unit" in texts(empty)
    assert save_figure(empty, tmp_path / "empty.png").read_bytes()[:4] == b"\x89PNG"
