"""An area's MEIs against their Gabor controls (meiflow.metrics.comparison)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from meiflow.metrics.comparison import IMAGE_KINDS, compare_area
from meiflow.metrics.image_metrics import image_metrics
from meiflow.metrics.settings import MetricsSettings
from meiflow.stimuli.geometry import ScreenGeometry

UNITS = np.array([11, 12, 13])
H, W = 12, 20
GEOMETRY = ScreenGeometry(width_deg=120.0, height_deg=95.0)


def area(rng: np.random.Generator) -> tuple[xr.Dataset, ...]:
    meis = xr.Dataset(
        {
            "mei": (("unit", "init", "y", "x"), rng.uniform(0, 1, (3, 2, H, W))),
            "best_init": ("unit", [1, 0, 1]),
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
        {"training_failure": ("unit", ["", "non-finite training loss at epoch 3", ""])},
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


def test_an_area_whose_every_training_failed_is_empty_with_its_reason():
    meis, gabors, invariance, scores = area(np.random.default_rng(1))
    scores["training_failure"] = ("unit", ["nan loss"] * 3)
    result = compare_area(
        meis, gabors, invariance, scores, GEOMETRY, MetricsSettings(mask_fraction=0.9)
    )
    assert result.metrics.sizes["unit"] == 0 and len(result.table) == 0
    assert result.metrics.attrs["empty_reason"] == "the training of every selected unit failed"
    assert result.meis.attrs["empty_reason"] == result.gabors.attrs["empty_reason"]
