"""Write a session in AllenSDK's own ``EcephysProjectCache`` layout (manifest version 0.3.0).

The simulator uses this to produce a cache directory that AllenSDK reads exactly like a downloaded
one: ``manifest.json``, ``sessions.csv``, ``probes.csv``, ``channels.csv``, ``units.csv``,
``session_<id>/session_<id>.nwb`` and ``natural_scene_templates/natural_scene_<n>.tiff``.
The NWB file is assembled from AllenSDK's writer building blocks (``Channel``, ``Unit``, ``Probe``,
``Probes.to_nwb``, the stimulus-interval builder) so that the reading path is the real one.

All ``allensdk`` imports stay inside this module and :mod:`meiflow.io.allen_cache`; everything after
the NetCDF boundary is plain numpy / xarray / torch.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Files of the 0.3.0 cache layout, relative to the cache directory (``{id}`` = session id).
CACHE_TABLES = ("sessions.csv", "probes.csv", "channels.csv", "units.csv")
SESSION_NWB = "session_{id}/session_{id}.nwb"
SCENE_TEMPLATE = "natural_scene_templates/natural_scene_{frame}.tiff"
MANIFEST = "manifest.json"

#: Number of samples of the (synthetic) mean waveform written per unit and channel.
_WAVEFORM_SAMPLES = 82


@dataclass
class SessionTables:
    """Everything needed to write one session in the Allen cache layout.

    Attributes:
        session: one-row DataFrame indexed by session id: ``session_type``, ``age_in_days``,
            ``sex``, ``genotype``, ``specimen_id``, ``published_at``.
        probes: DataFrame indexed by probe id: ``name``, ``sampling_rate``, ``lfp_sampling_rate``.
        channels: DataFrame indexed by channel id: ``ecephys_probe_id``, ``local_index``,
            ``probe_vertical_position``, ``probe_horizontal_position``, ``ecephys_structure_id``,
            ``ecephys_structure_acronym`` and the three ``*_ccf_coordinate`` columns.
        units: DataFrame indexed by unit id: ``ecephys_channel_id``, ``local_index``, ``quality``,
            ``firing_rate`` (Hz), ``isi_violations``, ``presence_ratio``, ``amplitude_cutoff``,
            ``snr``.
        spike_times: unit id -> sorted spike times (s), float64.
        presentations: one row per stimulus presentation: ``start_time``, ``stop_time`` (s),
            ``stimulus_name``, ``stimulus_block``, ``stimulus_index`` and the stimulus parameters.
    """

    session: pd.DataFrame
    probes: pd.DataFrame
    channels: pd.DataFrame
    units: pd.DataFrame
    spike_times: dict[int, np.ndarray]
    presentations: pd.DataFrame

    @property
    def session_id(self) -> int:
        """The session id: the index of the one-row ``session`` table."""
        return int(self.session.index[0])


def _add_presentations(nwbfile, presentations: pd.DataFrame) -> None:
    """Add one ``<stimulus>_presentations`` interval table per stimulus, filled in bulk.

    AllenSDK's ``Presentations.to_nwb`` adds rows one at a time (about 60 s for a session's 10,000
    presentations); this builds the same tables with AllenSDK's own interval builder and fills the
    columns at once. The reader ignores the ``tags`` and ``timeseries`` columns, which are omitted.
    """
    from allensdk.brain_observatory.behavior.data_objects.stimuli.presentations import (
        Presentations,
    )
    from allensdk.brain_observatory.nwb import (
        add_stimulus_timestamps,
        create_stimulus_presentation_time_interval,
    )

    table = Presentations(presentations, sort_columns=False).value
    add_stimulus_timestamps(nwbfile, table["start_time"].to_numpy())
    for name, rows in table.groupby("stimulus_name", sort=True):
        rows = rows.dropna(axis=1, how="all")
        parameters = [c for c in rows.columns if c not in ("start_time", "stop_time")]
        interval = create_stimulus_presentation_time_interval(
            name=f"{name}_presentations",
            description=f"Presentation times and stimuli details for '{name}' stimuli.",
            columns_to_add=parameters,
        )
        for column in interval.columns:
            column.data.extend(rows[column.name].tolist())
        interval.id.data.extend(range(len(rows)))
        nwbfile.add_time_intervals(interval)


def _probes(tables: SessionTables, rng: np.random.Generator):
    """AllenSDK ``Probes`` (channels, units, spikes) built from the session tables."""
    from allensdk.brain_observatory.ecephys._channel import Channel
    from allensdk.brain_observatory.ecephys._channels import Channels
    from allensdk.brain_observatory.ecephys._probe import Probe
    from allensdk.brain_observatory.ecephys._unit import Unit
    from allensdk.brain_observatory.ecephys._units import Units
    from allensdk.brain_observatory.ecephys.probes import Probes

    probes = []
    for probe_id, probe in tables.probes.iterrows():
        channels = tables.channels[tables.channels["ecephys_probe_id"] == probe_id]
        units = tables.units[tables.units["ecephys_channel_id"].isin(channels.index)]
        channel_objects = [
            Channel(
                id=int(cid),
                probe_id=int(probe_id),
                valid_data=True,
                probe_channel_number=int(ch["local_index"]),
                probe_vertical_position=int(ch["probe_vertical_position"]),
                probe_horizontal_position=int(ch["probe_horizontal_position"]),
                structure_acronym=str(ch["ecephys_structure_acronym"]),
                anterior_posterior_ccf_coordinate=float(ch["anterior_posterior_ccf_coordinate"]),
                dorsal_ventral_ccf_coordinate=float(ch["dorsal_ventral_ccf_coordinate"]),
                left_right_ccf_coordinate=float(ch["left_right_ccf_coordinate"]),
            )
            for cid, ch in channels.iterrows()
        ]
        unit_objects = []
        for uid, unit in units.iterrows():
            spikes = tables.spike_times[int(uid)]
            unit_objects.append(
                Unit(
                    id=int(uid),
                    peak_channel_id=int(unit["ecephys_channel_id"]),
                    local_index=int(unit["local_index"]),
                    cluster_id=int(unit["local_index"]),
                    quality=str(unit["quality"]),
                    firing_rate=float(unit["firing_rate"]),
                    isi_violations=float(unit["isi_violations"]),
                    presence_ratio=float(unit["presence_ratio"]),
                    amplitude_cutoff=float(unit["amplitude_cutoff"]),
                    snr=float(unit["snr"]),
                    mean_waveforms=rng.normal(0.0, 1e-5, (len(channels), _WAVEFORM_SAMPLES)),
                    spike_amplitudes=np.full(spikes.shape, 1e-4),
                    spike_times=spikes,
                    filter_and_sort_spikes=False,
                )
            )
        probes.append(
            Probe(
                id=int(probe_id),
                name=str(probe["name"]),
                channels=Channels(channel_objects),
                units=Units(unit_objects),
                sampling_rate=float(probe["sampling_rate"]),
            )
        )
    return Probes(probes)


def write_session_nwb(path: Path, tables: SessionTables, seed: int = 0) -> None:
    """Write the session NWB file (stimulus intervals, probes, channels, units, spike times).

    ``seed`` only drives the synthetic mean waveforms, so that the file is reproducible.
    """
    import pynwb
    from allensdk.brain_observatory.ecephys.write_nwb.__main__ import add_metadata_to_nwbfile
    from allensdk.brain_observatory.nwb import add_invalid_times

    session = tables.session.iloc[0]
    nwbfile = pynwb.NWBFile(
        session_description="Data and metadata for an Ecephys session",
        identifier=str(tables.session_id),
        session_id=str(tables.session_id),
        session_start_time=datetime.datetime(2019, 1, 1, tzinfo=datetime.timezone.utc),
        institution=str(session.get("institution", "Allen Institute")),
    )
    add_metadata_to_nwbfile(
        nwbfile,
        {
            "specimen_name": f"specimen {session['specimen_id']}",
            "age_in_days": float(session["age_in_days"]),
            "full_genotype": str(session["genotype"]),
            "strain": "C57BL/6J",
            "sex": str(session["sex"]),
            "stimulus_name": str(session["session_type"]),
            "species": "Mus musculus",
            "donor_id": int(session["specimen_id"]),
        },
    )
    _add_presentations(nwbfile, tables.presentations)
    add_invalid_times(nwbfile, [])
    _probes(tables, np.random.default_rng(seed)).to_nwb(nwbfile)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def write_cache_tables(cache_dir: Path, tables: SessionTables) -> None:
    """Write the four project CSVs exactly as AllenSDK's cache stores them (index column ``id``)."""
    acronyms = sorted(tables.channels["ecephys_structure_acronym"].unique())
    session = tables.session.assign(structure_acronyms=str(acronyms))
    probes = tables.probes.assign(ecephys_session_id=tables.session_id, has_lfp_data=False)
    unit_columns = [
        "ecephys_channel_id",
        "quality",
        "snr",
        "firing_rate",
        "isi_violations",
        "presence_ratio",
        "amplitude_cutoff",
    ]
    for name, frame in (
        ("sessions.csv", session),
        ("probes.csv", probes),
        ("channels.csv", tables.channels),
        ("units.csv", tables.units[unit_columns]),
    ):
        frame.rename_axis("id").to_csv(cache_dir / name)


def write_scene_templates(cache_dir: Path, scenes: np.ndarray) -> list[Path]:
    """Write scenes (n_scenes, height, width) uint8 as ``natural_scene_<n>.tiff``, n = 0..n-1."""
    import tifffile

    if scenes.dtype != np.uint8 or scenes.ndim != 3:
        raise ValueError(
            f"scenes must be (n, height, width) uint8, got {scenes.dtype} {scenes.shape}"
        )
    paths = []
    for frame, scene in enumerate(scenes):
        path = cache_dir / SCENE_TEMPLATE.format(frame=frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, scene)
        paths.append(path)
    return paths


def write_manifest(cache_dir: Path) -> Path:
    """Create ``manifest.json`` the way AllenSDK does (opening the cache writes it; no network)."""
    from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache

    path = cache_dir / MANIFEST
    EcephysProjectCache.from_warehouse(manifest=str(path))
    json.loads(path.read_text())  # fail here, not later, if AllenSDK wrote something unreadable
    return path


def write_session_cache(cache_dir: Path, tables: SessionTables, scenes: np.ndarray) -> None:
    """Write a complete AllenSDK cache directory for one session (see module docstring)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_cache_tables(cache_dir, tables)
    write_session_nwb(cache_dir / SESSION_NWB.format(id=tables.session_id), tables)
    write_scene_templates(cache_dir, scenes)
    write_manifest(cache_dir)
