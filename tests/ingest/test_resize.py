import numpy as np
import pytest

from meiflow.ingest.resize import area_resize, area_weights, crop_resize, resample_weights


@pytest.mark.parametrize(("n_in", "n_out"), [(10, 5), (7, 3), (5, 5), (3, 8), (1, 4), (918, 60)])
def test_weights_rows_sum_to_one(n_in, n_out):
    w = area_weights(n_in, n_out)
    assert w.shape == (n_out, n_in)
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-14)


def test_fractional_area_weights():
    # 5 -> 3: each output pixel covers 5/3 input pixels
    expected = np.array(
        [[0.6, 0.4, 0, 0, 0], [0, 0.2, 0.6, 0.2, 0], [0, 0, 0, 0.4, 0.6]], dtype=float
    )
    np.testing.assert_allclose(area_weights(5, 3), expected, atol=1e-15)


def test_integer_factor_equals_block_means():
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 12, 20))
    out = area_resize(images, 4, 5)
    blocks = images.reshape(2, 3, 4, 3, 5, 4).mean(axis=(3, 5))
    assert out.shape == (2, 3, 4, 5) and out.dtype == np.float64
    np.testing.assert_allclose(out, blocks, rtol=1e-12)


def test_uint8_input_and_identity():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = area_resize(image, 3, 4)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, image)


def test_downsampling_preserves_the_mean_of_any_image():
    rng = np.random.default_rng(1)
    image = rng.random((101, 133))
    assert area_resize(image, 37, 41).mean() == pytest.approx(image.mean(), rel=1e-12)


@pytest.mark.parametrize("shape", [(37, 41), (150, 90), (250, 333)])
def test_constant_image_stays_constant(shape):
    out = area_resize(np.full((101, 133), 0.37), *shape)
    np.testing.assert_allclose(out, 0.37, rtol=1e-14)


def test_upsampling_interpolates_linearly():
    ramp = np.broadcast_to(np.arange(6, dtype=float)[:, None], (6, 4))
    out = area_resize(ramp, 24, 4)
    # output pixel centre j sits at input pixel-centre coordinate (j + 0.5) / 4 - 0.5
    centre = (np.arange(24) + 0.5) / 4 - 0.5
    np.testing.assert_allclose(out[:, 0], np.clip(centre, 0, 5), atol=1e-12)


def test_mixed_up_and_down_sampling_is_separable():
    image = np.random.default_rng(2).random((40, 10))
    out = area_resize(image, 10, 30)
    assert out.shape == (10, 30)
    row_means = image.reshape(10, 4, 10).mean(axis=1)  # rows: block means of 4
    np.testing.assert_allclose(out, area_resize(row_means, 10, 30), rtol=1e-12)


def test_batched_window_weights():
    w = resample_weights([0.0, 2.0], [4.0, 4.0], 4, 2)
    assert w.shape == (2, 2, 4)
    np.testing.assert_allclose(w[0], [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(w[1], [[0, 0, 1, 0], [0, 0, 0, 1]])


def test_crop_resize_matches_area_resize_of_each_crop():
    rng = np.random.default_rng(3)
    image = rng.random((64, 80))
    top, left, size_h, size_w = [3, 10, 0], [5, 0, 16], [40, 24, 64], [50, 30, 64]
    out = crop_resize(image, top, left, size_h, size_w, 8, 10)
    assert out.shape == (3, 8, 10) and out.dtype == np.float64
    for k in range(3):
        crop = image[top[k] : top[k] + size_h[k], left[k] : left[k] + size_w[k]]
        np.testing.assert_allclose(out[k], area_resize(crop, 8, 10), rtol=1e-12)
    out32 = crop_resize(image.astype(np.float32), top, left, size_h, size_w, 8, 10)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out, rtol=1e-5)


def test_crop_resize_equals_dense_weights_for_fractional_windows():
    rng = np.random.default_rng(4)
    image = rng.random((30, 40))
    top, left = np.array([0.0, 2.3, 11.7]), np.array([0.0, 5.5, 1.25])
    size_h, size_w = np.array([30.0, 7.4, 18.3]), np.array([40.0, 9.1, 38.75])
    out = crop_resize(image, top, left, size_h, size_w, 12, 20)  # up- and down-sampling
    rows = resample_weights(top, top + size_h, 30, 12)
    cols = resample_weights(left, left + size_w, 40, 20)
    np.testing.assert_allclose(out, rows @ image @ np.swapaxes(cols, 1, 2), rtol=1e-12)
    np.testing.assert_allclose(out[0], area_resize(image, 12, 20), rtol=1e-12)
