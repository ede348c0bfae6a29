"""Trials that a session marks invalid (AllenSDK's invalid_times): masked in the count tables and
left out, per unit, by the reliability scores, the receptive fields, the training targets and the
Gabor conditions; each checked against the same computation on the trials deleted."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pynwb
import pytest
import torch
from helpers import TINY_SESSION

from meiflow.ingest.session import ingest_session
from meiflow.io.allen_cache import load_session
from meiflow.models.gabor_responses import condition_means
from meiflow.models.training import poisson_loss
from meiflow.models.training_data import image_targets
from meiflow.ranking.receptive_fields import rf_maps
from meiflow.ranking.reliability import oracle_correlation
from meiflow.ranking.selection import area_ranking, unit_scores
from meiflow.ranking.settings import RankingSettings
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry

#: (start_time, stop_time, tags): one probe over a natural-scene block, all probes over a stretch
#: of the gabors.
INTERVALS = [
    (271.0, 330.5, ["EcephysProbe", "800000000", "probeA"]),
    (60.0, 90.0, ["EcephysSession", str(TINY_SESSION), "all_probes"]),
]


@pytest.fixture(scope="module")
def sessions(tiny_cache, tmp_path_factory):
    """(intact, edited): the tiny session read and ingested, and its copy with INTERVALS added
    to the NWB with pynwb, as AllenSDK's writer adds them."""
    cache = tmp_path_factory.mktemp("invalid") / "cache"
    shutil.copytree(tiny_cache, cache)
    nwb_path = cache / f"session_{TINY_SESSION}" / f"session_{TINY_SESSION}.nwb"
    with warnings.catch_warnings(), pynwb.NWBHDF5IO(str(nwb_path), "a") as io:
        warnings.simplefilter("ignore")
        nwb = io.read()
        for start, stop, tags in INTERVALS:
            nwb.add_invalid_time_interval(start_time=start, stop_time=stop, tags=tags)
        io.write(nwb)
    result = []
    for directory in (tiny_cache, cache):
        data = load_session(directory, TINY_SESSION)
        result.append((data, ingest_session(data, TINY_SESSION)))
    return result


def test_the_mask_covers_the_windows_that_overlap_an_interval_of_the_units_probe(sessions):
    (_, intact), (data, edited) = sessions
    assert len(data.invalid_times) == len(INTERVALS)
    for stimulus, table in edited.counts.items():
        assert intact.counts[stimulus]["valid"].all()
        assert intact.counts[stimulus].attrs["invalid_trials"] == 0
        # counts are counted as before; only the mask is new
        np.testing.assert_array_equal(
            table["spike_counts"], intact.counts[stimulus]["spike_counts"]
        )
        start_s, stop_s = (
            table.attrs["counting_window_start_s"],
            table.attrs["counting_window_stop_s"],
        )
        onsets = table["start_time"].to_numpy()
        probes = data.units.loc[table["unit"].to_numpy(), "probe"].to_numpy()
        expected = np.ones(table["valid"].shape, dtype=bool)
        for i, onset in enumerate(onsets):
            for j, probe in enumerate(probes):
                for start, stop, tags in INTERVALS:
                    applies = probe in tags or "all_probes" in tags
                    if applies and onset + start_s <= stop and onset + stop_s > start:
                        expected[i, j] = False
        np.testing.assert_array_equal(table["valid"].transpose("presentation", "unit"), expected)
        assert table.attrs["invalid_trials"] == int((~expected).sum())
    # the probe's interval covers one natural-scene block, the session's one gabors only
    assert (~edited.counts["natural_scenes"]["valid"]).any()
    assert (~edited.counts["gabors"]["valid"]).all("unit").any()


def test_reliability_leaves_each_units_invalid_trials_out(sessions):
    (_, intact), (data, edited) = sessions
    scenes = edited.counts["natural_scenes"]
    settings = RankingSettings(notebook_passes=5, anomaly_estimators=20)
    masked = unit_scores(scenes, settings)
    before = unit_scores(intact.counts["natural_scenes"], settings)
    probe_a = data.units.index[data.units["probe"] == "probeA"].to_numpy()
    valid = scenes["valid"].sel(unit=probe_a[0]).to_numpy()
    assert 0 < valid.sum() < valid.size
    # the probe's units: the oracle of the scene trials left once the invalid ones are deleted
    kept = scenes.isel(presentation=np.flatnonzero(valid & (scenes["frame"].to_numpy() >= 0)))
    counts = kept["spike_counts"].sel(unit=probe_a).transpose("presentation", "unit").to_numpy()
    expected = oracle_correlation(counts, kept["frame"].to_numpy())
    np.testing.assert_allclose(masked.loc[probe_a, "oracle"], expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(before.loc[probe_a, "oracle"], expected)  # the mask mattered
    # every other unit keeps the scores of the intact session
    others = np.setdiff1d(scenes["unit"].to_numpy(), probe_a)
    for score in ("oracle", "fev", "response_variance", "oracle_notebook"):
        np.testing.assert_allclose(
            masked.loc[others, score], before.loc[others, score], rtol=1e-12, atol=1e-12
        )
    assert list(masked.index) == list(before.index) and list(masked.columns) == list(before.columns)
    assert (
        np.isfinite(masked["max_correlation"]).sum() == np.isfinite(before["max_correlation"]).sum()
    )


def test_receptive_field_maps_and_gabor_conditions_leave_invalid_trials_out(sessions):
    (_, intact), (_, edited) = sessions
    gabors = edited.counts["gabors"]
    valid = gabors["valid"].transpose("presentation", "unit").to_numpy()
    assert valid.all(axis=1).sum() < valid.shape[0]  # all_probes: the same trials for every unit
    kept = gabors.isel(presentation=np.flatnonzero(valid[:, 0]))

    def positions(table):
        return (
            table["x_position"].to_numpy().astype(float),
            table["y_position"].to_numpy().astype(float),
        )

    ranking = area_ranking(
        edited.counts["natural_scenes"],
        gabors,
        "VISp",
        RankingSettings(notebook_passes=5, anomaly_estimators=20, rf_shuffles=20),
        ScreenGeometry(),
        ImageSettings(30, 48),
    )
    visp = kept.isel(unit=np.flatnonzero(kept["area"].to_numpy() == "VISp"))
    counts = visp["spike_counts"].transpose("presentation", "unit").to_numpy()
    expected_maps, _, _ = rf_maps(counts, *positions(visp))
    maps = ranking["rf_map"].sel(unit=visp["unit"]).to_numpy()
    np.testing.assert_allclose(maps, expected_maps, rtol=1e-12)
    units = gabors["unit"].to_numpy()
    conditions = condition_means(gabors, units)
    frame = pd.DataFrame(
        kept["spike_counts"].transpose("presentation", "unit").to_numpy(), columns=units
    ).assign(
        orientation=kept["orientation"].to_numpy().astype(float),
        x_position=kept["x_position"].to_numpy().astype(float),
        y_position=kept["y_position"].to_numpy().astype(float),
    )
    keys = ["orientation", "x_position", "y_position"]
    shown = pd.MultiIndex.from_arrays([conditions[k].to_numpy() for k in keys])
    means = frame.groupby(keys).mean().reindex(shown)  # NaN: no valid trial of the condition
    assert means.isna().all(axis=1).any()
    np.testing.assert_allclose(conditions["mean_count"].T, means.to_numpy(), rtol=1e-12)


def test_training_targets_are_each_units_valid_trial_means(sessions):
    (_, _), (data, edited) = sessions
    scenes = edited.counts["natural_scenes"]
    probes = data.units.loc[scenes["unit"].to_numpy(), "probe"].to_numpy()
    units = scenes["unit"].to_numpy()[np.isin(probes, ["probeA", "probeB"])]  # two patterns
    frames = np.unique(scenes["frame"].to_numpy().astype(int))
    means, repeats = image_targets(scenes, units, frames)
    assert repeats.shape == (frames.size, units.size)
    for k, unit in enumerate(units):
        valid = scenes["valid"].sel(unit=unit).to_numpy()
        trials = pd.Series(scenes["spike_counts"].sel(unit=unit).to_numpy()[valid])
        grouped = trials.groupby(scenes["frame"].to_numpy()[valid].astype(int))
        np.testing.assert_allclose(means[:, k], grouped.mean().loc[frames], rtol=1e-12)
        np.testing.assert_array_equal(repeats[:, k], grouped.size().loc[frames])


def test_the_poisson_loss_weights_each_model_by_its_own_trials():
    generator = torch.Generator().manual_seed(0)
    predicted = torch.rand(5, 3, generator=generator, dtype=torch.float64) + 0.1
    means = torch.rand(5, 3, generator=generator, dtype=torch.float64)
    weights = torch.randint(1, 9, (5, 3), generator=generator).double()
    loss = poisson_loss(predicted, means, weights)
    for m in range(3):  # each model alone, with the shared-weights form
        alone = poisson_loss(predicted[:, m : m + 1], means[:, m : m + 1], weights[:, m])
        torch.testing.assert_close(loss[m], alone[0], rtol=1e-12, atol=1e-12)
