"""An area's MEIs against their Gabor controls (meiflow.metrics.comparison)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from meiflow.metrics.comparison import IMAGE_KINDS, compare_area
from meiflow.metrics.image_metrics import circular_mask, image_metrics
from meiflow.metrics.settings import MetricsSettings
from meiflow.stimuli.geometry import ScreenGeometry

UNITS = np.array([11, 12, 13])
H, W = 12, 20
GEOMETRY = ScreenGeometry(width_deg=120.0, height_deg=95.0)


def blob(rows: list[float], cols: list[float]) -> np.ndarray:
    """(n, H, W) Gaussian energy maps (sd 1.5 px) centred on (rows[k], cols[k])."""
    y, x = np.mgrid[:H, :W]
    r, c = np.asarray(rows)[:, None, None], np.asarray(cols)[:, None, None]
    return np.exp(-((y - r) ** 2 + (x - c) ** 2) / (2 * 1.5**2))


def area(rng: np.random.Generator) -> tuple[xr.Dataset, ...]:
    meis = xr.Dataset(
        {
            "mei": (("unit", "init", "y", "x"), rng.uniform(0, 1, (3, 2, H, W))),
            "best_init": ("unit", [1, 0, 1]),
            "gradient_energy": (("unit", "y", "x"), blob([5.5, 6.0, 5.5], [7.0, 10.0, 12.0])),
            "member_response": (("unit", "init", "member"), rng.uniform(1, 2, (3, 2, 1))),
            "init_spread": ("unit", [0.01, 0.02, 0.3]),
            "ensemble_spread": ("unit", [np.nan, np.nan, np.nan]),
        },
        coords={"unit": UNITS},
    )
    gabors = xr.Dataset(
        {
            "recorded_gabor": (("unit", "y", "x"), rng.uniform(0, 1, (3, H, W))),
            "insilico_gabor": (("unit", "y", "x"), rng.uniform(0, 1, (3, H, W))),
        },
        coords={"unit": UNITS},
    )
    invariance = xr.Dataset({"phase_invariance": ("unit", [0.1, 0.5, 0.9])}, coords={"unit": UNITS})
    scores = xr.Dataset(
        {
            "training_failure": ("unit", ["", "non-finite training loss at epoch 3", ""]),
            "validation_correlation": ("unit", [0.4, 0.9, 0.8]),
            "test_correlation": ("unit", [0.5, 0.3, 0.6]),
        },
        coords={"unit": UNITS},
    )
    return meis, gabors, invariance, scores


def test_metrics_of_the_best_init_and_both_gabors_without_failed_units():
    meis, gabors, invariance, scores = area(np.random.default_rng(0))
    result = compare_area(
        meis, gabors, invariance, scores, GEOMETRY, MetricsSettings(mask_fraction=0.9)
    )
    kept = [0, 2]  # unit 12's training failed
    np.testing.assert_array_equal(result.metrics["unit"], UNITS[kept])
    assert "12: non-finite training loss" in result.metrics.attrs["dropped_units"]
    assert list(result.meis["unit"].to_numpy()) == list(result.gabors["unit"].to_numpy())
    # the same metrics computed directly on the images of each kind
    images = np.stack(
        [
            meis["mei"].to_numpy()[kept, [1, 1]],  # best_init of units 11 and 13
            gabors["recorded_gabor"].to_numpy()[kept],
            gabors["insilico_gabor"].to_numpy()[kept],
        ],
        axis=1,
    )
    expected = image_metrics(images, GEOMETRY.pixels_per_degree(H, W), fraction=0.9)
    for name, values in expected.items():
        np.testing.assert_array_equal(result.metrics[name].to_numpy(), values)
        table = result.table[name].unstack("image_kind")[list(IMAGE_KINDS)]
        np.testing.assert_array_equal(table.to_numpy(), values)
    np.testing.assert_array_equal(
        result.table["phase_invariance"].unstack("image_kind").to_numpy()[:, 0], [0.1, 0.9]
    )
    # the model's receptive-field mask around each unit's gradient energy
    np.testing.assert_allclose(result.metrics["rf_mask_center_y"], [5.5, 5.5], atol=0.05)
    np.testing.assert_allclose(result.metrics["rf_mask_center_x"], [7.0, 12.0], atol=0.05)
    inside = circular_mask(
        result.metrics["rf_mask_center_y"].to_numpy(),
        result.metrics["rf_mask_center_x"].to_numpy(),
        result.metrics["rf_mask_radius"].to_numpy(),
        H,
        W,
    )
    squared = (images - images.mean(axis=(-2, -1), keepdims=True)) ** 2
    outside = (squared * ~inside[:, None]).sum(axis=(-2, -1)) / squared.sum(axis=(-2, -1))
    np.testing.assert_allclose(result.metrics["deviation_outside_rf_mask"], outside, rtol=1e-12)
    # unit 11: its model misses the scenes it was not fit to (mean of validation and test r);
    # unit 13: its starts disagree
    table = result.table.xs("insilico_gabor", level="image_kind")
    assert table["mei_flagged"].tolist() == [True, True]
    assert table["mei_flag_reason"].tolist() == [
        "model r 0.45 < 0.60",
        "init spread 0.30 > 0.10",
    ]


def test_an_area_whose_every_training_failed_is_empty_with_its_reason():
    meis, gabors, invariance, scores = area(np.random.default_rng(1))
    scores["training_failure"] = ("unit", ["nan loss"] * 3)
    result = compare_area(
        meis, gabors, invariance, scores, GEOMETRY, MetricsSettings(mask_fraction=0.9)
    )
    assert result.metrics.sizes["unit"] == 0 and len(result.table) == 0
    assert result.metrics.attrs["empty_reason"] == "the training of every selected unit failed"
    assert result.meis.attrs["empty_reason"] == result.gabors.attrs["empty_reason"]


def test_mei_files_from_before_the_trust_signals_are_a_clear_error():
    meis, gabors, invariance, scores = area(np.random.default_rng(2))
    with pytest.raises(ValueError, match=r"lack \['gradient_energy'\].*--forcerun generate_meis"):
        compare_area(
            meis.drop_vars("gradient_energy"),
            gabors,
            invariance,
            scores,
            GEOMETRY,
            MetricsSettings(),
        )
