"""The model's receptive-field mask and the MEI flag (meiflow.metrics.trust)."""

from __future__ import annotations

import numpy as np
import pytest

from meiflow.metrics.settings import MetricsSettings
from meiflow.metrics.trust import deviation_outside, mei_flags, rf_mask

H, W = 40, 60
ROWS, COLS = np.mgrid[:H, :W]


def energy(row: float, col: float, sd: float) -> np.ndarray:
    return np.exp(-((ROWS - row) ** 2 + (COLS - col) ** 2) / (2 * sd**2))


def test_the_mask_is_centred_on_the_energy_and_grows_with_its_fraction():
    maps = np.stack([energy(18.0, 25.0, 3.0), energy(21.0, 33.0, 3.0)])
    center_y, center_x, radius, inside = rf_mask(maps, 0.9)
    np.testing.assert_allclose(center_y, [18.0, 21.0], atol=0.01)
    np.testing.assert_allclose(center_x, [25.0, 33.0], atol=0.01)
    assert inside.shape == (2, H, W) and inside[0, 18, 25] and not inside[0, 0, 0]
    for k, (row, col) in enumerate([(18, 25), (21, 33)]):
        distance = np.hypot(ROWS - center_y[k], COLS - center_x[k])
        np.testing.assert_array_equal(inside[k], distance <= radius[k])
        assert abs(distance[row, col]) < 0.02
    wider = rf_mask(maps, 0.99)[2]
    assert (wider > radius).all()
    # a wider receptive field gives a wider mask: about in proportion to the sd
    assert rf_mask(energy(18.0, 25.0, 6.0), 0.9)[2] == pytest.approx(2 * radius[0], rel=0.15)


def test_the_mask_refuses_negative_or_non_finite_energy():
    for bad in (-energy(20, 30, 3), np.full((H, W), np.nan)):
        with pytest.raises(ValueError, match="finite and non-negative"):
            rf_mask(bad, 0.9)


def test_deviation_outside_analytic_cases():
    inside = np.zeros((H, W), bool)
    inside[10:20, 10:20] = True
    image = np.zeros((H, W))
    image[12:16, 12:16], image[30:34, 40:44] = 1.0, -1.0  # equal patches, mean 0: half outside
    blank_out = np.zeros((H, W))
    blank_out[12:16, 12:16] = 1.0  # mean m: outside, (H W - 100 - 16) pixels deviate by -m
    m = 16 / (H * W)
    expected = (H * W - 100) * m**2 / (16 * (1 - m) ** 2 + (H * W - 16) * m**2)
    shares = deviation_outside(np.stack([image, blank_out, np.full((H, W), 0.3)]), inside)
    np.testing.assert_allclose(shares, [0.5, expected, np.nan], rtol=1e-12)


def test_each_criterion_flags_an_mei_with_its_reason():
    settings = MetricsSettings(max_init_spread=0.1, max_ensemble_spread=0.2)
    flagged, reason = mei_flags(
        init_spread=[0.05, 0.15, 0.05, 0.05, 0.3, 0.0],
        ensemble_spread=[np.nan, 0.1, 0.25, np.nan, 0.5, 0.0],
        model_correlation=[0.9, 0.9, 0.9, np.nan, 0.2, 0.6],
        settings=settings,
    )
    assert flagged.tolist() == [False, True, True, True, True, False]
    assert reason.tolist() == [
        "",
        "init spread 0.15 > 0.10",
        "ensemble spread 0.25 > 0.20",
        "model r nan < 0.60",
        "init spread 0.30 > 0.10; ensemble spread 0.50 > 0.20; model r 0.20 < 0.60",
        "",  # at the limits: not flagged
    ]


@pytest.mark.parametrize(
    "key, value",
    [("rf_mask_fraction", 0.0), ("rf_mask_fraction", 1.5), ("max_init_spread", -0.1),
     ("max_ensemble_spread", np.nan), ("min_model_correlation", 1.2)],
)  # fmt: skip
def test_settings_refuse_out_of_range_limits(key, value):
    with pytest.raises(ValueError, match=f"metrics.{key}"):
        MetricsSettings(**{key: value})
