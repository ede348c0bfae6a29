"""Scalar metrics and spectra of images (MEIs, Gabor patches), vectorized over leading dims.

Images are float arrays (..., H, W) with luminance in [0, 1] (mean gray 0.5); pixel coordinates
are (row, col), row 0 at the top. Every function works on any number of leading dims at once
(FFTs over the last two axes, masks by broadcasting); a scalar metric has shape images.shape[:-2].

What each score is computed on:

- Mask (:func:`image_mask`): found from where the image departs from its background, not by eye.
  background = median of the border pixels of the image; departure = |image - background|,
  Gaussian-smoothed (``smooth_sigma`` px); centre = departure-weighted centroid; radius = the
  smallest distance from that centre within which ``fraction`` (0.9) of the departure lies,
  clipped to [1, image diagonal]. For a Gaussian blob of sigma s the radius is about
  sqrt(-2 ln(1 - fraction)) sqrt(s^2 + smooth_sigma^2) = 2.15 sqrt(s^2 + 1.5^2) px. An image
  without any departure (flat) gets uniform weights: centre of the image, a large radius.
- Luminance and contrast: mean and standard deviation (ddof 0) of the pixels inside the mask.
- The masked spectrum (:func:`masked_power_spectrum`), the input of the proper symmetry indices,
  the peak spatial frequency and the orientation: x = (image - mean inside mask) * mask, zero
  outside the mask, so its DC term is 0 and the flat background plays no part; zero-padded to a
  square of side ``pad`` * max(H, W) (default 4: a frequency step of 1 / (4 max(H, W))
  cycles/pixel, the same along both axes); power |FFT|^2, fftshifted, frequencies in
  cycles/pixel. Memory: (..., n, n) complex128 with n = 384 for 60 x 96 images; chunk the
  leading dims if that is too much.
- Symmetry indices (the notebook's definition): every frequency bin gets the angle
  theta = atan2(offset from the spectrum centre), angles fall in 32 bins of width pi/16 over
  [-pi, pi); P_theta = mean power of the bins of an angle bin (empty angle bins left out);
  SI_n = |sum_theta P_theta exp(i 2 n theta)| / sum_theta P_theta in [0, 1] (theta = bin centre),
  for n = 1, 2. The power spectrum of a real image is point symmetric (P(theta + pi) =
  P(theta)), so exp(i theta) would always sum to 0: SI_1 measures 2-fold anisotropy (one
  dominant orientation), SI_2 4-fold. A grating, all its power at +-k, scores 1; an isotropic
  image 0.

  * ``symmetry_*_notebook`` (:func:`symmetry_notebook`): exactly the notebook's computation, on
    the whole image, unpadded, not mean-subtracted, angles of the index offsets from the centre
    bin (H // 2, W // 2), DC included. The DC term, (H W mean)^2, dwarfs every other bin of an
    image with mean ~0.5 and falls in the angle bin [0, pi/16) (atan2(0, 0) = 0): P_theta is
    then a single spike and both scores approach 1 whatever the shape of the image (an
    isotropic blob scores ~1). Kept only to compare with the notebook's numbers.
  * ``symmetry_1``, ``symmetry_2`` (:func:`symmetry`): on the masked spectrum, angles of the
    frequencies (fy, fx) in cycles/pixel (pixel space; the screen's degrees are not square, 60 x
    96 px over 95 x 120 deg, but a shape is judged on the image as an array here), using only
    the bins with 0 < |f| < 0.5 cycles/pixel: the centre (DC) bin is excluded (0 by
    construction, and its angle is undefined) and so are the corners beyond Nyquist, which
    exist only along the diagonals and would make every angle bin's mean depend on its share
    of empty high-frequency corner bins (an isotropic blob then scores SI_2 ~0.13 instead of
    ~0.02). These scores measure how concentrated in angle the power is, so a Gabor scores
    high only with several carrier cycles under its envelope: its spectral lobe at |f| = sf
    has an angular spread of about 1 / (2 sqrt(2) pi sf sigma) rad, and SI_2 ~
    exp(-8 spread^2). Measured on meiflow.stimuli.gabor patches on 60 x 96 px (95 x 120 deg):
    sf sigma = 0.3 cycles -> SI_2 0.15 - 0.40, 0.96 -> 0.81 - 0.90, 1.6 -> >= 0.9; an isotropic
    Gaussian blob -> SI_1, SI_2 <= 0.04 (notebook variant >= 0.97 for the same blobs).
- Peak spatial frequency (:func:`peak_spatial_frequency`): the frequency bin of maximal power of
  the masked spectrum (DC excluded); cycles/pixel = |(fy, fx)|, cycles/degree =
  |(fy ppd_y, fx ppd_x)| with pixels_per_degree = (ppd_y, ppd_x) (pixels need not be square).
  On meiflow.stimuli.gabor patches (sf 0.05 - 0.12 cpd, sigma 6 - 8 deg, 60 x 96 px) within 2.5 % of
  the carrier frequency from 0.64 carrier cycles per sigma on, up to +8 % at 0.3 cycles per
  sigma, where subtracting the mean inside the hard mask removes power on the inner flank of
  the lobe.
- Orientation (:func:`orientation`): power-weighted mean of the doubled angle of the masked
  spectrum in degree units (fy ppd_y, fx ppd_x), DC excluded, halved, in [0, 180) deg in
  meiflow's convention (meiflow.stimuli.gabor.gabor: 0 = vertical bars, clockwise on the screen). A
  carrier of orientation o and frequency sf cycles/deg has
  (fy ppd_y, fx ppd_x) = +-sf (sin o, cos o) (row index grows down while y grows up), hence
  o = atan2(fy ppd_y, fx ppd_x) mod 180.
- Spectra for display (:func:`log_power`, :func:`image_spectra`): the whole image minus its
  mean, unpadded: log1p(|fftshift(fft2(image - mean))|^2) with fy, fx in cycles/pixel, and its
  radial profile (mean power per ring of |f|, up to Nyquist).
"""

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = [
    "circular_mask",
    "contrast",
    "image_mask",
    "image_metrics",
    "image_spectra",
    "log_power",
    "luminance",
    "masked_power_spectrum",
    "orientation",
    "peak_spatial_frequency",
    "radial_profile",
    "symmetry",
    "symmetry_notebook",
]


N_ANGLE_BINS = 32  # bins of width pi / 16 over [-pi, pi)


def _border(images: np.ndarray) -> np.ndarray:
    """(..., 2 (H + W) - 4) the pixels on the border of every image."""
    return np.concatenate(
        [images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]],
        axis=-1,
    )


def image_mask(
    images: np.ndarray, fraction: float = 0.9, smooth_sigma: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Circular mask around where every image departs from its background (module docstring).

    Args:
        images: (..., H, W) float.
        fraction: share of the (smoothed) departure from the background the radius holds, (0, 1].
        smooth_sigma: sigma in pixels of the Gaussian smoothing of the departure.

    Returns:
        (center_y, center_x, radius), each (...) float pixels: centre row, centre column and
        radius, the radius clipped to [1, hypot(H, W)].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    images = np.asarray(images, dtype=float)
    height, width = images.shape[-2:]
    background = np.median(_border(images), axis=-1)[..., None, None]
    sigma = (0,) * (images.ndim - 2) + (smooth_sigma, smooth_sigma)
    departure = gaussian_filter(np.abs(images - background), sigma)
    total = departure.sum(axis=(-2, -1), keepdims=True)
    weights = np.where(total > 0, departure, 1.0)
    weights = weights / weights.sum(axis=(-2, -1), keepdims=True)
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    center_y = (weights * rows).sum(axis=(-2, -1))
    center_x = (weights * cols).sum(axis=(-2, -1))
    distance = np.hypot(rows - center_y[..., None, None], cols - center_x[..., None, None])
    distance = distance.reshape(*distance.shape[:-2], -1)
    order = np.argsort(distance, axis=-1)
    sorted_distance = np.take_along_axis(distance, order, axis=-1)
    held = np.cumsum(
        np.take_along_axis(weights.reshape(*weights.shape[:-2], -1), order, axis=-1), axis=-1
    )
    first = np.argmax(held >= fraction * held[..., -1:], axis=-1)
    radius = np.take_along_axis(sorted_distance, first[..., None], axis=-1)[..., 0]
    return center_y, center_x, np.clip(radius, 1.0, np.hypot(height, width))


def circular_mask(
    center_y: np.ndarray, center_x: np.ndarray, radius: np.ndarray, height: int, width: int
) -> np.ndarray:
    """(..., height, width) bool: pixels whose centre lies within ``radius`` of the centre.

    ``center_y``, ``center_x`` and ``radius`` are arrays broadcast to a shape (...).

    Args:
        center_y: centre row, float pixels.
        center_x: centre column, float pixels.
        radius: radius, float pixels.
        height: image height (pixels).
        width: image width (pixels).
    """
    center_y, center_x, radius = (
        np.asarray(v, dtype=float)[..., None, None] for v in (center_y, center_x, radius)
    )
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    return np.hypot(rows - center_y, cols - center_x) <= radius


def luminance(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(...) mean of every image (..., H, W) over its mask (bool, broadcast with the images)."""
    images, mask = np.broadcast_arrays(images, mask)
    return (images * mask).sum(axis=(-2, -1)) / mask.sum(axis=(-2, -1))


def contrast(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(...) standard deviation (ddof 0) of every image (..., H, W) over its mask (bool)."""
    images, mask = np.broadcast_arrays(images, mask)
    deviation = (images - luminance(images, mask)[..., None, None]) * mask
    return np.sqrt((deviation**2).sum(axis=(-2, -1)) / mask.sum(axis=(-2, -1)))


def _bin_means(
    values: np.ndarray, index: np.ndarray, weights: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of values (..., M, N) per bin: index (M, N) in [0, n_bins), weights (M, N).

    Returns (..., n_bins) means, NaN for bins without weight, and (n_bins,) the bin weights.
    """
    onehot = (index.reshape(-1, 1) == np.arange(n_bins)) * weights.reshape(-1, 1)
    counts = onehot.sum(axis=0)
    sums = values.reshape(*values.shape[:-2], -1) @ onehot
    return np.divide(sums, counts, out=np.full_like(sums, np.nan), where=counts > 0), counts


def _angular_symmetry(
    power: np.ndarray, angle: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(SI_1, SI_2), each (...), of power (..., M, N) with angle (M, N) rad per bin; keep (M, N)."""
    width = 2 * np.pi / N_ANGLE_BINS
    index = np.floor((angle + np.pi) / width).astype(int) % N_ANGLE_BINS
    p_theta, counts = _bin_means(power, index, keep.astype(float), N_ANGLE_BINS)
    theta = -np.pi + (np.arange(N_ANGLE_BINS) + 0.5) * width
    p_theta, theta = p_theta[..., counts > 0], theta[counts > 0]
    total = p_theta.sum(axis=-1)
    return tuple(np.abs((p_theta * np.exp(2j * n * theta)).sum(axis=-1)) / total for n in (1, 2))


def symmetry_notebook(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(SI_1, SI_2), each (...), as the notebook: whole image, DC included (scores ~1, see top).

    Angles are those of the index offsets from the centre bin (H // 2, W // 2) of the fftshifted
    power spectrum.

    Args:
        images: (..., H, W).
    """
    height, width = np.shape(images)[-2:]
    power = np.abs(np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))) ** 2
    offset_y = np.arange(height)[:, None] - height // 2
    offset_x = np.arange(width)[None, :] - width // 2
    angle = np.arctan2(offset_y, offset_x)
    return _angular_symmetry(power, angle, np.ones_like(angle, dtype=bool))


def masked_power_spectrum(
    images: np.ndarray, mask: np.ndarray, pad: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of the masked, mean-subtracted images, zero-padded to a square.

    Args:
        images: (..., H, W) float.
        mask: bool, broadcast with the images (e.g. :func:`circular_mask`).
        pad: the spectrum is (n, n) with n = pad * max(H, W).

    Returns:
        power (..., n, n), fftshifted (DC at [n // 2, n // 2]), and f (n,) the frequencies of
        both axes in cycles/pixel (fftshift(fftfreq(n))).
    """
    images, mask = np.broadcast_arrays(images, mask)
    centred = (images - luminance(images, mask)[..., None, None]) * mask
    n = pad * max(centred.shape[-2:])
    power = np.abs(np.fft.fftshift(np.fft.fft2(centred, s=(n, n)), axes=(-2, -1))) ** 2
    return power, np.fft.fftshift(np.fft.fftfreq(n))


def _symmetry(power: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(SI_1, SI_2) of a :func:`masked_power_spectrum`: bins with 0 < |f| < 0.5 cycles/pixel."""
    radius = np.hypot(f[:, None], f[None, :])
    return _angular_symmetry(
        power, np.arctan2(f[:, None], f[None, :]), (radius > 0) & (radius < 0.5)
    )


def _peak(power: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fy, fx), each (...), cycles/pixel of the maximum of power (..., n, n) off DC."""
    n = f.size
    flat = power.reshape(*power.shape[:-2], -1).copy()
    flat[..., (n // 2) * n + n // 2] = -np.inf
    row, col = np.divmod(np.argmax(flat, axis=-1), n)
    return f[row], f[col]


def _peak_frequency(
    power: np.ndarray, f: np.ndarray, pixels_per_degree: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(cycles/pixel, cycles/degree), each (...), of the peak of a masked power spectrum."""
    fy, fx = _peak(power, f)
    ppd_y, ppd_x = pixels_per_degree
    return np.hypot(fy, fx), np.hypot(fy * ppd_y, fx * ppd_x)


def _orientation(
    power: np.ndarray, f: np.ndarray, pixels_per_degree: tuple[float, float]
) -> np.ndarray:
    """(...) orientation in deg [0, 180) of a masked power spectrum (module docstring)."""
    ppd_y, ppd_x = pixels_per_degree
    doubled = 2 * np.arctan2(f[:, None] * ppd_y, f[None, :] * ppd_x)
    resultant = (power * np.exp(1j * doubled)).sum(axis=(-2, -1))  # DC has power 0
    return np.rad2deg(np.angle(resultant) / 2) % 180.0


def symmetry(images: np.ndarray, mask: np.ndarray, pad: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(SI_1, SI_2), each (...) in [0, 1], of the masked, mean-subtracted images, DC excluded.

    Args:
        images: (..., H, W).
        mask: bool, broadcast with them.
        pad: see :func:`masked_power_spectrum`.
    """
    return _symmetry(*masked_power_spectrum(images, mask, pad))


def peak_spatial_frequency(
    images: np.ndarray, mask: np.ndarray, pixels_per_degree: tuple[float, float], pad: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """(cycles/pixel, cycles/degree), each (...), of the spectral peak of the masked images.

    Args:
        images: (..., H, W).
        mask: bool, broadcast with them.
        pixels_per_degree: (ppd_y, ppd_x) (ScreenGeometry.pixels_per_degree).
        pad: frequency resolution 1 / (pad max(H, W)) c/px.
    """
    return _peak_frequency(*masked_power_spectrum(images, mask, pad), pixels_per_degree)


def orientation(
    images: np.ndarray, mask: np.ndarray, pixels_per_degree: tuple[float, float], pad: int = 4
) -> np.ndarray:
    """(...) orientation in deg [0, 180) of the masked images (0 = vertical bars, clockwise).

    Args:
        images: (..., H, W).
        mask: bool, broadcast with them.
        pixels_per_degree: (ppd_y, ppd_x).
        pad: see :func:`masked_power_spectrum`.
    """
    return _orientation(*masked_power_spectrum(images, mask, pad), pixels_per_degree)


def _power(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|fftshift(fft2(image - mean))|^2 (..., H, W) and fy (H,), fx (W,) in cycles/pixel."""
    height, width = np.shape(images)[-2:]
    centred = images - np.mean(images, axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fftshift(np.fft.fft2(centred), axes=(-2, -1))) ** 2
    fy, fx = (np.fft.fftshift(np.fft.fftfreq(n)) for n in (height, width))
    return power, fy, fx


def log_power(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log1p of the power spectrum of every mean-subtracted image, for display.

    Returns:
        log_power (..., H, W) (fftshifted, DC at [H // 2, W // 2]), fy (H,) and fx (W,) in
        cycles/pixel (fftshift(fftfreq)).
    """
    power, fy, fx = _power(images)
    return np.log1p(power), fy, fx


def radial_profile(
    power: np.ndarray, fy: np.ndarray, fx: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of power (..., M, N) over rings of |f|, f = (fy (M,), fx (N,)) any unit.

    The rings split (0, f_max], f_max = min(max |fy|, max |fx|) (Nyquist for fftfreq), into
    n_bins of equal width; DC (|f| = 0) and the corners beyond f_max are left out.

    Returns:
        (n_bins,) ring centres and (..., n_bins) mean power per ring (NaN for an empty ring).
    """
    radius = np.hypot(fy[:, None], fx[None, :])
    f_max = min(np.abs(fy).max(), np.abs(fx).max())
    edges = np.linspace(0.0, f_max, n_bins + 1)
    index = np.clip(np.searchsorted(edges, radius, side="left") - 1, 0, n_bins - 1)
    keep = (radius > 0) & (radius <= f_max)
    means, _ = _bin_means(power, index, keep.astype(float), n_bins)
    return (edges[:-1] + edges[1:]) / 2, means


def image_spectra(images: np.ndarray, n_bins: int = 24) -> dict[str, np.ndarray]:
    """Spectra of every image (..., H, W) minus its mean, to store next to the metrics.

    Returns:
        A dict: ``log_power`` (..., H, W) and ``fy`` (H,), ``fx`` (W,) as :func:`log_power`;
        ``radial_frequency`` (n_bins,) cycles/pixel and ``radial_power`` (..., n_bins) the mean
        power (not log) per ring, :func:`radial_profile`.
    """
    power, fy, fx = _power(images)
    radial_frequency, radial_power = radial_profile(power, fy, fx, n_bins)
    return {
        "log_power": np.log1p(power),
        "fy": fy,
        "fx": fx,
        "radial_frequency": radial_frequency,
        "radial_power": radial_power,
    }


def image_metrics(
    images: np.ndarray,
    pixels_per_degree: tuple[float, float],
    fraction: float = 0.9,
    smooth_sigma: float = 1.5,
    pad: int = 4,
) -> dict[str, np.ndarray]:
    """Every scalar metric of every image (..., H, W), each array shaped images.shape[:-2].

    Args:
        images: (..., H, W).
        pixels_per_degree: (ppd_y, ppd_x), for peak_sf_cpd.
        fraction: of the mask, :func:`image_mask`.
        smooth_sigma: of the mask, :func:`image_mask`.
        pad: see :func:`masked_power_spectrum`.

    Returns:
        A dict with the keys mask_center_y, mask_center_x, mask_radius (pixels,
        :func:`image_mask` with ``fraction`` and ``smooth_sigma``), luminance, contrast (inside
        the mask), symmetry_1, symmetry_2 (masked spectrum, DC excluded), symmetry_1_notebook,
        symmetry_2_notebook (whole image, DC included), peak_sf_cpp (cycles/pixel), peak_sf_cpd
        (cycles/degree with pixels_per_degree = (ppd_y, ppd_x)), orientation_deg ([0, 180),
        0 = vertical bars, clockwise).
    """
    images = np.asarray(images, dtype=float)
    center_y, center_x, radius = image_mask(images, fraction, smooth_sigma)
    mask = circular_mask(center_y, center_x, radius, *images.shape[-2:])
    power, f = masked_power_spectrum(images, mask, pad)
    symmetry_1, symmetry_2 = _symmetry(power, f)
    notebook_1, notebook_2 = symmetry_notebook(images)
    peak_cpp, peak_cpd = _peak_frequency(power, f, pixels_per_degree)
    return {
        "mask_center_y": center_y,
        "mask_center_x": center_x,
        "mask_radius": radius,
        "luminance": luminance(images, mask),
        "contrast": contrast(images, mask),
        "symmetry_1": symmetry_1,
        "symmetry_2": symmetry_2,
        "symmetry_1_notebook": notebook_1,
        "symmetry_2_notebook": notebook_2,
        "peak_sf_cpp": peak_cpp,
        "peak_sf_cpd": peak_cpd,
        "orientation_deg": _orientation(power, f, pixels_per_degree),
    }
