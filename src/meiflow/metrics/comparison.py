"""An area's MEIs against their Gabor controls: the metrics of every image, in one dataset."""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from meiflow.mei.synthesis import at_best_start
from meiflow.metrics.image_metrics import image_metrics, image_spectra
from meiflow.models.model_io import drop_units, failed_units
from meiflow.stimuli.geometry import ScreenGeometry

__all__ = ["IMAGE_KINDS", "AreaComparison", "compare_area", "metrics_table"]

log = logging.getLogger(__name__)

#: The images compared per unit, in the order of the ``image_kind`` coordinate.
IMAGE_KINDS = ("mei", "recorded_gabor", "insilico_gabor")


class AreaComparison(NamedTuple):
    """What :func:`compare_area` returns: the area's MEIs and Gabor controls without the units
    whose training failed, the metrics dataset and its table (one row per unit and image
    kind)."""

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
    mask_fraction: float,
) -> AreaComparison:
    """Image metrics of every unit's best-start MEI, recorded and in-silico best Gabor.

    Args:
        meis: the area's MEIs (``mei`` (unit, init, y, x) and the responses that pick the best
            start, see :func:`meiflow.mei.synthesis.at_best_start`).
        gabors: ``recorded_gabor`` and ``insilico_gabor`` (unit, y, x), images in [0, 1].
        invariance: ``phase_invariance`` (unit).
        scores: the area's ``model_scores.nc``; units with a ``training_failure`` are dropped
            from all outputs (their ``dropped_units`` attribute says why).
        geometry: the screen, for pixels per degree of the spatial-frequency metrics.
        mask_fraction: the share of an image's departure from its background that the mask
            around it holds (:func:`meiflow.metrics.image_metrics.image_metrics`).

    Returns:
        :class:`AreaComparison`; ``metrics`` holds the scalar metrics (unit, image_kind), the
        spectra ``log_power`` (unit, image_kind, fy, fx) and ``radial_power`` (unit, image_kind,
        radial_frequency) in cycles per pixel, and ``phase_invariance`` (unit). An area without
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
            at_best_start(meis),
            gabors["recorded_gabor"].sel(unit=units).to_numpy(),
            gabors["insilico_gabor"].sel(unit=units).to_numpy(),
        ],
        axis=1,
    )
    height, width = images.shape[-2:]
    scalars = image_metrics(
        images, geometry.pixels_per_degree(height, width), fraction=mask_fraction
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
    if "dropped_units" in meis.attrs:
        metrics.attrs["dropped_units"] = meis.attrs["dropped_units"]
    for name in ("fy", "fx", "radial_frequency"):
        metrics[name].attrs = {"long_name": f"spatial frequency ({name})", "units": "cycles/pixel"}
    metrics["log_power"].attrs = {"long_name": "log(1 + |FFT|^2) of the mean-subtracted image"}
    log.info("metrics of %d units x %d image kinds", units.size, len(IMAGE_KINDS))
    return AreaComparison(meis, gabors, metrics, metrics_table(metrics, list(scalars)))


def metrics_table(metrics: xr.Dataset, names: list[str]) -> pd.DataFrame:
    """The scalar metrics ``names`` of ``metrics`` as a table indexed by (unit, image_kind),
    with each unit's ``phase_invariance`` on its rows (``metrics.csv``)."""
    table = metrics[names].to_dataframe()
    table["phase_invariance"] = (
        metrics["phase_invariance"]
        .to_series()
        .reindex(table.index.get_level_values("unit"))
        .to_numpy()
    )
    return table
