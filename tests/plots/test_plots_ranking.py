"""Tests of meiflow.plots.ranking on synthetic datasets with the layouts the workflow writes."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from meiflow.plots import ranking as plots
from meiflow.plots.base import save_figure

pytestmark = pytest.mark.filterwarnings("error")  # the figures must not spill warnings

SESSION = 715093703
AREA = "VISp"
RF_X = np.arange(-40.0, 41.0, 10.0)
RF_Y = np.arange(-30.0, 31.0, 10.0)  # not square: catches swapped axes


# --------------------------------------------------------------------------- synthetic data


def make_ranking(
    n_units: int = 30, n_invalid: int = 3, n_selected: int = 6, seed: int = 0, area: str = AREA
) -> xr.Dataset:
    """One area's ranking table, sorted best first; the invalid units last with NaN scores."""
    rng = np.random.default_rng(seed)
    n_valid = n_units - n_invalid
    units = rng.choice(np.arange(100, 100 + 10 * n_units), n_units, replace=False)
    oracle = np.concatenate((np.sort(rng.uniform(0.0, 0.9, n_valid))[::-1], [np.nan] * n_invalid))
    valid = np.isfinite(oracle)
    variance = np.where(valid, 10.0 ** rng.uniform(-2.5, 1.0, n_units), np.nan)
    entropy = np.where(valid, rng.uniform(1.0, 4.0, n_units), np.nan)
    selected = np.zeros(n_units, np.int8)
    selected[rng.choice(n_valid, min(n_selected, n_valid), replace=False)] = 1
    anomaly = np.zeros(n_units, np.int8)
    anomaly[rng.choice(n_valid, min(3, n_valid), replace=False)] = 1
    cx = rng.uniform(-30, 30, n_units)
    cy = rng.uniform(-20, 20, n_units)
    gx, gy = np.meshgrid(RF_X, RF_Y)  # (rf_y, rf_x)
    rf_map = 1.0 + 4.0 * np.exp(
        -((gx - cx[:, None, None]) ** 2 + (gy - cy[:, None, None]) ** 2) / (2 * 12.0**2)
    )
    rf_map += rng.uniform(0, 0.5, rf_map.shape)
    p_value = 10.0 ** rng.uniform(-5, 0, n_units)
    ds = xr.Dataset(
        {
            "rank": ("unit", np.arange(1, n_units + 1)),
            "oracle": ("unit", oracle),
            "oracle_notebook": ("unit", oracle * 0.9),
            "fev": ("unit", oracle**2),
            "response_variance": ("unit", variance),
            "mean_rate": ("unit", rng.uniform(0.5, 20, n_units)),
            "entropy": ("unit", entropy),
            "max_correlation": ("unit", np.where(valid, rng.uniform(0, 0.8, n_units), np.nan)),
            "max_correlation_unit": ("unit", np.where(valid, units[::-1], -1)),
            "anomaly_score": ("unit", np.where(valid, rng.uniform(-0.2, 0.2, n_units), np.nan)),
            "anomaly": ("unit", anomaly),
            "selected": ("unit", selected),
            "reason": ("unit", np.where(valid, "", "too few spikes")),
            "rf_map": (("unit", "rf_y", "rf_x"), rf_map),
            "rf_center_x": ("unit", cx),
            "rf_center_y": ("unit", cy),
            "rf_p_value": ("unit", p_value),
            "rf_significant": ("unit", p_value < 0.01),
        },
        coords={"unit": units, "rf_y": RF_Y, "rf_x": RF_X},
        attrs={"session_id": SESSION, "area": area},
    )
    return ds


def session_units(ranking: xr.Dataset, n_other: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The session's unit ids (the area's, shuffled, and another area's) and their areas."""
    rng = np.random.default_rng(1)
    own = rng.permutation(ranking["unit"].to_numpy())
    units = np.concatenate((own, 90000 + np.arange(n_other)))
    areas = np.array([ranking.attrs["area"]] * own.size + ["LGd"] * n_other)
    return units, areas


def make_counts(ranking: xr.Dataset, n_images: int = 20, repeats: int = 5) -> xr.Dataset:
    """Natural-scene counts: Poisson around a per-image tuning; invalid units silent."""
    rng = np.random.default_rng(2)
    units, areas = session_units(ranking)
    frames = np.repeat(np.arange(-1, n_images), repeats)
    rng.shuffle(frames)
    tuning = rng.gamma(2.0, 1.5, (n_images + 1, units.size))
    counts = rng.poisson(tuning[frames + 1])
    invalid = ranking["unit"].to_numpy()[~np.isfinite(ranking["oracle"].to_numpy())]
    counts[:, np.isin(units, invalid)] = 0
    return xr.Dataset(
        {"spike_counts": (("presentation", "unit"), counts.astype(np.int32))},
        coords={
            "presentation": np.arange(frames.size),
            "unit": units,
            "frame": ("presentation", frames),
            "area": ("unit", areas),
        },
    )


def make_psth(ranking: xr.Dataset, latency_s: float = 0.06) -> xr.Dataset:
    rng = np.random.default_rng(3)
    units, areas = session_units(ranking)
    time = np.arange(-0.1, 0.5, 0.01) + 0.005
    gain = rng.uniform(2, 30, (units.size, 1))
    response = gain * np.exp(-((time - 0.09) ** 2) / (2 * 0.03**2))
    rates = rng.uniform(1, 10, (units.size, 1)) + response
    return xr.Dataset(
        {"psth_smoothed": (("unit", "time"), rates)},
        coords={"unit": units, "time": time, "area": ("unit", areas)},
        attrs={"latency_s": latency_s},
    )


def make_raster(ranking: xr.Dataset, bins_per_block: int = 300) -> xr.Dataset:
    """Two blocks apart in time; each unit of the area fires its one burst in its own bin.

    The bin of unit ``u`` is the position of ``u`` in the ranking, so a row's argmax says which
    unit it is; the invalid units are silent (constant rows).
    """
    units, areas = session_units(ranking)
    ids = ranking["unit"].to_numpy()
    n_bins = 2 * bins_per_block
    activity = np.ones((units.size, n_bins), np.int32)
    position = {u: i for i, u in enumerate(ids.tolist())}
    rows = np.flatnonzero(np.isin(units, ids))
    cols = np.array([position[u] for u in units[rows].tolist()]) * 5 + 7
    activity[rows, cols] = 9
    invalid = ids[~np.isfinite(ranking["oracle"].to_numpy())]
    activity[np.isin(units, invalid)] = 0
    time = np.concatenate((1000 + 0.1 * np.arange(bins_per_block), 5000 + 0.1 * np.arange(300)))
    return xr.Dataset(
        {"activity": (("unit", "time"), activity)},
        coords={
            "unit": units,
            "area": ("unit", areas),
            "time": time,
            "block": ("time", np.repeat([0, 1], bins_per_block)),
        },
        attrs={"bin_s": 0.1},
    )


@pytest.fixture(scope="module")
def ranking() -> xr.Dataset:
    return make_ranking()


@pytest.fixture(scope="module")
def session(ranking) -> dict[str, xr.Dataset]:
    return {
        "counts": make_counts(ranking),
        "psth": make_psth(ranking),
        "raster": make_raster(ranking),
    }


def by_gid(artists, gid: str) -> list:
    return [a for a in artists if a.get_gid() == gid]


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def all_text(fig: Figure) -> str:
    """Every text of the figure (titles, labels, notes), joined."""
    return " | ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


# ------------------------------------------------------------------------------------ scatter


def test_oracle_vs_variance_highlights_selected_units(ranking):
    fig = plots.oracle_vs_variance(ranking)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    n_selected = int(ranking["selected"].sum())
    (chosen,) = by_gid(ax.collections, "selected")
    (rest,) = by_gid(ax.collections, "not_selected")
    assert len(chosen.get_offsets()) == n_selected
    n_valid = int(np.isfinite(ranking["oracle"]).sum())
    assert len(rest.get_offsets()) == n_valid - n_selected
    assert f"selected ({n_selected})" in legend_texts(ax)
    assert ax.get_yscale() == "log"  # the variances span 3.5 decades
    assert "3 invalid units" in ax.get_title()
    # the highlighted points are the selected units' (oracle, variance)
    mask = ranking["selected"].to_numpy() == 1
    expected = np.column_stack((ranking["oracle"][mask], ranking["response_variance"][mask]))
    np.testing.assert_allclose(np.asarray(chosen.get_offsets()), expected)


def test_oracle_vs_variance_linear_scale_for_narrow_variances():
    ranking = make_ranking(n_invalid=0)
    narrow = np.linspace(1.0, 3.0, ranking.sizes["unit"])
    ranking["response_variance"] = ranking["response_variance"] * 0 + narrow
    fig = plots.oracle_vs_variance(ranking)
    assert fig.axes[0].get_yscale() == "linear"


def test_entropy_vs_variance_colours_by_anomaly(ranking):
    fig = plots.entropy_vs_variance(ranking)
    (ax,) = fig.axes
    (odd,) = by_gid(ax.collections, "anomalous")
    (typical,) = by_gid(ax.collections, "typical")
    assert len(odd.get_offsets()) == int(ranking["anomaly"].sum())
    n_valid = int(np.isfinite(ranking["entropy"]).sum())
    assert len(odd.get_offsets()) + len(typical.get_offsets()) == n_valid
    assert set(legend_texts(ax)) == {"anomalous (isolation forest)", "typical"}
    assert not np.allclose(odd.get_facecolor()[0], typical.get_facecolor()[0])


# ------------------------------------------------------------------------ correlation matrix


def test_correlation_matrix_of_valid_units_in_rank_order(ranking, session):
    counts = session["counts"]
    fig = plots.correlation_matrix(counts, ranking)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the matrix and its colorbar
    r = np.asarray(ax.images[0].get_array())
    valid = np.isfinite(ranking["oracle"].to_numpy())
    n_valid = int(valid.sum())
    assert r.shape == (n_valid, n_valid)
    np.testing.assert_allclose(r, r.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(r), 1.0)
    # against np.corrcoef of the per-image means, blank left out, units in rank order
    units = ranking["unit"].to_numpy()[valid]
    images = counts["frame"].to_numpy() >= 0
    c = counts["spike_counts"].sel(unit=units).to_numpy()[images]
    frames = counts["frame"].to_numpy()[images]
    means = np.stack([c[frames == f].mean(axis=0) for f in np.unique(frames)])
    np.testing.assert_allclose(r, np.corrcoef(means.T), atol=1e-10)
    # centred colormap, ticks labelled by rank
    norm = ax.images[0].norm
    assert norm.vmin == pytest.approx(-norm.vmax)
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "1"


# --------------------------------------------------------------------------------------- PSTH


def test_psth_selected_draws_one_line_per_selected_unit(ranking, session):
    fig = plots.psth_selected(session["psth"], ranking)
    ax = fig.axes[0]
    assert len(by_gid(ax.lines, "unit")) == int(ranking["selected"].sum())
    (mean,) = by_gid(ax.lines, "mean")
    assert mean.get_linewidth() > by_gid(ax.lines, "unit")[0].get_linewidth()
    area = session["psth"]["psth_smoothed"].sel(unit=ranking["unit"]).mean("unit")
    np.testing.assert_allclose(mean.get_ydata(), area)
    assert len(by_gid(ax.lines, "onset")) == 1
    (latency,) = by_gid(ax.lines, "latency")
    assert latency.get_xdata()[0] == pytest.approx(0.06)
    assert latency.get_linestyle() == "--"
    assert any("latency 60 ms" in t for t in legend_texts(ax))


def test_psth_selected_caps_the_lines_and_skips_nan_latency():
    ranking = make_ranking(n_units=40, n_selected=30)
    psth = make_psth(ranking, latency_s=np.nan)
    fig = plots.psth_selected(psth, ranking, max_units=20)
    ax = fig.axes[0]
    lines = by_gid(ax.lines, "unit")
    assert len(lines) == 20
    assert not by_gid(ax.lines, "latency")
    assert "best 20 of 30 selected units" in ax.get_title()
    # the best-ranked selected units are the ones drawn, best first
    selected = ranking["selected"].to_numpy() == 1
    best = ranking["unit"].to_numpy()[selected][:20]
    expected = psth["psth_smoothed"].sel(unit=best).to_numpy()
    np.testing.assert_allclose(np.stack([line.get_ydata() for line in lines]), expected)


# ------------------------------------------------------------------------------------- raster


def test_population_raster_rows_are_the_area_units_by_oracle(ranking, session):
    fig = plots.population_raster(session["raster"], ranking)
    ax = fig.axes[0]
    image = np.asarray(ax.images[0].get_array())
    n_units = ranking.sizes["unit"]
    assert image.shape == (n_units, 600)  # the other area's units are left out
    # each valid unit bursts in bin 5 * (its position in the ranking) + 7: best on top
    valid = np.isfinite(ranking["oracle"].to_numpy())
    n_valid = int(valid.sum())
    np.testing.assert_array_equal(image[:n_valid].argmax(axis=1), np.arange(n_valid) * 5 + 7)
    assert (image[n_valid:] == 0).all()  # silent (constant) units: z = 0, at the bottom
    # z-scored per unit over time
    np.testing.assert_allclose(image[:n_valid].mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(image[:n_valid].std(axis=1), 1, atol=1e-4)
    assert len(by_gid(ax.lines, "block_join")) == 1
    assert len(by_gid(ax.lines, "invalid_boundary")) == 1
    assert ax.images[0].get_extent()[:2] == [0.0, pytest.approx(60.0)]
    assert fig.axes[1].get_ylabel() == "z-score"


def test_population_raster_sorts_by_oracle_not_table_order(session):
    ranking = make_ranking()
    shuffled = ranking.isel(unit=np.random.default_rng(5).permutation(ranking.sizes["unit"]))
    fig = plots.population_raster(session["raster"], shuffled)
    image = np.asarray(fig.axes[0].images[0].get_array())
    n_valid = int(np.isfinite(ranking["oracle"]).sum())
    np.testing.assert_array_equal(image[:n_valid].argmax(axis=1), np.arange(n_valid) * 5 + 7)


def test_population_raster_explicit_order_and_downsampling(ranking, session):
    positions = [9, 2, 5, 2, 20]  # a repeat, and an id of no unit below
    order = list(ranking["unit"].to_numpy()[positions]) + [-5]
    fig = plots.population_raster(session["raster"], ranking, order=order)
    image = np.asarray(fig.axes[0].images[0].get_array())
    assert image.shape == (4, 600)
    np.testing.assert_array_equal(image.argmax(axis=1), np.array([9, 2, 5, 20]) * 5 + 7)
    fig = plots.population_raster(session["raster"], ranking, max_columns=100)
    image = np.asarray(fig.axes[0].images[0].get_array())
    assert image.shape == (ranking.sizes["unit"], 100)
    assert "mean of 0.6 s per column" in fig.axes[1].get_ylabel()


def test_population_raster_uses_rastermap_when_importable(ranking, session, monkeypatch):
    class FakeRastermap:  # stands in for the optional package: reverses the rows
        def __init__(self, **kwargs):
            pass

        def fit(self, data):
            self.isort = np.arange(data.shape[0])[::-1]
            return self

    monkeypatch.setitem(sys.modules, "rastermap", types.SimpleNamespace(Rastermap=FakeRastermap))
    fig = plots.population_raster(session["raster"], ranking)
    image = np.asarray(fig.axes[0].images[0].get_array())
    n_valid = int(np.isfinite(ranking["oracle"]).sum())
    np.testing.assert_array_equal(image[-n_valid:].argmax(axis=1), np.arange(n_valid)[::-1] * 5 + 7)
    assert "Rastermap" in fig.axes[0].get_ylabel()
    assert not by_gid(fig.axes[0].lines, "invalid_boundary")


# --------------------------------------------------------------------------- receptive fields


def test_receptive_field_maps_small_multiples(ranking):
    fig = plots.receptive_field_maps(ranking, n=12)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 12
    assert len(fig.axes) == 13  # + the shared colorbar
    top = ranking.isel(unit=slice(0, 12))
    assert [ax.get_title().split(",")[0] for ax in panels] == [
        f"rank {r}" for r in top["rank"].values
    ]
    image = panels[0].images[0]
    assert image.origin == "lower"
    assert image.get_extent() == [-45.0, 45.0, -35.0, 35.0]
    assert np.asarray(image.get_array()).shape == (RF_Y.size, RF_X.size)
    assert sum(len(by_gid(ax.lines, "centre")) for ax in panels) == int(top["rf_significant"].sum())
    # the maximum of the map sits near the fitted centre (y up, not flipped)
    i = int(np.argmax(top["rf_p_value"].values < 1))
    peak_y, peak_x = np.unravel_index(np.argmax(top["rf_map"].values[i]), (RF_Y.size, RF_X.size))
    assert abs(RF_Y[peak_y] - top["rf_center_y"].values[i]) <= 10


def test_receptive_field_maps_of_an_irregular_grid_place_every_position(ranking):
    # an extra position at x = 5 deg (a column with one position shown) and one without trials
    irregular = ranking.reindex(rf_x=np.sort(np.append(RF_X, 5.0)))
    irregular["rf_map"].loc[{"rf_x": 5.0, "rf_y": 0.0}] = 1.0
    irregular["rf_map"].loc[{"rf_x": -40.0, "rf_y": 30.0}] = np.nan
    fig = plots.receptive_field_maps(irregular, n=4)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("rank")]
    assert len(panels) == 4 and not any(ax.images for ax in fig.axes)
    mesh = panels[0].collections[0]
    corners = mesh.get_coordinates()  # (n_y + 1, n_x + 1, 2) cell corners
    # cells reach halfway to their neighbours: x = 5 spans 2.5 .. 7.5, x = 0 spans -5 .. 2.5
    np.testing.assert_allclose(corners[0, :, 0], [-45, -35, -25, -15, -5, 2.5, 7.5, 15, 25, 35, 45])
    np.testing.assert_allclose(corners[:, 0, 1], np.arange(-35.0, 36.0, 10.0))
    values = mesh.get_array().reshape(RF_Y.size, RF_X.size + 1)
    assert np.ma.is_masked(values[RF_Y == 30.0, 0])  # drawn grey, as a missing position
    assert np.ma.count_masked(values[:, 5]) == RF_Y.size - 1  # the extra column: one position


# ---------------------------------------------------------------------------- empty states


@pytest.mark.parametrize(
    "case",
    [
        dict(n_units=8, n_invalid=0, n_selected=0),  # no selected unit
        dict(n_units=1, n_invalid=0, n_selected=1),  # a single unit
        dict(n_units=1, n_invalid=1, n_selected=0),  # a single, invalid unit
        dict(n_units=4, n_invalid=4, n_selected=0),  # no valid unit
    ],
    ids=["none-selected", "single-unit", "single-invalid", "all-invalid"],
)
def test_degenerate_areas_give_figures(case, tmp_path):
    ranking = make_ranking(**case)
    counts, psth, raster = make_counts(ranking), make_psth(ranking), make_raster(ranking)
    figures = {
        "oracle": plots.oracle_vs_variance(ranking),
        "entropy": plots.entropy_vs_variance(ranking),
        "correlation": plots.correlation_matrix(counts, ranking),
        "psth": plots.psth_selected(psth, ranking),
        "raster": plots.population_raster(raster, ranking),
        "rf": plots.receptive_field_maps(ranking),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure), name
        fig.canvas.draw()  # drawing must not fail either
    if ranking.sizes["unit"] == 1 or case["n_invalid"] == case["n_units"]:
        assert "at least 2" in all_text(figures["correlation"])
    if case["n_selected"] == 0:
        assert "no unit selected" in all_text(figures["psth"])
    if case["n_invalid"] == case["n_units"]:
        assert "no valid unit" in all_text(figures["oracle"])
        for name in ("oracle", "entropy"):  # and why: the invalid units' reasons, counted
            assert f"(too few spikes: {case['n_invalid']})" in all_text(figures[name]), name


def test_entropy_vs_variance_says_when_there_is_no_anomaly_score():
    ranking = make_ranking(n_units=3, n_invalid=2, n_selected=0)
    ranking["anomaly_score"][:] = np.nan  # one valid unit: the forest has nothing to compare
    ranking["anomaly"][:] = 0
    assert "no anomaly score" in all_text(plots.entropy_vs_variance(ranking))
    assert "no anomaly score" not in all_text(plots.entropy_vs_variance(make_ranking()))


def test_area_missing_from_session_gives_empty_states(ranking, session):
    other = make_ranking(n_units=3, n_invalid=0, seed=9, area="VISl")
    other = other.assign_coords(unit=other["unit"] + 10**6)
    assert "none of this area" in all_text(plots.psth_selected(session["psth"], other))
    assert "no activity" in all_text(plots.population_raster(session["raster"], other))
    assert "no unit to show" in all_text(plots.receptive_field_maps(ranking, n=0))


# --------------------------------------------------------------------------------------- save


def test_save_figure_writes_png_atomically(ranking, tmp_path):
    target = tmp_path / "sub" / "oracle.png"
    fig = plots.oracle_vs_variance(ranking)
    assert save_figure(fig, target) == target
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in target.parent.iterdir()) == ["oracle.png"]  # no temp left
    assert not fig.axes  # closed (cleared)
    save_figure(plots.entropy_vs_variance(ranking), target)  # replaces
    assert target.read_bytes() != data
