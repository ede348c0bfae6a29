"""Ground-truth model neurons of the session simulator, written once in torch.

Every unit sees the image x (luminance in [0, 1], centred on the mean gray 0.5) through up to
four linear filters f_k, projections p_k = <f_k, x - 0.5>, and a cell type:

- ``simple``: drive = relu(p0), f0 a unit-norm Gabor filter;
- ``complex``: drive = sqrt(p0^2 + p1^2), f0, f1 a quadrature pair (energy model, phase
  invariant; Adelson & Bergen 1985, J Opt Soc Am A 2:284);
- ``center_surround``: drive = relu(p0), f0 a unit-norm difference of Gaussians, ON or OFF
  (``polarity``): not oriented, so its best image is a spot with a ring, not a Gabor. Mouse V1
  holds many such poorly orientation-selective units (Niell & Stryker 2008, J Neurosci 28:7520);
- ``conjunction``: drive = sqrt(E_a * E_b), E_a = sqrt(p0^2 + p1^2) and E_b = sqrt(p2^2 + p3^2)
  the energies of two phase-invariant subunits whose bars meet at ``angle_deg`` in a corner:
  both are needed (the geometric mean is an AND), so one Gabor drives it only partly. Angle- and
  corner-selective units as in macaque V2 (Ito & Komatsu 2004, J Neurosci 24:3313); MEIs of
  mouse V1 neurons with such non-Gabor features: Walker et al. 2019, Nat Neurosci 22:2060;
- ``untuned``: constant rate, whatever the stimulus.

Divisive normalization (Carandini & Heeger 2012, Nat Rev Neurosci 13:51): each of these drives is
divided by ``normalization`` + sqrt(sum_px w (x - 0.5)^2), the local RMS contrast in the unit's
pool w (its filters' energy, normalized to sum 1). The drive of a matched pattern then saturates
with contrast (half way at a local RMS contrast of ``normalization``), so a moderate-contrast
Allen gabor in the receptive field drives a unit a good part of the way, while the pattern, not
the contrast, sets how far: the best image on the stimulus budget (:mod:`meiflow.stimuli.budget`)
is still the unit's preferred pattern at high local contrast.

Rates. z = drive / d_opt, d_opt the unit's drive by its optimum on the budget; the gain is a
Naka-Rushton function h(z) = (1 + c^n) z^n / (c^n + z^n) with h(1) = 1 (exponent n), whose
semi-saturation c = ``semi_saturation`` * d99 / d_opt is set by the natural scenes (d99 the
99th-percentile drive over the session's scenes): contrast gain adapted to the ensemble the
animal is shown (Ohzawa, Sclar & Freeman 1982, Nature 298:266). So the optimum drives every
tuned unit at its ``peak_rate_hz`` and the best scene only part way: with s = ``semi_saturation``
and q = d99 / d_opt, the ratio of driven rates (optimum over a scene at the 99th percentile) is
(1 + s^n) / (1 + (s q)^n), bounded by 1 + s^n whatever the scene statistics. With modulation m,

    rate = spont + (peak - spont) * (m * h(z) + (1 - m) * mean over scenes of h(z)):

an unmodulated unit keeps the mean rate of a modulated one but no tuning. Untuned units fire at
spont + UNTUNED_DRIVEN_FRACTION * (peak - spont).

The calibration (``drive_optimum``, ``drive_scene_99``, ``mean_gain``) is stored per unit in the
ground truth, so :func:`true_rates` reproduces every rate from ``ground_truth.nc`` alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import Tensor

from meiflow.simulation.settings import CELL_TYPES, check_cell_type_shares
from meiflow.stimuli.gabor import allen_gabor_stimulus, gabor
from meiflow.stimuli.geometry import ScreenGeometry

__all__ = [
    "CELL_TYPES",
    "MODULATION_RANGE",
    "GABOR_TYPES",
    "NON_GABOR_TYPES",
    "TUNED_TYPES",
    "TrueNeurons",
    "calibrate",
    "drifting_gabor_rates",
    "implied_oracle",
    "naka_rushton",
    "receptive_fields",
    "sample_unit_params",
    "true_rates",
    "truth_neurons",
    "unit_table",
]

#: Cell types whose best image is a Gabor patch (simple) or a phase family of them (complex).
GABOR_TYPES = ("simple", "complex")
#: Cell types whose best image is not a Gabor patch.
NON_GABOR_TYPES = ("center_surround", "conjunction")
TUNED_TYPES = GABOR_TYPES + NON_GABOR_TYPES
#: Filters per unit (the conjunction's two quadrature pairs).
N_FILTERS = 4
#: Untuned units fire at spont + this fraction of (peak - spont), close to the mean of tuned units.
UNTUNED_DRIVEN_FRACTION = 0.15
#: Sampling ranges of the unit parameters (centres are also kept inside the screen).
CENTER_X_RANGE_DEG = (-35.0, 35.0)
CENTER_Y_RANGE_DEG = (-30.0, 30.0)
SF_RANGE_CPD = (0.04, 0.12)
SIGMA_RANGE_DEG = (5.0, 8.0)
SPONTANEOUS_RANGE_HZ = (0.5, 4.0)
PEAK_RANGE_HZ = (10.0, 45.0)
EXPONENT_RANGE = (0.7, 1.3)
MODULATION_RANGE = (0.15, 1.0)
SEMI_SATURATION_RANGE = (1.8, 2.6)
#: Divisive normalization: the local RMS contrast (luminance) at which the drive of a matched
#: pattern reaches half its maximum (a c50).
NORMALIZATION_RANGE = (0.05, 0.15)
#: Conjunction units: angle between the two subunits' bars (deg).
ANGLE_RANGE_DEG = (75.0, 105.0)
#: Conjunction units: subunit envelope sd and its distance from the corner, in sigma_deg.
SUBUNIT_SIGMA = 1.4
SUBUNIT_ARM = 2.2
#: Centre-surround units: centre and surround sd in sigma_deg; surround weight (its volume over
#: the centre's) range.
CENTER_SIGMA = 0.6
SURROUND_SIGMA = 1.8
SURROUND_WEIGHT_RANGE = (0.9, 1.0)
#: Added under the square roots of the energies: a finite gradient at a zero drive.
ENERGY_FLOOR = 1e-12
#: Per-unit calibration columns (see the module docstring).
CALIBRATION = ("drive_optimum", "drive_scene_99", "mean_gain")


def _type_counts(fractions: dict[str, float], n_units: int) -> np.ndarray:
    """Units per cell type (order of CELL_TYPES): shares normalized, largest-remainder rounding."""
    check_cell_type_shares(fractions, "cell type fractions")
    share = np.array([fractions.get(t, 0.0) for t in CELL_TYPES], dtype=float)
    exact = share / share.sum() * n_units
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
    modulation_range: tuple[float, float] = MODULATION_RANGE,
) -> pd.DataFrame:
    """Draw the parameters of n_units model neurons.

    Args:
        rng: random generator (all draws come from it, in a fixed order).
        n_units: number of units.
        fractions: share of each cell type (keys from CELL_TYPES, normalized to sum 1); counts
            are rounded exactly to n_units and the types shuffled.
        geometry: the screen; centres lie in x -35..35 deg, y -30..30 deg (inside the Allen
            Gabor grid of -40..40 deg) and inside the screen.
        modulation_range: [low, high] of the uniform draw of the modulation.

    Returns:
        DataFrame, one row per unit: cell_type (str), center_x_deg, center_y_deg (receptive-field
        centre; a conjunction unit's is the mean of its subunits' centres), orientation_deg
        (0..180, 0 = vertical bars, clockwise; a conjunction unit's corner bisector),
        sf_cpd (cycles/deg, log-uniform), sigma_deg (Gaussian envelope sd, deg), phase_rad,
        spontaneous_rate_hz, peak_rate_hz (rate of a fully modulated unit at its optimum),
        modulation (0..1, share of the gain that follows the stimulus), exponent and
        semi_saturation (in units of the 99th-percentile scene drive) of the Naka-Rushton gain,
        angle_deg (conjunction: angle between the subunits' bars), polarity (+1 ON, -1 OFF;
        centre-surround), surround_weight (centre-surround) and normalization (the local RMS
        contrast of half-maximal normalized drive); every column is drawn for every unit and used
        by the types named.
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
            "modulation": rng.uniform(*modulation_range, n_units),
            "exponent": rng.uniform(*EXPONENT_RANGE, n_units),
            "semi_saturation": rng.uniform(*SEMI_SATURATION_RANGE, n_units),
            "angle_deg": rng.uniform(*ANGLE_RANGE_DEG, n_units),
            "polarity": rng.choice([-1.0, 1.0], n_units),
            "surround_weight": rng.uniform(*SURROUND_WEIGHT_RANGE, n_units),
            "normalization": rng.uniform(*NORMALIZATION_RANGE, n_units),
        }
    )


def _unit_norm(filters: np.ndarray) -> np.ndarray:
    """Each (H, W) filter scaled to sum of squares 1 (an all-zero filter stays zero)."""
    norm = np.sqrt(np.square(filters).sum(axis=(-2, -1), keepdims=True))
    return np.divide(filters, norm, out=np.zeros_like(filters), where=norm > 0)


def receptive_fields(
    params: pd.DataFrame, geometry: ScreenGeometry, height: int, width: int
) -> np.ndarray:
    """(n_units, 4, height, width) float64: each unit's filters, unit norm (module docstring).

    simple and complex: a quadrature pair of Gabors (phase, phase + pi/2) in slots 0 and 1;
    center_surround: polarity * (G(CENTER_SIGMA * sigma) - w G(SURROUND_SIGMA * sigma)) in slot 0,
    G a Gaussian of unit volume and w ``surround_weight``; conjunction: two quadrature pairs
    (slots 0, 1 and 2, 3) of sd SUBUNIT_SIGMA * sigma, bars at orientation -/+ angle / 2,
    centred SUBUNIT_ARM * sigma from the corner along their bars (a V whose centroid is the
    unit's centre); untuned: zeros. Rendered with :func:`meiflow.stimuli.gabor.gabor` at the
    pixel centres given by geometry.
    """
    x_deg, y_deg = geometry.pixel_grid(height, width)
    cell_type = params["cell_type"].to_numpy().astype(str)
    cx, cy = _column(params, "center_x_deg"), _column(params, "center_y_deg")
    theta, sigma = _column(params, "orientation_deg"), _column(params, "sigma_deg")
    sf, phase = _column(params, "sf_cpd"), _column(params, "phase_rad") + np.array([0, np.pi / 2])
    filters = np.zeros((len(params), N_FILTERS, height, width))
    pair = gabor(x_deg, y_deg, cx, cy, theta, sf, phase, sigma)
    filters[:, :2] = np.where(np.isin(cell_type, GABOR_TYPES)[:, None, None, None], pair, 0.0)

    half = _column(params, "angle_deg") / 2
    bars = theta + np.array([-1.0, 1.0]) * half  # (n_units, 2)
    arm = SUBUNIT_ARM * sigma
    # bar direction of orientation t is (sin t, cos t); the corner sits arm * cos(half) behind
    # the centroid along the bisector
    sub_x = cx + arm * (
        np.sin(np.deg2rad(bars)) - np.cos(np.deg2rad(half)) * np.sin(np.deg2rad(theta))
    )
    sub_y = cy + arm * (
        np.cos(np.deg2rad(bars)) - np.cos(np.deg2rad(half)) * np.cos(np.deg2rad(theta))
    )
    subunits = gabor(
        x_deg,
        y_deg,
        sub_x[..., None],
        sub_y[..., None],
        bars[..., None],
        sf[..., None],
        phase[:, None, :],
        SUBUNIT_SIGMA * sigma[..., None],
    ).reshape(len(params), N_FILTERS, height, width)
    conjunction = (cell_type == "conjunction")[:, None, None, None]
    filters = np.where(conjunction, subunits, filters)

    r2 = (x_deg - cx[..., None]) ** 2 + (y_deg - cy[..., None]) ** 2
    center_sd, surround_sd = CENTER_SIGMA * sigma[..., None], SURROUND_SIGMA * sigma[..., None]
    dog = (
        np.exp(-r2 / (2 * center_sd**2)) / center_sd**2
        - _column(params, "surround_weight")[..., None]
        * np.exp(-r2 / (2 * surround_sd**2))
        / surround_sd**2
    )
    dog = _column(params, "polarity")[..., None] * dog
    filters[:, 0] = np.where((cell_type == "center_surround")[:, None, None], dog, filters[:, 0])
    return _unit_norm(filters)


def naka_rushton(
    drive: Tensor,
    drive_optimum: Tensor,
    drive_scene_99: Tensor,
    semi_saturation: Tensor,
    exponent: Tensor,
) -> Tensor:
    """The gain h(z) = (1 + c^n) z^n / (c^n + z^n) of the module docstring, broadcast.

    z = drive / drive_optimum and c = semi_saturation * drive_scene_99 / drive_optimum, n the
    exponent; h(1) = 1. A drive_optimum of 0 gives z = 0 (gain 0).
    """
    inverse = torch.where(drive_optimum > 0, 1.0 / drive_optimum, 0.0)
    c_n = (semi_saturation * drive_scene_99 * inverse) ** exponent
    z_n = (drive * inverse) ** exponent
    return (1.0 + c_n) * z_n / (c_n + z_n).clamp_min(torch.finfo(z_n.dtype).tiny)


def _type_masks(cell_type: np.ndarray) -> dict[str, np.ndarray]:
    cell_type = np.asarray(cell_type).astype(str)
    if not np.isin(cell_type, CELL_TYPES).all():
        raise ValueError(
            f"cell types must be among {CELL_TYPES}, got {sorted(set(cell_type) - set(CELL_TYPES))}"
        )
    return {name: cell_type == name for name in CELL_TYPES}


class TrueNeurons(torch.nn.Module):
    """The simulated units as one differentiable module (module docstring).

    Args:
        params: unit table (sample_unit_params's columns, plus the CALIBRATION columns once
            calibrated), n_units rows.
        geometry: the screen the filters are rendered for.
        height: image height in pixels (model resolution).
        width: image width in pixels.
        dtype: of the filters and constants (float64: the truth is exact to float resolution).

    Attributes:
        calibrated: whether the CALIBRATION columns were given (rates need them; drives do not).
    """

    def __init__(
        self,
        params: pd.DataFrame,
        geometry: ScreenGeometry,
        height: int,
        width: int,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        """Render the filters and hold the constants as buffers (class docstring)."""
        super().__init__()
        masks = _type_masks(params["cell_type"].to_numpy())
        self.height, self.width = height, width
        self.cell_type = params["cell_type"].to_numpy().astype(str)

        def buffer(name: str, values) -> None:
            self.register_buffer(name, torch.as_tensor(np.asarray(values), dtype=dtype))

        filters = receptive_fields(params, geometry, height, width)
        buffer("filters", filters)
        energy = np.square(filters).sum(axis=1)
        total = energy.sum(axis=(-2, -1), keepdims=True)
        buffer("pool", np.divide(energy, total, out=np.zeros_like(energy), where=total > 0))
        for name in CELL_TYPES:
            self.register_buffer(f"is_{name}", torch.as_tensor(masks[name]))
        spont = params["spontaneous_rate_hz"].to_numpy(dtype=float)
        buffer("spont", spont)
        buffer("span", params["peak_rate_hz"].to_numpy(dtype=float) - spont)
        for name in ("modulation", "exponent", "semi_saturation", "normalization"):
            buffer(name, params[name].to_numpy(dtype=float))
        self.calibrated = all(name in params for name in CALIBRATION)
        if self.calibrated:
            for name in CALIBRATION:
                buffer(name, params[name].to_numpy(dtype=float))
            tuned = ~masks["untuned"]
            bad = tuned & ~(params["drive_optimum"].to_numpy(dtype=float) > 0)
            if bad.any():
                raise ValueError(
                    "tuned units need drive_optimum > 0: units (index of the unit table) "
                    f"{params.index.to_numpy()[bad].tolist()}"
                )

    def _projections(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Projections <f_k, x - 0.5> (n_units, N_FILTERS, n) and normalizers (n_units, n).

        The normalizer is ``normalization`` + the local RMS contrast sqrt(sum w (x - 0.5)^2),
        w the unit's pool (its filters' energy, sum 1). In the images' dtype when that is
        floating point (a float32 search stays float32); images as in :meth:`drive`.
        """
        if images.shape[-2:] != (self.height, self.width):
            raise ValueError(
                f"images are {tuple(images.shape[-2:])} pixels, the neurons "
                f"({self.height}, {self.width})"
            )
        dtype = images.dtype if images.is_floating_point() else self.filters.dtype
        filters, pool = self.filters.to(dtype), self.pool.to(dtype)
        centred = images.to(dtype) - 0.5
        pattern = "ukhw,nhw->ukn" if images.dim() == 3 else "ukhw,unhw->ukn"
        p = torch.einsum(pattern, filters, centred)
        energy = torch.einsum(pattern.replace("k", ""), pool, centred**2)
        return p, self.normalization.to(dtype)[:, None] + (energy + ENERGY_FLOOR).sqrt()

    def _drive(self, p: Tensor) -> Tensor:
        """(n_units, n) drive from the projections (n_units, N_FILTERS, n)."""
        energy_a = (p[:, 0] ** 2 + p[:, 1] ** 2 + ENERGY_FLOOR).sqrt()
        energy_b = (p[:, 2] ** 2 + p[:, 3] ** 2 + ENERGY_FLOOR).sqrt()
        rectified = p[:, 0].clamp_min(0.0)
        drive = torch.zeros_like(rectified)
        drive = torch.where((self.is_simple | self.is_center_surround)[:, None], rectified, drive)
        drive = torch.where(self.is_complex[:, None], energy_a, drive)
        return torch.where(self.is_conjunction[:, None], (energy_a * energy_b).sqrt(), drive)

    def drive(self, images: Tensor) -> Tensor:
        """Unitless drive (module docstring) of every unit.

        Args:
            images: (n, H, W) shown to every unit, or (n_units, n, H, W), unit u's own images
                (the response protocol of :func:`meiflow.mei.synthesis.synthesize`).

        Returns:
            (n_units, n), in the images' floating dtype (else the module's).

        Raises:
            ValueError: images of another size than the module's.
        """
        p, normalizer = self._projections(images)
        return self._drive(p) / normalizer

    def search_objective(self, images: Tensor) -> Tensor:
        """(n_units, n) what a search for a unit's best image maximizes: the drive, not rectified.

        The rectified types (simple, centre-surround) give p0 instead of relu(p0): the same
        maximizer wherever the drive can be positive, and a gradient at images that do not drive
        the unit (a gray start); images as in :meth:`drive`.
        """
        p, normalizer = self._projections(images)
        rectified = (self.is_simple | self.is_center_surround)[:, None]
        return torch.where(rectified, p[:, 0], self._drive(p)) / normalizer

    def gain(self, drive: Tensor) -> Tensor:
        """(n_units, n) Naka-Rushton gain h(z) of a drive (n_units, n): 1 at the optimum."""
        if not self.calibrated:
            raise ValueError(f"the neurons are not calibrated: {CALIBRATION} missing")
        return naka_rushton(
            drive,
            self.drive_optimum[:, None],
            self.drive_scene_99[:, None],
            self.semi_saturation[:, None],
            self.exponent[:, None],
        )

    def forward(self, images: Tensor) -> Tensor:
        """(n_units, n) firing rates in Hz for images as in :meth:`drive`."""
        gain = self.gain(self.drive(images))
        modulated = (
            self.modulation[:, None] * gain
            + (1 - self.modulation[:, None]) * (self.mean_gain[:, None])
        )
        fraction = torch.where(self.is_untuned[:, None], UNTUNED_DRIVEN_FRACTION, modulated)
        return self.spont[:, None] + self.span[:, None] * fraction


def calibrate(
    params: pd.DataFrame, drive_optimum: np.ndarray, scene_drive: np.ndarray
) -> pd.DataFrame:
    """The unit table with its CALIBRATION columns (module docstring).

    Args:
        params: unit table (n_units rows).
        drive_optimum: (n_units,) drive by each unit's optimum on the budget (> 0 for tuned
            units; untuned units: any value).
        scene_drive: (n_units, n_scenes) drive by the session's natural scenes.
    """
    optimum = np.where(params["cell_type"] == "untuned", 1.0, drive_optimum)
    scene_99 = np.percentile(scene_drive, 99, axis=1)
    gain = naka_rushton(
        *(torch.as_tensor(np.asarray(v, dtype=float)) for v in (scene_drive, optimum[:, None])),
        torch.as_tensor(scene_99[:, None]),
        torch.as_tensor(_column(params, "semi_saturation")),
        torch.as_tensor(_column(params, "exponent")),
    )
    return params.assign(
        drive_optimum=optimum, drive_scene_99=scene_99, mean_gain=gain.mean(dim=1).numpy()
    )


def unit_table(truth: xr.Dataset) -> pd.DataFrame:
    """The unit table of a ground-truth dataset: its variables on ``unit`` alone, indexed by unit.

    Args:
        truth: ``ground_truth.nc`` or a subset of its units.

    Returns:
        DataFrame, one row per unit (index ``unit``), one column per variable.
    """
    per_unit = [name for name, v in truth.data_vars.items() if v.dims == ("unit",)]
    params = pd.DataFrame(
        {name: truth[name].to_numpy() for name in per_unit},
        index=pd.Index(truth["unit"].to_numpy(), name="unit"),
    )
    params["cell_type"] = params["cell_type"].astype(str)
    return params


def truth_neurons(truth: xr.Dataset) -> TrueNeurons:
    """The true neurons of a ground-truth dataset (or a subset of its units), as simulated.

    Rendered at the truth's resolution (its ``y``, ``x``) for its screen (attributes
    ``screen_width_deg``, ``screen_height_deg``); calibrated where the truth holds the
    calibration.
    """
    geometry = ScreenGeometry(
        width_deg=float(truth.attrs["screen_width_deg"]),
        height_deg=float(truth.attrs["screen_height_deg"]),
    )
    return TrueNeurons(unit_table(truth), geometry, truth.sizes["y"], truth.sizes["x"])


def true_rates(truth: xr.Dataset, images: np.ndarray) -> np.ndarray:
    """The simulated units' noise-free rates for any images, as the simulator computes them.

    Args:
        truth: ``ground_truth.nc`` or any subset of its units (``truth.sel(unit=...)``): the
            unit parameters and calibration (variables on ``unit`` alone) and the screen
            geometry (attributes ``screen_width_deg``, ``screen_height_deg``).
        images: (n, H, W) luminance in [0, 1] at the truth's resolution (its ``y``, ``x``).

    Returns:
        (n_units, n) float64 rates in spikes/s.

    Raises:
        ValueError: images of another size than the truth's, or a truth without calibration.
    """
    images = np.asarray(images)
    size = (truth.sizes["y"], truth.sizes["x"])
    if images.ndim != 3 or images.shape[-2:] != size:
        raise ValueError(f"images must be (n, {size[0]}, {size[1]}), got {images.shape}")
    neurons = truth_neurons(truth)
    if not neurons.calibrated:
        raise ValueError(f"the ground truth lacks the calibration {CALIBRATION}")
    with torch.no_grad():
        return neurons(torch.as_tensor(images, dtype=torch.float64)).numpy()


def drifting_gabor_rates(
    neurons: TrueNeurons,
    geometry: ScreenGeometry,
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
    equally spaced carrier phases of allen_gabor_stimulus rendered at the neurons' resolution.

    Args:
        neurons: calibrated true neurons (n_units).
        geometry: the screen the neurons were rendered for.
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
    orientation, x_pos, y_pos = np.broadcast_arrays(orientations, x_positions, y_positions)
    x_deg, y_deg = geometry.pixel_grid(neurons.height, neurons.width)
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
    with torch.no_grad():
        frame_rates = neurons(torch.as_tensor(frames.reshape(-1, neurons.height, neurons.width)))
    return frame_rates.numpy().reshape(-1, orientation.size, n_phases).mean(axis=-1)


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
