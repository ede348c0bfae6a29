"""Simulate an Allen Visual Coding - Neuropixels session with ground-truth model neurons.

The session follows the real ``brain_observatory_1.1`` design where it matters here: a gabors
block (3 orientations x 9 x 9 positions of 20 deg, 0.08 cpd, 4 Hz drifting Gabors, 250 ms each),
then three natural-scene blocks (118 scenes + blank, 250 ms, shuffled). Units of each area respond
through their model (:mod:`meiflow.simulation.neurons`) after a latency; spikes are Poisson around
the piecewise-constant model rate, with spontaneous activity between stimuli. The result is written
in AllenSDK's cache format by :mod:`meiflow.io.allen_format`; the ground truth goes to NetCDF.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr

from meiflow.ingest.scene_images import BLANK_FRAME, model_images, with_blank
from meiflow.io.allen_cache import UnitFilter
from meiflow.io.allen_format import SessionTables
from meiflow.io.netcdf import describe
from meiflow.simulation.natural_scenes import heldout_images, natural_scenes
from meiflow.simulation.neurons import (
    MODULATION_RANGE,
    TrueNeurons,
    calibrate,
    drifting_gabor_rates,
    implied_oracle,
    sample_unit_params,
)
from meiflow.simulation.optima import optimal_images, true_best_gabors
from meiflow.simulation.settings import VISUAL_PREFIX, SimulationSettings
from meiflow.stimuli.allen import (
    GABOR_ORIENTATIONS,
    GABOR_POSITIONS,
    N_SCENES,
    PRESENTATION_S,
    SCENE_BLOCKS,
    gabor_conditions,
)
from meiflow.stimuli.budget import BudgetSettings, StimulusBudget
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry

#: Spontaneous periods (s) before the first block, between blocks and after the last.
GAP_S = 30.0
#: Allen CCF structure ids of common acronyms (others get the root id, 997).
STRUCTURE_IDS = {
    "VISp": 385,
    "VISam": 394,
    "VISl": 409,
    "VISal": 402,
    "VISrl": 417,
    "VISpm": 533,
    "LGd": 170,
    "LP": 218,
    "CA1": 382,
    "CA3": 463,
    "DG": 726,
}
FIRST_UNIT_ID = 950_000_000
FIRST_CHANNEL_ID = 850_000_000
FIRST_PROBE_ID = 800_000_000

log = logging.getLogger(__name__)


@dataclass
class SimulatedSession:
    """A simulated session: what goes into the Allen cache, and the ground truth."""

    tables: SessionTables
    scenes: np.ndarray  # (118, 918, 1174) uint8 scene templates
    ground_truth: xr.Dataset


def stimulus_schedule(
    rng: np.random.Generator, scene_repeats: int, gabor_repeats: int
) -> pd.DataFrame:
    """The presentation table, in time order.

    Returns:
        One row per presentation: ``start_time``, ``stop_time`` (s), ``stimulus_name``,
        ``stimulus_block``, ``stimulus_index``, ``condition`` (row of :func:`gabor_conditions`, or
        scene frame with -1 = blank) and the Allen stimulus parameters.
    """
    conditions = gabor_conditions()
    gabor_order = rng.permutation(np.repeat(np.arange(len(conditions)), gabor_repeats))
    gabors = (
        conditions.iloc[gabor_order]
        .reset_index(drop=True)
        .assign(
            stimulus_name="gabors",
            stimulus_block=0,
            stimulus_index=0,
            condition=gabor_order,
            contrast=0.8,
            size=20.0,
            spatial_frequency=0.08,
            temporal_frequency=4.0,
            phase=0.0,
        )
    )
    frames = np.arange(BLANK_FRAME, N_SCENES)
    per_block = np.diff(np.linspace(0, scene_repeats, SCENE_BLOCKS + 1).round().astype(int))
    blocks = [
        pd.DataFrame({"frame": rng.permutation(np.repeat(frames, n)).astype(float)}).assign(
            stimulus_name="natural_scenes", stimulus_block=2 * (b + 1), stimulus_index=1
        )
        for b, n in enumerate(per_block)
    ]
    starts, t = [], GAP_S
    for block in [gabors, *blocks]:
        starts.append(t + PRESENTATION_S * np.arange(len(block)))
        t = starts[-1][-1] + PRESENTATION_S + GAP_S
    table = pd.concat([gabors, *blocks], ignore_index=True)
    table["start_time"] = np.concatenate(starts)
    table["stop_time"] = table["start_time"] + PRESENTATION_S
    scene = table["stimulus_name"] == "natural_scenes"
    table.loc[scene, "condition"] = table.loc[scene, "frame"]
    return table.astype({"condition": int})


def poisson_spikes(
    rng: np.random.Generator, seg_start: np.ndarray, seg_stop: np.ndarray, seg_rates: np.ndarray
) -> list[np.ndarray]:
    """Poisson spike trains of piecewise-constant rates.

    Args:
        rng: random generator.
        seg_start: (n_segments,) starts of disjoint segments (s).
        seg_stop: (n_segments,) stops of the segments (s).
        seg_rates: (n_segments, n_units) rates (Hz).

    Returns:
        One sorted spike-time array (s) per unit.
    """
    counts = rng.poisson(seg_rates * (seg_stop - seg_start)[:, None])
    n_units = seg_rates.shape[1]
    seg_index = np.repeat(
        np.tile(np.arange(len(seg_start))[:, None], (1, n_units)).ravel(), counts.ravel()
    )
    unit_index = np.repeat(np.tile(np.arange(n_units), len(seg_start)), counts.ravel())
    times = seg_start[seg_index] + rng.random(seg_index.size) * (seg_stop - seg_start)[seg_index]
    order = np.lexsort((times, unit_index))
    bounds = np.cumsum(np.bincount(unit_index, minlength=n_units))[:-1]
    return np.split(times[order], bounds)


def rate_segments(
    presentations: pd.DataFrame,
    stimulus_rates: np.ndarray,
    spontaneous: np.ndarray,
    latency_s: float,
    end_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Piecewise-constant rates over the session.

    Each presentation drives its response window [onset + latency, offset + latency); the rest of
    the time is spontaneous.

    Args:
        presentations: time-ordered, non-overlapping ``start_time`` / ``stop_time`` (s).
        stimulus_rates: (n_presentations, n_units) rate (Hz) evoked by each presentation.
        spontaneous: (n_units,) spontaneous rate (Hz).
        latency_s: response latency (s).
        end_s: session end (s).

    Returns:
        seg_start: (n_segments,).
        seg_stop: (n_segments,).
        seg_rates: (n_segments, n_units).
    """
    on = presentations["start_time"].to_numpy() + latency_s
    off = presentations["stop_time"].to_numpy() + latency_s
    gap_start = np.concatenate([[0.0], off])
    gap_stop = np.concatenate([on, [end_s]])
    keep = gap_stop > gap_start + 1e-9
    seg_start = np.concatenate([on, gap_start[keep]])
    seg_stop = np.concatenate([off, gap_stop[keep]])
    seg_rates = np.concatenate(
        [stimulus_rates, np.broadcast_to(spontaneous, (int(keep.sum()), spontaneous.size))]
    )
    order = np.argsort(seg_start, kind="stable")
    return seg_start[order], seg_stop[order], seg_rates[order]


def quality_metrics(
    rng: np.random.Generator, n_units: int, fraction_failing: float
) -> pd.DataFrame:
    """Quality metrics of the units.

    A ``fraction_failing`` share of units fails AllenSDK's default filter (each on one metric:
    amplitude cutoff, presence ratio, ISI violations or quality label).
    """
    metrics = pd.DataFrame(
        {
            "amplitude_cutoff": rng.uniform(0.0, 0.08, n_units),
            "presence_ratio": rng.uniform(0.96, 0.99, n_units),
            "isi_violations": rng.uniform(0.0, 0.3, n_units),
            "snr": rng.uniform(1.5, 5.0, n_units),
            "quality": "good",
        }
    )
    failing = rng.permutation(n_units)[: int(round(fraction_failing * n_units))]
    reason = rng.integers(0, 4, failing.size)
    metrics.loc[failing[reason == 0], "amplitude_cutoff"] = rng.uniform(
        0.2, 0.5, (reason == 0).sum()
    )
    metrics.loc[failing[reason == 1], "presence_ratio"] = rng.uniform(0.5, 0.9, (reason == 1).sum())
    metrics.loc[failing[reason == 2], "isi_violations"] = rng.uniform(0.6, 2.0, (reason == 2).sum())
    metrics.loc[failing[reason == 3], "quality"] = "noise"
    return metrics


def passes_default_filter(metrics: pd.DataFrame) -> np.ndarray:
    """AllenSDK's default unit filter applied to a metrics table (n_units,) bool."""
    default = UnitFilter()
    return (
        (metrics["amplitude_cutoff"] <= default.amplitude_cutoff_maximum)
        & (metrics["presence_ratio"] >= default.presence_ratio_minimum)
        & (metrics["isi_violations"] <= default.isi_violations_maximum)
        & (metrics["quality"] == "good")
    ).to_numpy()


def unit_parameters(
    rng: np.random.Generator, sim: SimulationSettings, geometry: ScreenGeometry
) -> pd.DataFrame:
    """The parameters of every simulated unit, area by area (``sim.units_per_area``'s order).

    Args:
        rng: random generator (all draws come from it, in a fixed order).
        sim: the simulator's settings: each visual area's units get its
            ``sim.cell_types_of(area)`` (other areas: untuned units only), their receptive-field
            sizes scaled by its ``sim.rf_size_scale`` and their modulations drawn from its
            ``sim.modulation_range``.
        geometry: the screen.

    Returns:
        :func:`meiflow.simulation.neurons.sample_unit_params`'s table with a column ``area``,
        one row per unit.
    """
    for name in ("rf_size_scale", "modulation_range", "cell_types"):
        named = getattr(sim, name) if name != "cell_types" else sim.cell_type_mixes()
        unknown = sorted(set(named) - set(sim.units_per_area) - {""})
        if unknown:
            log.warning(
                "simulation.%s names areas %s that simulation.units_per_area does not simulate "
                "(misspelt?); they are ignored",
                name,
                unknown,
            )
    not_visual = sorted(a for a in sim.cell_type_mixes() if a and not a.startswith(VISUAL_PREFIX))
    if not_visual:
        log.warning(
            "simulation.cell_types names areas %s outside the visual cortex (not starting with "
            "%s): their units are untuned whatever the shares",
            not_visual,
            VISUAL_PREFIX,
        )
    frames = []
    for area, n in sim.units_per_area.items():
        visual = area.startswith(VISUAL_PREFIX)
        fractions = sim.cell_types_of(area) if visual else {"untuned": 1.0}
        modulation = sim.modulation_range.get(area, MODULATION_RANGE)
        params = sample_unit_params(rng, n, fractions, geometry, modulation).assign(area=area)
        params["sigma_deg"] *= sim.rf_size_scale.get(area, 1.0)
        frames.append(params)
    return pd.concat(frames, ignore_index=True)


def _probe_tables(
    params: pd.DataFrame, metrics: pd.DataFrame, spikes: list[np.ndarray], end_s: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Probe (one per area), channel (one per unit) and unit tables in the Allen CSV layout."""
    areas = list(dict.fromkeys(params["area"]))
    probe_ids = FIRST_PROBE_ID + np.arange(len(areas))
    probes = pd.DataFrame(
        {
            "name": [f"probe{chr(ord('A') + i)}" for i in range(len(areas))],
            "sampling_rate": 30000.0,
            "lfp_sampling_rate": 2500.0,
            "phase": "3a",
        },
        index=pd.Index(probe_ids, name="id"),
    )
    probe_of_unit = probe_ids[[areas.index(a) for a in params["area"]]]
    local = params.groupby("area").cumcount().to_numpy()
    channel_ids = FIRST_CHANNEL_ID + np.arange(len(params))
    channels = pd.DataFrame(
        {
            "ecephys_probe_id": probe_of_unit,
            "local_index": local,
            "probe_vertical_position": 20 * local,
            "probe_horizontal_position": 11 + 32 * (local % 2),
            "ecephys_structure_id": [STRUCTURE_IDS.get(a, 997) for a in params["area"]],
            "ecephys_structure_acronym": params["area"].to_numpy(),
            "anterior_posterior_ccf_coordinate": 8000.0,
            "dorsal_ventral_ccf_coordinate": 1000.0,
            "left_right_ccf_coordinate": 7000.0,
        },
        index=pd.Index(channel_ids, name="id"),
    )
    units = metrics.assign(
        ecephys_channel_id=channel_ids,
        local_index=local,
        firing_rate=[s.size / end_s for s in spikes],
    ).set_axis(pd.Index(FIRST_UNIT_ID + np.arange(len(params)), name="id"))
    return probes, channels, units


def _rates(neurons: TrueNeurons, images: np.ndarray) -> np.ndarray:
    """(n_units, n) rates (Hz) of numpy images (n, H, W)."""
    with torch.no_grad():
        return neurons(torch.as_tensor(images, dtype=torch.float64)).numpy()


def _best_images(
    params: pd.DataFrame,
    geometry: ScreenGeometry,
    height: int,
    width: int,
    budget: StimulusBudget,
) -> dict[str, np.ndarray]:
    """The optimum and the true best Gabor of every tuned unit, on the budget.

    The best Gabor is one of the optimum search's starts, so the optimum is at least as good.

    Returns:
        ``optimal_stimulus`` and ``best_gabor_stimulus`` (n_units, H, W) and the drive of the
        optimum ``drive_optimum`` (n_units,); untuned units get the uniform image of the
        budget's mean luminance (and drive 1, unused).
    """
    tuned = np.flatnonzero(params["cell_type"].to_numpy() != "untuned")
    best = {
        "optimal_stimulus": np.full((len(params), height, width), budget.mean),
        "best_gabor_stimulus": np.full((len(params), height, width), budget.mean),
        "drive_optimum": np.ones(len(params)),
    }
    if tuned.size == 0:
        return best
    subset = params.iloc[tuned].reset_index(drop=True)
    neurons = TrueNeurons(subset, geometry, height, width)
    centers = subset[["center_x_deg", "center_y_deg"]].to_numpy()
    gabors, _ = true_best_gabors(neurons, budget, geometry, centers)
    log.info("true best Gabors of %d tuned units", tuned.size)
    optimum, drive = optimal_images(neurons, budget, starts=gabors[:, None])
    log.info("optima of %d tuned units on the budget", tuned.size)
    best["optimal_stimulus"][tuned] = optimum
    best["best_gabor_stimulus"][tuned] = gabors
    best["drive_optimum"][tuned] = drive
    return best


def simulate_session(
    session_id: int,
    sim: SimulationSettings,
    geometry: ScreenGeometry,
    image_size: ImageSettings,
    budget_settings: BudgetSettings | None = None,
) -> SimulatedSession:
    """Simulate one session (see :class:`SimulationSettings`).

    The neurons see the scenes at model resolution (``image_size``, through
    :func:`meiflow.ingest.scene_images.model_images`, exactly as ``images.nc`` will hold them), so
    the ground truth is exact for the models' input. Each tuned unit is calibrated on its
    optimum on the session's stimulus budget (:class:`~meiflow.stimuli.budget.StimulusBudget`
    of the scenes, ``budget_settings``; see :mod:`meiflow.simulation.neurons`). Every random
    draw derives from ``sim.seed`` and the session id: the same inputs give byte-identical
    outputs.
    """
    budget_settings = budget_settings or BudgetSettings()
    height, width = image_size.height, image_size.width
    streams = np.random.SeedSequence([int(sim.seed), int(session_id)]).spawn(6)
    rng_units, rng_schedule, rng_spikes, rng_quality, rng_scenes, rng_heldout = map(
        np.random.default_rng, streams
    )
    scenes = natural_scenes(int(rng_scenes.integers(2**31)), N_SCENES)
    images, frames = with_blank(model_images(scenes, height, width), np.arange(N_SCENES))
    budget = StimulusBudget.from_scenes(images[1:], budget_settings.contrast_scale)

    params = unit_parameters(rng_units, sim, geometry)
    with torch.no_grad():
        scene_drive = TrueNeurons(params, geometry, height, width).drive(
            torch.as_tensor(images[1:], dtype=torch.float64)
        )
    best = _best_images(params, geometry, height, width, budget)
    params = calibrate(params, best["drive_optimum"], scene_drive.numpy())
    neurons = TrueNeurons(params, geometry, height, width)
    # the blank (column 0) is just another stimulus
    frame_rates = _rates(neurons, images)
    conditions = gabor_conditions()
    gabor_rates = drifting_gabor_rates(
        neurons,
        geometry,
        conditions["orientation"].to_numpy(),
        conditions["x_position"].to_numpy(),
        conditions["y_position"].to_numpy(),
    )
    heldout = heldout_images(int(rng_heldout.integers(2**31)), sim.heldout_images, height, width)
    log.info("%d held-out images", len(heldout))

    schedule = stimulus_schedule(rng_schedule, sim.scene_repeats, sim.gabor_repeats)
    is_scene = (schedule["stimulus_name"] == "natural_scenes").to_numpy()
    condition = schedule["condition"].to_numpy()
    # frames = [-1, 0, 1, ...]: scene frame f is column f + 1 of frame_rates
    evoked = np.where(
        is_scene[:, None],
        frame_rates.T[np.where(is_scene, condition + 1, 0)],
        gabor_rates.T[np.where(is_scene, 0, condition)],
    )
    end_s = float(schedule["stop_time"].iloc[-1] + GAP_S)
    spikes = poisson_spikes(
        rng_spikes,
        *rate_segments(
            schedule,
            evoked,
            params["spontaneous_rate_hz"].to_numpy(),
            float(sim.latency_s),
            end_s,
        ),
    )

    metrics = quality_metrics(rng_quality, len(params), sim.fraction_failing_quality)
    probes, channels, units = _probe_tables(params, metrics, spikes, end_s)
    session = pd.DataFrame(
        {
            "published_at": "2019-10-03T00:00:00Z",
            "specimen_id": 1,
            "session_type": "brain_observatory_1.1",
            "age_in_days": 110.0,
            "sex": "M",
            "genotype": "wt/wt",
            "institution": "meiflow simulator",
        },
        index=pd.Index([int(session_id)], name="id"),
    )
    presentations = schedule.drop(columns="condition")
    presentations.loc[
        is_scene,
        [
            "orientation",
            "x_position",
            "y_position",
            "contrast",
            "size",
            "spatial_frequency",
            "temporal_frequency",
            "phase",
        ],
    ] = np.nan
    tables = SessionTables(
        session=session,
        probes=probes,
        channels=channels,
        units=units,
        spike_times=dict(zip(units.index.tolist(), spikes, strict=True)),
        presentations=presentations,
    )
    truth = ground_truth(
        params,
        units.index.to_numpy(),
        neurons,
        frame_rates,
        gabor_rates,
        frames,
        best,
        heldout,
        sim.scene_repeats,
        passes_default_filter(metrics),
        geometry,
    )
    truth.attrs.update(
        session_id=int(session_id),
        latency_s=float(sim.latency_s),
        budget_mean=budget.mean,
        budget_contrast=budget.contrast,
        screen_width_deg=float(geometry.width_deg),
        screen_height_deg=float(geometry.height_deg),
    )
    return SimulatedSession(tables=tables, scenes=scenes, ground_truth=truth)


def ground_truth(
    params: pd.DataFrame,
    unit_ids: np.ndarray,
    neurons: TrueNeurons,
    frame_rates: np.ndarray,
    gabor_rates: np.ndarray,
    frames: np.ndarray,
    best: dict[str, np.ndarray],
    heldout: np.ndarray,
    scene_repeats: int,
    passes_filter: np.ndarray,
    geometry: ScreenGeometry,
) -> xr.Dataset:
    """The ground-truth dataset (``ground_truth.nc``) of a simulated session.

    Args:
        params: the calibrated unit table (every column becomes a variable on ``unit``).
        unit_ids: (n_units,) the units' ids.
        neurons: the calibrated true neurons of the same units.
        frame_rates: (n_units, n_frames) Hz, blank first.
        gabor_rates: (n_units, 243) Hz, the gabors conditions.
        frames: (n_frames,) frame numbers, -1 the blank.
        best: ``optimal_stimulus`` and ``best_gabor_stimulus`` (n_units, H, W) on the budget.
        heldout: (n_heldout, H, W) the held-out images.
        scene_repeats: repeats of each scene (for the implied oracle).
        passes_filter: (n_units,) bool, AllenSDK's default quality filter.
        geometry: the screen.

    Returns:
        The unit table's variables, ``cell_type`` and ``area``, the receptive-field centre in
        pixels, ``rf`` (the first filter), ``optimal_stimulus`` and ``best_gabor_stimulus``
        (unit, y, x) with ``optimal_rate`` and ``best_gabor_rate``, ``best_scene_rate`` and
        ``gray_rate`` (Hz, the blank), ``true_rate`` (unit, frame; the noise-free mean count per
        scene presentation, rate x 0.25 s), ``true_gabor_rate``, ``reliability``, and
        ``heldout_images`` (heldout, y, x) with ``heldout_true_rate`` (unit, heldout) Hz.
    """
    height, width = neurons.height, neurons.width
    true_counts = frame_rates * PRESENTATION_S
    col, row = geometry.deg_to_pixel(
        params["center_x_deg"].to_numpy(), params["center_y_deg"].to_numpy(), height, width
    )
    per_unit = {name: ("unit", params[name].to_numpy()) for name in params.columns}
    per_unit["cell_type"] = ("unit", params["cell_type"].astype(str).to_numpy())
    per_unit["area"] = ("unit", params["area"].astype(str).to_numpy())
    g = gabor_rates.reshape(
        len(unit_ids), len(GABOR_ORIENTATIONS), len(GABOR_POSITIONS), len(GABOR_POSITIONS)
    )
    own = {name: _own_rates(neurons, best[name]) for name in best if name.endswith("stimulus")}
    scene = frames != BLANK_FRAME
    image_dims = ("unit", "y", "x")
    ds = xr.Dataset(
        {
            **per_unit,
            "center_col_px": ("unit", col),
            "center_row_px": ("unit", row),
            "passes_quality_filter": ("unit", passes_filter.astype(np.int8)),
            "rf": (image_dims, neurons.filters[:, 0].numpy().astype(np.float32)),
            "optimal_stimulus": (image_dims, best["optimal_stimulus"].astype(np.float32)),
            "optimal_rate": ("unit", own["optimal_stimulus"]),
            "best_gabor_stimulus": (image_dims, best["best_gabor_stimulus"].astype(np.float32)),
            "best_gabor_rate": ("unit", own["best_gabor_stimulus"]),
            "best_scene_rate": ("unit", frame_rates[:, scene].max(axis=1)),
            "gray_rate": ("unit", frame_rates[:, ~scene][:, 0]),
            "true_rate": (("unit", "frame"), true_counts),
            "true_gabor_rate": (("unit", "orientation", "y_position", "x_position"), g),
            "reliability": ("unit", implied_oracle(true_counts, scene_repeats)),
            "heldout_images": (("heldout", "y", "x"), heldout.astype(np.float32)),
            "heldout_true_rate": (("unit", "heldout"), _rates(neurons, heldout)),
        },
        coords={
            "unit": unit_ids,
            "frame": frames,
            "heldout": np.arange(len(heldout)),
            "y": np.arange(height),
            "x": np.arange(width),
            "orientation": list(GABOR_ORIENTATIONS),
            "y_position": list(GABOR_POSITIONS),
            "x_position": list(GABOR_POSITIONS),
        },
    )
    attrs = {
        "true_rate": ("noise-free mean spike count per presentation (window of 0.25 s)", "spikes"),
        "true_gabor_rate": ("noise-free rate for the drifting Gabor, mean over its phases", "Hz"),
        "reliability": (
            "jackknife oracle correlation implied by Poisson noise around "
            "true_rate at the simulated repeats",
            "1",
        ),
        "rf": (
            "the unit's first filter (simple, complex: the even Gabor of the pair; "
            "conjunction: the first subunit's; centre-surround: the difference of "
            "Gaussians), unit norm",
            "1",
        ),
        "optimal_stimulus": ("most exciting image on the stimulus budget", "1"),
        "optimal_rate": ("rate for optimal_stimulus (the peak rate of a modulated unit)", "Hz"),
        "best_gabor_stimulus": ("the true best Gabor patch on the stimulus budget", "1"),
        "best_gabor_rate": ("rate for best_gabor_stimulus", "Hz"),
        "best_scene_rate": ("highest rate over the natural scenes", "Hz"),
        "gray_rate": ("rate for the blank gray screen", "Hz"),
        "heldout_images": ("natural images never shown in the session", "1"),
        "heldout_true_rate": ("noise-free rate for each held-out image", "Hz"),
        "passes_quality_filter": ("1 if the unit passes AllenSDK's default quality filter", "1"),
    }
    describe(ds, attrs)
    return ds


def _own_rates(neurons: TrueNeurons, images: np.ndarray) -> np.ndarray:
    """(n_units,) each unit's rate (Hz) for its own image of images (n_units, H, W)."""
    with torch.no_grad():
        rates = neurons(torch.as_tensor(images, dtype=torch.float64)[:, None])
    return rates[:, 0].numpy()
