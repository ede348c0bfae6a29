"""Ground-truth model neurons of the session simulator.

Every unit is a Gabor-filter model seen through the screen geometry:

- simple: drive = relu(<f0, x - 0.5>);
- complex: drive = sqrt(<f0, x - 0.5>^2 + <f1, x - 0.5>^2) (energy model, phase invariant);
- untuned: constant rate, whatever the stimulus.

The rate of a tuned unit is a saturating (Naka-Rushton) function of its drive, exponent 1.5 .. 2.5
and semi-saturation 0.2 .. 0.5 of the drive of its 99th-percentile scene: contrast saturation as in
V1, which also lets the high-contrast Allen Gabors drive simple cells strongly enough for
receptive-field mapping (with a pure power law, their mean rate over a drift cycle barely moves).

f0, f1 is a quadrature pair of unit-norm Gabor filters and x an image with luminance in [0, 1].
Rates are calibrated on the natural scenes: a fully modulated unit reaches its peak rate at the
99th percentile of its drive over the scenes; the same calibration applies to any other stimulus.
"""

import numpy as np
import pandas as pd

from meiflow.stimuli.gabor import allen_gabor_stimulus, gabor
from meiflow.stimuli.geometry import ScreenGeometry

CELL_TYPES = ("simple", "complex", "untuned")
#: Untuned units fire at spont + this fraction of (peak - spont), close to the mean of tuned units.
UNTUNED_DRIVEN_FRACTION = 0.15
#: Sampling ranges of the unit parameters (centres are also kept inside the screen).
CENTER_X_RANGE_DEG = (-35.0, 35.0)
CENTER_Y_RANGE_DEG = (-30.0, 30.0)
SF_RANGE_CPD = (0.04, 0.12)
SIGMA_RANGE_DEG = (3.0, 6.0)
SPONTANEOUS_RANGE_HZ = (0.5, 4.0)
PEAK_RANGE_HZ = (5.0, 25.0)
EXPONENT_RANGE = (1.5, 2.5)
SEMI_SATURATION_RANGE = (0.2, 0.5)


def _type_counts(fractions: dict[str, float], n_units: int) -> np.ndarray:
    """Units per cell type (order of CELL_TYPES): largest-remainder rounding, summing to n_units."""
    unknown = set(fractions) - set(CELL_TYPES)
    if unknown:
        raise ValueError(f"unknown cell types {sorted(unknown)}; expected some of {CELL_TYPES}")
    share = np.array([fractions.get(t, 0.0) for t in CELL_TYPES], dtype=float)
    if (share < 0).any() or not np.isclose(share.sum(), 1.0):
        raise ValueError(f"cell type fractions must be >= 0 and sum to 1, got {fractions}")
    exact = share * n_units
    counts = np.floor(exact).astype(int)
    extra = np.argsort(-(exact - counts), kind="stable")[: n_units - counts.sum()]
    counts[extra] += 1
    return counts


def _column(params: pd.DataFrame, name: str) -> np.ndarray:
    """(n_units, 1) float64 column of the unit table, ready to broadcast over a trailing axis."""
    return params[name].to_numpy(dtype=float)[:, None]


def sample_unit_params(
    rng: np.random.Generator,
    n_units: int,
    fractions: dict[str, float],
    geometry: ScreenGeometry,
) -> pd.DataFrame:
    """Draw the parameters of n_units model neurons.

    Args:
        rng: random generator (all draws come from it, in a fixed order).
        n_units: number of units.
        fractions: share of each cell type (keys from CELL_TYPES, summing to 1); counts are
            rounded exactly to n_units and the types shuffled.
        geometry: the screen; centres lie in x -35..35 deg, y -30..30 deg (inside the Allen
            Gabor grid of -40..40 deg) and inside the screen.

    Returns:
        DataFrame, one row per unit: cell_type (str), center_x_deg, center_y_deg,
        orientation_deg (0..180, 0 = vertical bars, clockwise), sf_cpd (cycles/deg,
        log-uniform), sigma_deg (Gaussian envelope sd, deg), phase_rad, spontaneous_rate_hz,
        peak_rate_hz (rate of a fully modulated unit at the 99th-percentile scene),
        modulation (0..1, share of the drive that follows the stimulus; the rest is replaced by
        its mean over the scenes), exponent (1.5..2.5) and semi_saturation (0.2..0.5, in units
        of the 99th-percentile scene drive) of the Naka-Rushton nonlinearity, see rates().
    """
    counts = _type_counts(fractions, n_units)
    cell_type = rng.permutation(np.repeat(np.array(CELL_TYPES), counts))
    half_width, half_height = geometry.width_deg / 2, geometry.height_deg / 2
    x_range = np.clip(CENTER_X_RANGE_DEG, -half_width, half_width)
    y_range = np.clip(CENTER_Y_RANGE_DEG, -half_height, half_height)
    return pd.DataFrame(
        {
            "cell_type": cell_type,
            "center_x_deg": rng.uniform(*x_range, n_units),
            "center_y_deg": rng.uniform(*y_range, n_units),
            "orientation_deg": rng.uniform(0.0, 180.0, n_units),
            "sf_cpd": np.exp(rng.uniform(*np.log(SF_RANGE_CPD), n_units)),
            "sigma_deg": rng.uniform(*SIGMA_RANGE_DEG, n_units),
            "phase_rad": rng.uniform(0.0, 2 * np.pi, n_units),
            "spontaneous_rate_hz": rng.uniform(*SPONTANEOUS_RANGE_HZ, n_units),
            "peak_rate_hz": rng.uniform(*PEAK_RANGE_HZ, n_units),
            "modulation": rng.uniform(0.0, 1.0, n_units),
            "exponent": rng.uniform(*EXPONENT_RANGE, n_units),
            "semi_saturation": rng.uniform(*SEMI_SATURATION_RANGE, n_units),
        }
    )


def receptive_fields(
    params: pd.DataFrame, geometry: ScreenGeometry, height: int, width: int
) -> np.ndarray:
    """(n_units, 2, height, width) float64: quadrature pair of unit-norm Gabor filters per unit.

    Filter 0 has the unit's phase, filter 1 the phase + pi/2; each has sum of squares 1 over the
    image (rendered with gabor() at the pixel centres given by geometry).
    """
    x_deg, y_deg = geometry.pixel_grid(height, width)
    filters = gabor(
        x_deg,
        y_deg,
        _column(params, "center_x_deg"),
        _column(params, "center_y_deg"),
        _column(params, "orientation_deg"),
        _column(params, "sf_cpd"),
        _column(params, "phase_rad") + np.array([0.0, np.pi / 2]),
        _column(params, "sigma_deg"),
    )
    return filters / np.sqrt(np.square(filters).sum(axis=(-2, -1), keepdims=True))


def drive(filters: np.ndarray, images: np.ndarray, cell_type: np.ndarray) -> np.ndarray:
    """(n_units, n_images) unitless drive of each unit by each image.

    Args:
        filters: (n_units, 2, H, W) from receptive_fields.
        images: (n_images, H, W) luminance in [0, 1]; centred on 0.5 (mean gray) before use.
        cell_type: (n_units,) entries of CELL_TYPES.

    Returns:
        simple: relu(<f0, x>); complex: sqrt(<f0, x>^2 + <f1, x>^2); untuned: 0.
    """
    cell_type = np.asarray(cell_type)
    if not np.isin(cell_type, CELL_TYPES).all():
        raise ValueError(f"cell types must be among {CELL_TYPES}")
    n_units, _, height, width = filters.shape
    centred = images.reshape(-1, height * width) - 0.5
    proj = (filters.reshape(2 * n_units, -1) @ centred.T).reshape(n_units, 2, -1)
    simple = np.maximum(proj[:, 0], 0.0)
    energy = np.hypot(proj[:, 0], proj[:, 1])
    return np.select(
        [cell_type[:, None] == "simple", cell_type[:, None] == "complex"], [simple, energy], 0.0
    )


def rates(
    params: pd.DataFrame, drive_scenes: np.ndarray, drive_other: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Firing rates in Hz, calibrated on the natural scenes.

    rate = spont + (peak - spont) * (modulation * h(z) + (1 - modulation) * mean over scenes of
    h(z)), z = drive / d99, d99 = the unit's 99th-percentile drive over the scenes, and h the
    Naka-Rushton function h(z) = (1 + c^n) z^n / (c^n + z^n), n = exponent, c = semi_saturation,
    scaled so that h(1) = 1: an unmodulated unit keeps the mean rate of a modulated one but no
    tuning.
    A unit whose d99 is 0 gets z = 0. Untuned units fire at
    spont + UNTUNED_DRIVEN_FRACTION * (peak - spont) for every stimulus.

    Args:
        params: unit table from sample_unit_params (n_units rows).
        drive_scenes: (n_units, n_scenes) drive by the natural scenes.
        drive_other: optional (n_units, n_other) drive by other stimuli (e.g. Gabors).

    Returns:
        (rates for the scenes (n_units, n_scenes), rates for drive_other (n_units, n_other) or
        None), float64 Hz.
    """
    spont = _column(params, "spontaneous_rate_hz")
    span = _column(params, "peak_rate_hz") - spont
    modulation = _column(params, "modulation")
    exponent = _column(params, "exponent")
    c_n = _column(params, "semi_saturation") ** exponent
    untuned = params["cell_type"].to_numpy()[:, None] == "untuned"
    d99 = np.percentile(drive_scenes, 99, axis=1)
    inv_d99 = np.divide(1.0, d99, out=np.zeros_like(d99), where=d99 > 0)[:, None]

    def saturating(drive_values: np.ndarray) -> np.ndarray:
        z_n = (drive_values * inv_d99) ** exponent
        return (1.0 + c_n) * z_n / (c_n + z_n)

    mean_term = saturating(drive_scenes).mean(axis=1, keepdims=True)

    def to_rate(drive_values: np.ndarray) -> np.ndarray:
        gain = modulation * saturating(drive_values) + (1.0 - modulation) * mean_term
        return spont + span * np.where(untuned, UNTUNED_DRIVEN_FRACTION, gain)

    return to_rate(drive_scenes), None if drive_other is None else to_rate(drive_other)


def drifting_gabor_rates(
    params: pd.DataFrame,
    filters: np.ndarray,
    drive_scenes: np.ndarray,
    geometry: ScreenGeometry,
    height: int,
    width: int,
    orientations: np.ndarray,
    x_positions: np.ndarray,
    y_positions: np.ndarray,
    n_phases: int = 8,
    size_deg: float = 20.0,
    sf_cpd: float = 0.08,
    contrast: float = 0.8,
) -> np.ndarray:
    """Mean rate of each unit during each condition of the Allen 'gabors' stimulus.

    A presentation drifts at 4 Hz for 250 ms, one full cycle: the rate is averaged over n_phases
    equally spaced carrier phases of allen_gabor_stimulus rendered at the model resolution,
    with the scene calibration of rates().

    Args:
        params: unit table (n_units rows).
        filters: (n_units, 2, height, width) from receptive_fields.
        drive_scenes: (n_units, n_scenes) drive by the natural scenes (the calibration).
        geometry: the screen the filters were rendered for.
        height: model resolution height in pixels (that of the filters).
        width: model resolution width in pixels (that of the filters).
        orientations: the conditions' orientations in deg; ``orientations``, ``x_positions`` and
            ``y_positions`` broadcast to (n_conditions,).
        x_positions: the conditions' x positions in deg.
        y_positions: the conditions' y positions in deg.
        n_phases: carrier phases averaged over one drift cycle.
        size_deg: stimulus setting (Allen: 20 deg).
        sf_cpd: stimulus setting (Allen: 0.08 cpd).
        contrast: stimulus setting (Allen: 0.8).

    Returns:
        (n_units, n_conditions) float64 Hz. Memory: n_conditions * n_phases * H * W floats.
    """
    if filters.shape[-2:] != (height, width):
        raise ValueError(f"filters are {filters.shape[-2:]}, not ({height}, {width}) pixels")
    orientation, x_pos, y_pos = np.broadcast_arrays(orientations, x_positions, y_positions)
    x_deg, y_deg = geometry.pixel_grid(height, width)
    phases = 2 * np.pi * np.arange(n_phases) / n_phases
    frames = allen_gabor_stimulus(
        x_deg,
        y_deg,
        x_pos[:, None],
        y_pos[:, None],
        orientation[:, None],
        phases,
        size_deg=size_deg,
        sf_cpd=sf_cpd,
        contrast=contrast,
    )
    unit_drive = drive(filters, frames.reshape(-1, height, width), params["cell_type"].to_numpy())
    _, frame_rates = rates(params, drive_scenes, unit_drive)
    return frame_rates.reshape(len(params), orientation.size, n_phases).mean(axis=-1)


def optimal_stimulus(
    filters: np.ndarray, cell_type: np.ndarray, contrast: float, n_iter: int = 60
) -> np.ndarray:
    """(n_units, H, W) in [0, 1]: the image of pixel std `contrast` that drives each unit most.

    clip(0.5 + k * f0, 0, 1) with k > 0 found by bisection (in log k) so that the std of the
    clipped image equals `contrast` (e.g. the scenes' mean std). Among images in [0, 1] with a
    given distance from mean gray this maximizes <f0, x - 0.5> (the KKT solution of the box- and
    norm-constrained linear program), hence the simple cell's drive; for a complex cell it is one
    of its (phase-shifted) optima. Because the filter is local and the std is taken over the
    whole image, a high contrast saturates the carrier well beyond the envelope. Untuned units:
    uniform 0.5. If `contrast` exceeds what saturation reaches, the saturated image is returned.

    Args:
        filters: (n_units, 2, H, W) from receptive_fields.
        cell_type: (n_units,) entries of CELL_TYPES.
        contrast: target pixel standard deviation (luminance units).
        n_iter: bisection steps (each halves the bracket of log k, 70 wide).

    Returns:
        (n_units, H, W) float64.
    """
    f0 = filters[:, 0]
    k0 = contrast / f0.std(axis=(-2, -1), keepdims=True)  # exact without clipping: a lower bound
    log_lo, log_hi = np.log(k0), np.log(k0) + 70.0

    def clipped(log_k: np.ndarray) -> np.ndarray:
        return np.clip(0.5 + np.exp(log_k) * f0, 0.0, 1.0)

    for _ in range(n_iter):
        mid = (log_lo + log_hi) / 2
        low_std = clipped(mid).std(axis=(-2, -1), keepdims=True) < contrast
        log_lo, log_hi = np.where(low_std, mid, log_lo), np.where(low_std, log_hi, mid)
    best = clipped(log_lo)
    untuned = np.asarray(cell_type)[:, None, None] == "untuned"
    return np.where(untuned, 0.5, best)


def implied_oracle(true_counts: np.ndarray, n_repeats: int) -> np.ndarray:
    """(n_units,) expected jackknife oracle correlation of Poisson spike counts.

    For counts ~ Poisson(lambda_i) with n_repeats repeats of every image i, pairing each trial
    with the mean of the other repeats gives, over images,
    var(lambda) / sqrt((var(lambda) + mean(lambda)) * (var(lambda) + mean(lambda) / (R - 1))).

    Args:
        true_counts: (n_units, n_images) expected spike counts per presentation.
        n_repeats: repeats R per image (>= 2).

    Returns:
        (n_units,) float64: 0 for a unit with constant expected counts (no signal: its trials
        correlate with the other repeats only by chance), NaN for a unit that never fires.
    """
    # exactly 0 for a constant row (np.var leaves round-off of order 1e-31 there)
    var = np.where(np.ptp(true_counts, axis=1) > 0, true_counts.var(axis=1), 0.0)
    mean = true_counts.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return var / np.sqrt((var + mean) * (var + mean / (n_repeats - 1)))
