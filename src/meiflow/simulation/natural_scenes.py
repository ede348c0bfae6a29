"""Synthetic stand-ins for the Allen natural scenes, cut from scikit-image's sample photographs.

The real set is 118 8-bit grayscale photographs of 918 x 1174 pixels. Here every scene is a random
crop (random scale and position, target aspect ratio) of one of a handful of natural photographs
that ship with scikit-image (they load offline), randomly mirrored, resized with area weights and
rescaled to a random mean luminance and contrast around the screen's mean gray.
``heldout_images`` cuts images the same way from other photographs, none of them a source of the
scenes, directly at model resolution.
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
#: scikit-image sample photographs for held-out images: natural content, none of them a source
#: of the scenes (``cat`` is left out: it is the same photograph as ``chelsea``).
HELDOUT_PHOTOS = ("moon", "hubble_deep_field", "cell", "clock")
#: Height and width (pixels) of the Allen scenes; held-out crops keep their aspect ratio.
SCENE_SHAPE = (918, 1174)
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


def _random_crops(
    photos: tuple[str, ...],
    rng: np.random.Generator,
    n: int,
    height: int,
    width: int,
    aspect: float,
) -> np.ndarray:
    """(n, height, width) uint8: random crops of photos, each photo used equally often (+-1).

    Each crop has a random scale (CROP_SCALE_RANGE) and position at the given width / height
    aspect ratio, is resized to (height, width) by crop_resize (area averages when shrinking),
    mapped affinely to a random mean luminance (MEAN_LUMINANCE) and contrast (CONTRAST_RANGE),
    clipped and rounded to 8 bits, and mirrored left-right with probability 1/2.
    """
    crops_out = np.empty((n, height, width), dtype=np.uint8)
    source = rng.permutation(np.arange(n) % len(photos))
    for k, name in enumerate(photos):
        index = np.flatnonzero(source == k)
        if index.size == 0:
            continue
        photo = _load_gray(name)
        h_src, w_src = photo.shape
        m = index.size
        crop_h = min(h_src, w_src / aspect) * np.exp(rng.uniform(*np.log(CROP_SCALE_RANGE), m))
        crop_w = crop_h * aspect
        top = rng.uniform(0.0, 1.0, m) * (h_src - crop_h)
        left = rng.uniform(0.0, 1.0, m) * (w_src - crop_w)
        crops = crop_resize(photo, top, left, crop_h, crop_w, height, width)
        # affine map of each crop to a random mean luminance and contrast, then clip
        mean = crops.mean(axis=(1, 2), dtype=float)
        std = np.sqrt(np.maximum(np.square(crops).mean(axis=(1, 2), dtype=float) - mean**2, 1e-12))
        gain = rng.uniform(*CONTRAST_RANGE, m) / std
        offset = rng.normal(*MEAN_LUMINANCE, m) - gain * mean
        crops *= (255 * gain).astype(np.float32)[:, None, None]
        crops += (255 * offset).astype(np.float32)[:, None, None]
        np.clip(crops, 0, 255, out=crops)
        batch = np.rint(crops, out=crops).astype(np.uint8)
        flip = rng.random(m) < 0.5
        batch[flip] = batch[flip, :, ::-1]
        crops_out[index] = batch
    return crops_out


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
    return _random_crops(SOURCE_PHOTOS, rng, n_scenes, height, width, width / height)


def heldout_images(seed: int, n_images: int = 500, height: int = 60, width: int = 96) -> np.ndarray:
    """Random natural images cut from photographs that none of the scenes comes from.

    Made like the scenes of natural_scenes (random crop scale and position at the scenes'
    aspect ratio SCENE_SHAPE, random mirror, random mean luminance and contrast, 8-bit levels),
    but from HELDOUT_PHOTOS, which are disjoint from SOURCE_PHOTOS, and cut directly at the
    requested (model) resolution: each crop is resized straight to (height, width) by area
    averaging (crop_resize).

    Args:
        seed: seed of np.random.default_rng; the same seed gives byte-identical images.
        n_images: number of images (each photograph gives an equal share of them, +-1).
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        (n_images, height, width) float32 luminance in [0, 1], on the 8-bit levels k / 255.

    Raises:
        ValueError: if n_images, height or width is below 1.
    """
    if min(n_images, height, width) < 1:
        raise ValueError(
            f"n_images, height and width must be at least 1, got {n_images}, {height}, {width}"
        )
    rng = np.random.default_rng(seed)
    aspect = SCENE_SHAPE[1] / SCENE_SHAPE[0]
    crops = _random_crops(HELDOUT_PHOTOS, rng, n_images, height, width, aspect)
    return crops.astype(np.float32) / np.float32(255)


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
