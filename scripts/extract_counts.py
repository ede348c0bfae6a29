"""Rule extract_counts: spike-count tables (natural scenes, gabors), PSTHs and raster in NetCDF."""

from meiflow.ingest.activity import psth_dataset, raster_dataset
from meiflow.ingest.counts import count_table
from meiflow.io.allen_cache import load_session
from meiflow.io.netcdf import write_netcdf
from meiflow.io.runtime import log_to
from meiflow.stimuli.allen import PRESENTATION_S  # natural scenes and gabors both last 250 ms


def main(smk) -> None:
    log = log_to(smk.log[0])
    session_id = int(smk.wildcards.session)
    data = load_session(smk.params.cache_dir, session_id, smk.params.unit_filter)
    data.require_areas(smk.params.areas)
    log.info("session %d: %d units after the quality filter", session_id, len(data.units))
    spikes = [data.spike_times[u] for u in data.units.index]
    scenes = data.presentations["natural_scenes"]
    provenance = {"config": dict(smk.params.items()), "inputs": list(smk.input)}

    onsets = scenes["start_time"].to_numpy()
    psth = psth_dataset(spikes, data.units, onsets, scenes["frame"].to_numpy(), smk.params.timing)
    latency = psth.attrs["latency_s"]
    log.info("population response latency: %.3f s", latency)
    write_netcdf(psth, smk.output.psth, **provenance)
    blocks = scenes.groupby("stimulus_block").agg({"start_time": "min", "stop_time": "max"})
    raster = raster_dataset(spikes, data.units, blocks, smk.params.timing["raster_bin_s"])
    write_netcdf(raster, smk.output.raster, **provenance)

    if smk.params.window == "auto":
        if latency != latency:  # NaN: no response to measure a latency from
            raise ValueError(
                "counting_window: auto needs a response latency, but the population PSTH of "
                f"session {session_id} shows no response; set counting_window to start/stop"
            )
        window = (latency, latency + PRESENTATION_S)
    else:
        window = (smk.params.window["start"], smk.params.window["stop"])
    log.info("counting window [%.3f, %.3f) s after onset", *window)
    for stimulus, path in (("natural_scenes", smk.output.scenes), ("gabors", smk.output.gabors)):
        table = count_table(
            data.presentations[stimulus], data.units, data.spike_times, window, stimulus, session_id
        )
        table.attrs["counting_window_mode"] = "auto" if smk.params.window == "auto" else "fixed"
        write_netcdf(table, path, **provenance)
        log.info(
            "%s: %d presentations x %d units, %d spikes counted",
            stimulus,
            table.sizes["presentation"],
            table.sizes["unit"],
            int(table.spike_counts.sum()),
        )


main(snakemake)  # noqa: F821
