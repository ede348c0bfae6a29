"""Synthetic stand-ins for the Allen natural scenes, cut from scikit-image's sample photographs.

The real set is 118 8-bit grayscale photographs of 918 x 1174 pixels. Here every scene is a random
crop (random scale and position, target aspect ratio) of one of a handful of natural photographs
that ship with scikit-image (they load offline), randomly mirrored, resized with area weights and
rescaled to a random mean luminance and contrast around the screen's mean gray.
"""

import numpy as np
import skimage.color
import skimage.data

from meiflow.ingest.resize import area_resize, crop_resize

#: scikit-image sample photographs used as sources (natural content; no text, logos or
#: synthetic patterns).
SOURCE_PHOTOS = (
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "grass",
    "gravel",
    "brick",
    "rocket",
    "stereo_motorcycle",
    "coins",
    "immunohistochemistry",
    "retina",
)
#: Longer side (pixels) to which larger source photographs are first reduced (bounds the cost).
MAX_SOURCE_SIDE = 640
#: Crop height as a fraction of the largest crop of the target aspect ratio: log-uniform range.
CROP_SCALE_RANGE = (0.5, 1.0)
#: Scene mean luminance (fraction of 255): normal mean, sd.
MEAN_LUMINANCE = (0.5, 0.05)
#: Scene pixel standard deviation before clipping (fraction of 255): uniform range.
CONTRAST_RANGE = (0.2, 0.36)


def _load_gray(name: str) -> np.ndarray:
    """(H, W) float32 in [0, 1]: a scikit-image photograph as luminance, longer side capped."""
    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo pairs
        image = image[0]
    gray = skimage.color.rgb2gray(image[..., :3]) if image.ndim == 3 else image / 255.0
    shrink = MAX_SOURCE_SIDE / max(gray.shape)
    if shrink < 1:
        gray = area_resize(gray, round(gray.shape[0] * shrink), round(gray.shape[1] * shrink))
    return gray.astype(np.float32)


def natural_scenes(
    seed: int, n_scenes: int = 118, height: int = 918, width: int = 1174
) -> np.ndarray:
    """Random natural scenes, deterministic from seed.

    Args:
        seed: seed of np.random.default_rng; the same seed gives byte-identical scenes.
        n_scenes: number of scenes.
        height: scene height in pixels.
        width: scene width in pixels.

    Returns:
        (n_scenes, height, width) uint8.
    """
    rng = np.random.default_rng(seed)
    scenes = np.empty((n_scenes, height, width), dtype=np.uint8)
    source = rng.permutation(np.arange(n_scenes) % len(SOURCE_PHOTOS))
    aspect = width / height
    for k, name in enumerate(SOURCE_PHOTOS):
        index = np.flatnonzero(source == k)
        if index.size == 0:
            continue
        photo = _load_gray(name)
        h_src, w_src = photo.shape
        n = index.size
        crop_h = min(h_src, w_src / aspect) * np.exp(rng.uniform(*np.log(CROP_SCALE_RANGE), n))
        crop_w = crop_h * aspect
        top = rng.uniform(0.0, 1.0, n) * (h_src - crop_h)
        left = rng.uniform(0.0, 1.0, n) * (w_src - crop_w)
        crops = crop_resize(photo, top, left, crop_h, crop_w, height, width)
        # affine map of each crop to a random mean luminance and contrast, then clip
        mean = crops.mean(axis=(1, 2), dtype=float)
        std = np.sqrt(np.maximum(np.square(crops).mean(axis=(1, 2), dtype=float) - mean**2, 1e-12))
        gain = rng.uniform(*CONTRAST_RANGE, n) / std
        offset = rng.normal(*MEAN_LUMINANCE, n) - gain * mean
        crops *= (255 * gain).astype(np.float32)[:, None, None]
        crops += (255 * offset).astype(np.float32)[:, None, None]
        np.clip(crops, 0, 255, out=crops)
        batch = np.rint(crops, out=crops).astype(np.uint8)
        flip = rng.random(n) < 0.5
        batch[flip] = batch[flip, :, ::-1]
        scenes[index] = batch
    return scenes


def amplitude_spectrum_slope(
    images: np.ndarray, band: tuple[float, float] = (4.0, 48.0), chunk: int = 16
) -> float:
    """Exponent a of the fit |F(f)| ~ 1 / f^a of the mean amplitude spectrum of images.

    Each image is mean-subtracted and Hann-windowed; the amplitude of its 2-D FFT is averaged over
    images and over 24 log-spaced rings of radial frequency, and log amplitude is fitted linearly
    against log frequency over the band. Natural images give a close to 1.

    Args:
        images: (..., H, W) any real dtype; leading axes are images.
        band: (lowest, highest) radial frequency fitted, in cycles per image along the shorter
            side; the highest is capped at half the Nyquist frequency. The default leaves out the
            DC term and the few lowest rings (smeared by the window), and the high frequencies
            and corners, which the resizing of the small source photographs shapes: at 918 x 1174
            it fits 0.0044 .. 0.052 cycles/pixel (about 0.04 .. 0.5 cycles/deg on the Allen
            screen), the range that survives down-sampling to model resolution.
        chunk: images transformed at once (bounds memory).

    Returns:
        The exponent a (positive for spectra falling with frequency).
    """
    height, width = images.shape[-2:]
    images = images.reshape(-1, height, width)
    window = np.outer(np.hanning(height), np.hanning(width))
    amplitude = np.zeros((height, width // 2 + 1))
    for start in range(0, len(images), chunk):
        batch = images[start : start + chunk].astype(float)
        batch = (batch - batch.mean(axis=(1, 2), keepdims=True)) * window
        amplitude += np.abs(np.fft.rfft2(batch)).sum(axis=0)
    side = min(height, width)
    f = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :]) * side
    edges = np.geomspace(band[0], min(band[1], side / 4), 25)
    ring = np.digitize(f.ravel(), edges) - 1
    inside = (ring >= 0) & (ring < len(edges) - 1)
    counts = np.bincount(ring[inside], minlength=len(edges) - 1)
    sums = np.bincount(ring[inside], weights=amplitude.ravel()[inside], minlength=len(edges) - 1)
    used = counts > 0
    centres = np.sqrt(edges[:-1] * edges[1:])[used]
    slope = np.polyfit(np.log(centres), np.log(sums[used] / counts[used]), 1)[0]
    return float(-slope)
