"""An area's MEIs against their Gabor controls: the metrics of every image, in one dataset."""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import xarray as xr

from meiflow.io.netcdf import describe
from meiflow.mei.gabor_search import PARAMETERS, GaborGrid, best_gabors, recorded_best_gabor
from meiflow.mei.settings import GaborSettings
from meiflow.mei.synthesis import at_best_init, budget_attrs, budget_of
from meiflow.metrics.image_metrics import image_mask, image_metrics, image_spectra
from meiflow.metrics.settings import MetricsSettings
from meiflow.metrics.trust import deviation_outside, mei_flags, rf_mask
from meiflow.models.chunks import drop_units, failed_units
from meiflow.models.ensemble import Ensemble
from meiflow.models.gabor_responses import condition_means
from meiflow.stimuli.geometry import ScreenGeometry

__all__ = [
    "IMAGE_KINDS",
    "MEI_VARIABLES",
    "PARAMETER_UNITS",
    "AreaComparison",
    "compare_area",
    "gabor_controls",
    "metrics_table",
]

log = logging.getLogger(__name__)

#: Units of the in-silico best Gabor's parameters (:data:`meiflow.mei.gabor_search.PARAMETERS`).
PARAMETER_UNITS = {
    "center_x_deg": "deg",
    "center_y_deg": "deg",
    "orientation_deg": "deg",
    "sf_cpd": "cycles/deg",
    "phase_rad": "rad",
    "sigma_deg": "deg",
}

#: What :func:`compare_area` reads of ``meis.nc`` besides ``best_init``: the MEIs and the trust
#: signals of :mod:`meiflow.mei.trust` (a file from before them is refused, naming it).
MEI_VARIABLES = ("mei", "member_response", "init_spread", "ensemble_spread", "gradient_energy")

#: The images compared per unit, in the order of the ``image_kind`` coordinate.
IMAGE_KINDS = ("mei", "recorded_gabor", "insilico_gabor")


class AreaComparison(NamedTuple):
    """What :func:`compare_area` returns.

    Attributes:
        meis: the area's MEIs without the units whose training failed.
        gabors: the area's Gabor controls without the units whose training failed.
        metrics: the metrics dataset.
        table: its table (one row per unit and image kind).
    """

    meis: xr.Dataset
    gabors: xr.Dataset
    metrics: xr.Dataset
    table: pd.DataFrame


def compare_area(
    meis: xr.Dataset,
    gabors: xr.Dataset,
    invariance: xr.Dataset,
    scores: xr.Dataset,
    geometry: ScreenGeometry,
    settings: MetricsSettings,
) -> AreaComparison:
    """Image metrics of every unit's best-start MEI, recorded and in-silico best Gabor.

    Args:
        meis: the area's MEIs (``mei`` (unit, init, y, x) and the responses that pick the best
            start, see :func:`meiflow.mei.synthesis.at_best_init`).
        gabors: ``recorded_gabor`` and ``insilico_gabor`` (unit, y, x), images in [0, 1].
        invariance: ``phase_invariance`` (unit).
        scores: the area's ``model_scores.nc``; units with a ``training_failure`` are dropped
            from all outputs (their ``dropped_units`` attribute says why); the flag's model
            correlation is that of the model the MEIs were made through (``meis``' attribute
            ``model``).
        geometry: the screen, for pixels per degree of the spatial-frequency metrics.
        settings: the image metrics' mask (``mask_fraction``), the receptive-field mask and the
            flag's limits.

    Returns:
        :class:`AreaComparison`; ``metrics`` holds the scalar metrics (unit, image_kind), the
        spectra ``log_power`` (unit, image_kind, fy, fx) and ``radial_power`` (unit, image_kind,
        radial_frequency) in cycles per pixel, ``phase_invariance`` (unit), and the trust
        variables of :mod:`meiflow.metrics.trust` (:func:`_trust`: the receptive-field mask
        ``rf_mask_*`` (unit), ``deviation_outside_rf_mask`` (unit, image_kind), the spreads,
        ``model_correlation``, ``mei_flagged`` and ``mei_flag_reason`` (unit)). An area without
        units gives empty datasets with an ``empty_reason``.
    """
    dropped = failed_units(scores)
    for unit, reason in dropped.items():
        log.warning("unit %d dropped: training failed (%s)", unit, reason)
    meis, gabors, invariance = (drop_units(ds, dropped) for ds in (meis, gabors, invariance))
    units = meis["unit"].to_numpy()
    if units.size == 0 and dropped:
        meis.attrs["empty_reason"] = gabors.attrs["empty_reason"] = (
            "the training of every selected unit failed"
        )
    if units.size == 0:
        log.warning("no unit to compare in this area: empty MEIs, Gabors and metrics")
        metrics = xr.Dataset(coords={"unit": units, "image_kind": list(IMAGE_KINDS)})
        kept = ("empty_reason", "dropped_units")
        metrics.attrs = {k: v for k, v in meis.attrs.items() if k in kept}
        return AreaComparison(meis, gabors, metrics, metrics.to_dataframe())

    images = np.stack(
        [
            at_best_init(meis),
            gabors["recorded_gabor"].sel(unit=units).to_numpy(),
            gabors["insilico_gabor"].sel(unit=units).to_numpy(),
        ],
        axis=1,
    )
    height, width = images.shape[-2:]
    scalars = image_metrics(
        images, geometry.pixels_per_degree(height, width), fraction=settings.mask_fraction
    )
    spectrum = image_spectra(images)
    metrics = xr.Dataset(
        {name: (("unit", "image_kind"), values) for name, values in scalars.items()},
        coords={"unit": units, "image_kind": list(IMAGE_KINDS)},
    )
    metrics["log_power"] = (("unit", "image_kind", "fy", "fx"), spectrum["log_power"])
    metrics["radial_power"] = (
        ("unit", "image_kind", "radial_frequency"),
        spectrum["radial_power"],
    )
    metrics = metrics.assign_coords(
        fy=spectrum["fy"], fx=spectrum["fx"], radial_frequency=spectrum["radial_frequency"]
    )
    metrics["phase_invariance"] = invariance["phase_invariance"].sel(unit=units)
    metrics = metrics.merge(_trust(meis, scores.sel(unit=units), images, settings))
    kept = ("dropped_units", "budget", "budget_mean", "budget_contrast", "model")
    metrics.attrs.update({k: v for k, v in meis.attrs.items() if k in kept})
    for name in ("fy", "fx", "radial_frequency"):
        metrics[name].attrs = {"long_name": f"spatial frequency ({name})", "units": "cycles/pixel"}
    metrics["log_power"].attrs = {"long_name": "log(1 + |FFT|^2) of the mean-subtracted image"}
    log.info("metrics of %d units x %d image kinds", units.size, len(IMAGE_KINDS))
    names = [*scalars, "deviation_outside_rf_mask"]
    return AreaComparison(meis, gabors, metrics, metrics_table(metrics, names))


#: Per-unit variables of ``metrics.nc`` (:func:`_trust`, the phase invariance), on every row of
#: the unit in ``metrics.csv``.
UNIT_COLUMNS = (
    "phase_invariance",
    "rf_mask_center_y",
    "rf_mask_center_x",
    "rf_mask_radius",
    "init_spread",
    "ensemble_spread",
    "model_correlation",
    "mei_flagged",
    "mei_flag_reason",
)


def _trust(
    meis: xr.Dataset, scores: xr.Dataset, images: np.ndarray, settings: MetricsSettings
) -> xr.Dataset:
    """The model's receptive-field mask, each image's deviation outside it, and the MEI flag.

    images: (unit, image_kind, H, W) in IMAGE_KINDS order. See :mod:`meiflow.metrics.trust`.

    Raises:
        ValueError: ``meis`` lacks the trust signals (a file from before them).
    """
    missing = [v for v in MEI_VARIABLES if v not in meis]
    if missing:
        raise ValueError(
            f"the MEIs' files lack {missing} (made before the trust signals): make them again "
            "(snakemake --forcerun generate_meis)"
        )
    center_y, center_x, radius, inside = rf_mask(
        meis["gradient_energy"].transpose("unit", "y", "x").to_numpy(), settings.rf_mask_fraction
    )
    outside = deviation_outside(images, inside[:, None])
    # the correlation of the MEIs' model on the validation and test scenes: 24 held-out scenes
    if "model" in scores.dims:
        scores = scores.sel(model=meis.attrs.get("model", "per_neuron"))
    model_r = (scores["validation_correlation"] + scores["test_correlation"]).to_numpy() / 2
    init, ensemble = meis["init_spread"].to_numpy(), meis["ensemble_spread"].to_numpy()
    flagged, reason = mei_flags(init, ensemble, model_r, settings)
    described = {
        "rf_mask_center_y": (
            center_y,
            "row of the centre of the model's receptive-field mask",
            "px",
        ),
        "rf_mask_center_x": (center_x, "column of that centre", "px"),
        "rf_mask_radius": (
            radius,
            f"radius of the circle holding {settings.rf_mask_fraction} of the gradient energy",
            "px",
        ),
        "init_spread": (
            init,
            "(max - min) / max of the MEI's predicted responses across starts",
            "1",
        ),
        "ensemble_spread": (ensemble, "std / mean of the members' predicted responses", "1"),
        "model_correlation": (
            model_r,
            "mean of the model's correlations on the validation and on the test scenes",
            "1",
        ),
        "mei_flagged": (flagged, "the MEI is not to be trusted (see mei_flag_reason)", "1"),
        "mei_flag_reason": (reason, "why the MEI is flagged (empty: it is not)", ""),
    }
    ds = xr.Dataset(
        {name: ("unit", values) for name, (values, _, _) in described.items()},
        coords={"unit": meis["unit"].to_numpy()},
    )
    ds["deviation_outside_rf_mask"] = (("unit", "image_kind"), outside)
    outside_long_name = (
        "share of the image's squared deviation from its mean outside the model's "
        "receptive-field mask"
    )
    describe(
        ds,
        {name: (long_name, unit) for name, (_, long_name, unit) in described.items()}
        | {"deviation_outside_rf_mask": (outside_long_name, "1")},
    )
    log.info(
        "receptive-field masks of median radius %.1f px; MEIs' median deviation outside %.2f; "
        "%d of %d MEIs flagged",
        float(np.median(radius)),
        float(np.nanmedian(outside[:, 0])),
        int(flagged.sum()),
        flagged.size,
    )
    return ds


def metrics_table(metrics: xr.Dataset, names: list[str]) -> pd.DataFrame:
    """The scalar metrics ``names`` of ``metrics`` as a table indexed by (unit, image_kind).

    Each unit's variables of UNIT_COLUMNS that ``metrics`` holds are on its rows
    (``metrics.csv``).
    """
    table = metrics[names].to_dataframe()
    for name in UNIT_COLUMNS:
        if name in metrics:
            table[name] = (
                metrics[name].to_series().reindex(table.index.get_level_values("unit")).to_numpy()
            )
    return table


def gabor_controls(
    chunk: xr.Dataset,
    ensemble: Ensemble,
    meis: xr.Dataset,
    gabors: xr.Dataset,
    settings: GaborSettings,
    geometry: ScreenGeometry,
    device: torch.device,
) -> xr.Dataset:
    """The recorded and in-silico best Gabors of one chunk's units (``gabors/chunk_{i}.nc``).

    With them, the model's responses to them, to the MEI and to the best natural scene.

    Args:
        chunk: the chunk's dataset (``unit``, ``predicted_rate`` (unit, frame); its attribute
            ``model``, the model of ``ensemble``, is copied to the output: ``meiflow.models.
            chunks.load_chunk``).
        ensemble: the chunk's trained networks.
        meis: the chunk's MEIs (the best initialization of each unit is compared).
        gabors: the session's gabors count table (the recorded controls).
        settings: the recorded controls' ``recorded_top_k`` and the in-silico search.
        geometry: the screen.
        device: where the model runs.

    Where the MEIs lie on a stimulus budget (:func:`meiflow.mei.synthesis.budget_of`), so do
    both controls: the in-silico candidates are matched to the budget's mean luminance and
    contrast (not the MEI's) and the found Gabor and the recorded one are projected onto it;
    otherwise the candidates are matched to the MEI's mean and pixel std (Walker et al.).

    Returns:
        ``recorded_gabor`` and ``insilico_gabor`` (unit, y, x) in [0, 1], the in-silico Gabor's
        parameters, the predicted responses (spikes) ``response_mei``,
        ``response_insilico_gabor``, ``response_recorded_gabor``, ``response_insilico_grid``,
        ``response_best_scene`` and the ratios ``mei_over_{control}``.
    """
    units = chunk["unit"].to_numpy()
    response = ensemble.response
    budget = budget_of(meis)
    height, width = ensemble.height, ensemble.width
    mei = at_best_init(meis)

    conditions = condition_means(gabors, units)
    recorded, ranked = recorded_best_gabor(
        conditions["mean_count"].to_numpy(),
        conditions["orientation"].to_numpy(),
        conditions["x_position"].to_numpy(),
        conditions["y_position"].to_numpy(),
        settings.recorded_top_k,
        geometry,
        height,
        width,
    )

    center_row, center_col, _ = image_mask(mei)
    centers = np.stack(geometry.pixel_to_deg(center_col, center_row, height, width), axis=1)
    window = settings.window
    mei_t = torch.as_tensor(mei, dtype=torch.float32, device=device)
    log.info(
        "%d units: in-silico Gabor search (window %s around the MEI centres) on %s, budget: %s",
        units.size,
        window,
        device,
        "the MEI's mean and std" if budget is None else "the stimulus budget",
    )
    if budget is None:
        level, contrast = mei_t.mean(dim=(1, 2)), mei_t.std(dim=(1, 2), correction=0)
    else:
        level = torch.full((units.size,), budget.mean, dtype=torch.float32, device=device)
        contrast = torch.full_like(level, budget.contrast)
    found = best_gabors(
        response,
        units.size,
        level,
        contrast,
        height,
        width,
        geometry,
        GaborGrid.walker(height, width),
        top_k=settings.top_k,
        refine_steps=settings.refine_steps,
        batch_size=settings.batch_size,
        centers_deg=None if window is None else centers,
        window=None if window is None else tuple(window),
    )
    insilico = found.images
    if budget is not None:
        insilico = budget.project(insilico)
        recorded = budget.project(torch.as_tensor(recorded)).numpy()
    insilico = insilico.cpu().numpy()
    stack = np.stack([mei, insilico, recorded], axis=1)
    with torch.no_grad():
        responses = response(torch.as_tensor(stack, dtype=torch.float32, device=device))
    responses = responses.cpu().numpy()
    scenes = chunk["predicted_rate"].sel(frame=chunk["frame"] >= 0)
    best_scene = scenes.argmax("frame").to_numpy()

    ds = xr.Dataset(
        {
            "recorded_gabor": (("unit", "y", "x"), recorded),
            "insilico_gabor": (("unit", "y", "x"), insilico),
            "recorded_conditions": (
                ("unit", "rank"),
                conditions["condition"].to_numpy()[ranked],
            ),
            **{
                f"insilico_{name}": ("unit", found.parameters[:, k].cpu().numpy())
                for k, name in enumerate(PARAMETERS)
            },
            "response_mei": ("unit", responses[:, 0]),
            "response_insilico_gabor": ("unit", responses[:, 1]),
            "response_recorded_gabor": ("unit", responses[:, 2]),
            "response_insilico_grid": ("unit", found.grid_response.cpu().numpy()),
            "response_best_scene": ("unit", scenes.max("frame").to_numpy()),
            "best_scene_frame": ("unit", scenes["frame"].to_numpy()[best_scene]),
        },
        coords={
            "unit": units,
            "y": np.arange(height),
            "x": np.arange(width),
            "rank": np.arange(ranked.shape[1]),
        },
    )
    for control in ("insilico_gabor", "recorded_gabor", "best_scene"):
        ds[f"mei_over_{control}"] = ds["response_mei"] / ds[f"response_{control}"]
        ds[f"mei_over_{control}"].attrs = {
            "long_name": f"predicted response to the MEI / to the {control.replace('_', ' ')}",
            "units": "1",
        }
    for name, unit in PARAMETER_UNITS.items():
        ds[f"insilico_{name}"].attrs = {"long_name": f"in-silico best Gabor: {name}", "units": unit}
    for name in ("mei", "insilico_gabor", "recorded_gabor", "insilico_grid", "best_scene"):
        ds[f"response_{name}"].attrs = {
            "long_name": f"predicted response to the {name.replace('_', ' ')}",
            "units": "spikes",
        }
    ds["recorded_gabor"].attrs = {
        "long_name": "mean of the static frames of the best recorded gabors conditions",
        "units": "1",
    }
    ds["insilico_gabor"].attrs = {
        "long_name": "Gabor of highest predicted response, matched to the MEI's mean and std"
        if budget is None
        else "Gabor of highest predicted response on the stimulus budget",
        "units": "1",
    }
    ds.attrs.update(budget_attrs(budget), model=chunk.attrs.get("model", "per_neuron"))
    log.info(
        "median ratios MEI / in-silico Gabor %.3f, / recorded Gabor %.3f, / best scene %.3f",
        *(
            float(np.nanmedian(ds[f"mei_over_{c}"]))
            for c in ("insilico_gabor", "recorded_gabor", "best_scene")
        ),
    )

    return ds
