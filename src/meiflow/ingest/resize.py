"""Anti-aliased image resizing with separable resampling weights.

An image X (h_in, w_in) is resized as ``Ry @ X @ Rx.T`` with Ry (h_out, h_in) and Rx (w_out, w_in).
Each row of a weight matrix sums to 1, so a constant image stays constant (to rounding).

- Downsampling (an output pixel spans >= 1 input pixel): exact area averaging; the weight of an
  input pixel is the fraction of the output pixel's footprint that it covers.
- Upsampling (an output pixel spans < 1 input pixel): area weights would reduce to nearest
  neighbour (blocky), so linear interpolation between the two nearest input pixel centres is
  used instead, with edge pixels repeated beyond the outermost centres.

Each row has few non-zero weights ("taps"): area_resize multiplies the dense matrices; crop_resize
applies the taps directly (gathers), which is much cheaper for large outputs and free of BLAS
summation-order effects, so its results are identical on every machine.
"""

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike


def resample_taps(
    start: ArrayLike, stop: ArrayLike, n_in: int, n_out: int
) -> tuple[np.ndarray, np.ndarray]:
    """Taps that resample the window [start, stop) of an axis of n_in pixels to n_out pixels.

    Args:
        start: window start edge in input pixel-edge coordinates (0 = outer edge of the first
            pixel, n_in = outer edge of the last), 0 <= start < stop <= n_in; ``start`` and
            ``stop`` are arrays broadcast to a batch shape (...).
        stop: window stop edge, in the same coordinates.
        n_in: number of input pixels along the axis.
        n_out: number of output pixels along the axis.

    Returns:
        (index, weight), each (..., n_out, n_taps): output pixel j is the sum over taps of
        weight * input[index] (int64 indices in 0..n_in-1, float64 weights summing to 1; padding
        taps have weight 0). Area weights where the window holds at least n_out input pixels,
        linear interpolation weights where it holds fewer.
    """
    start, stop = np.broadcast_arrays(np.asarray(start, dtype=float), np.asarray(stop, dtype=float))
    batch = start.shape
    start, stop = start.reshape(-1, 1, 1), stop.reshape(-1, 1, 1)
    scale = (stop - start) / n_out  # input pixels per output pixel
    lo = start + np.arange(n_out)[:, None] * scale  # (m, n_out, 1): footprints [lo, lo + scale)
    down = scale >= 1.0
    taps = np.arange(max(2, int(np.ceil(scale.max())) + 1))
    # area: overlap of input pixel [i, i + 1) with the footprint
    i_area = np.floor(lo) + taps
    overlap = np.clip(lo + scale - i_area, 0.0, 1.0) - np.clip(lo - i_area, 0.0, 1.0)
    overlap /= overlap.sum(axis=-1, keepdims=True)
    # linear: tent around the footprint centre, in pixel-centre coordinates
    centre = np.clip(lo + scale / 2 - 0.5, 0.0, n_in - 1)
    i_linear = np.minimum(np.floor(centre), max(n_in - 2, 0)) + taps
    tent = np.clip(1.0 - np.abs(i_linear - centre), 0.0, None)
    index = np.clip(np.where(down, i_area, i_linear), 0, n_in - 1).astype(np.int64)
    weight = np.where(down, overlap, tent)
    shape = (*batch, n_out, len(taps))
    return index.reshape(shape), weight.reshape(shape)


def resample_weights(start: ArrayLike, stop: ArrayLike, n_in: int, n_out: int) -> np.ndarray:
    """Dense form of resample_taps: (..., n_out, n_in) float64, every row sums to 1."""
    index, weight = resample_taps(start, stop, n_in, n_out)
    dense = np.zeros((*index.shape[:-1], n_in))
    np.add.at(dense, (*np.indices(index.shape, sparse=True)[:-1], index), weight)
    return dense


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights resizing a whole axis of n_in pixels to n_out; rows sum to 1."""
    return resample_weights(0.0, float(n_in), n_in, n_out)


def _apply(rows: np.ndarray, images: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Compute rows @ images @ cols.T in the cheaper order; all three broadcast as matmul."""
    h_out, h_in = rows.shape[-2:]
    w_out, w_in = cols.shape[-2:]
    cols_t = np.swapaxes(cols, -1, -2)
    if h_out * w_in * (h_in + w_out) <= h_in * w_out * (w_in + h_out):
        return (rows @ images) @ cols_t
    return rows @ (images @ cols_t)


def area_resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize the last two axes of images to (height, width); leading axes are a batch.

    Args:
        images: (..., h_in, w_in), any real dtype.
        height: output height in pixels.
        width: output width in pixels.

    Returns:
        (..., height, width) float64: area averages when shrinking an axis, linear
        interpolation when enlarging it (see the module docstring).
    """
    images = np.asarray(images, dtype=float)
    h_in, w_in = images.shape[-2:]
    return _apply(area_weights(h_in, height), images, area_weights(w_in, width))


def _sum_taps(gather: Callable[[int], np.ndarray], weight: np.ndarray) -> np.ndarray:
    """Sum over taps t of gather(t) * weight[..., t], accumulated in place (bounds memory)."""
    total = gather(0)
    total *= weight[..., 0]
    for t in range(1, weight.shape[-1]):
        term = gather(t)
        term *= weight[..., t]
        total += term
    return total


def crop_resize(
    image: np.ndarray,
    top: ArrayLike,
    left: ArrayLike,
    crop_height: ArrayLike,
    crop_width: ArrayLike,
    height: int,
    width: int,
) -> np.ndarray:
    """Cut n windows out of one image and resize each to (height, width), all at once.

    Applies the taps of resample_taps by gathering (no matrix products): the cost grows with the
    output size and the number of taps, not with the size of the image, and every output pixel
    is the same fixed sequence of rounded operations on any machine.

    Args:
        image: (h_in, w_in); float32 is kept (half the memory traffic), any other dtype is
            computed in float64.
        top: (n,) window origin row (top edge) in pixel-edge coordinates (may be fractional).
        left: (n,) window origin column (left edge) in pixel-edge coordinates (may be
            fractional).
        crop_height: (n,) window height in input pixels; windows lie inside the image.
        crop_width: (n,) window width in input pixels; windows lie inside the image.
        height: output height in pixels.
        width: output width in pixels.

    Returns:
        (n, height, width) float32 or float64. For integer windows that shrink, window k equals
        area_resize(image[t:t+h, l:l+w]); when enlarging, the outermost output pixels interpolate
        towards the image pixels just outside the window instead of repeating its edge.
    """
    dtype = np.float32 if np.asarray(image).dtype == np.float32 else np.float64
    image = np.asarray(image, dtype=dtype)
    top, left = np.asarray(top, dtype=float), np.asarray(left, dtype=float)
    h_in, w_in = image.shape
    row_index, row_weight = resample_taps(top, top + crop_height, h_in, height)  # (n, height, T)
    col_index, col_weight = resample_taps(left, left + crop_width, w_in, width)  # (n, width, T)
    columns = _sum_taps(lambda t: image[:, col_index[..., t]], col_weight.astype(dtype))
    scene = np.arange(len(row_index))[:, None]
    return _sum_taps(  # columns is (h_in, n, width): gather whole rows of each scene
        lambda t: columns[row_index[..., t], scene], row_weight[..., None, :].astype(dtype)
    )
