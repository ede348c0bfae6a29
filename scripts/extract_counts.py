"""Rule extract_counts: spike-count tables (natural scenes, gabors), PSTHs and raster in NetCDF."""

from meiflow.ingest.session import ingest_session
from meiflow.ingest.settings import CountingWindow, TimingSettings
from meiflow.io.allen_cache import UnitFilter, load_session
from meiflow.io.config import settings_from
from meiflow.io.netcdf import write_netcdf
from meiflow.io.runtime import log_to


def main(smk) -> None:
    log = log_to(smk.log[0])
    session_id = int(smk.wildcards.session)
    unit_filter = settings_from(UnitFilter, smk.params.unit_filter, "unit_filter")
    data = load_session(smk.params.cache_dir, session_id, unit_filter)
    data.require_areas(smk.params.areas)
    log.info("session %d: %d units after the quality filter", session_id, len(data.units))
    window = smk.params.window
    if window != "auto":
        window = settings_from(CountingWindow, window, "counting_window")
    timing = settings_from(TimingSettings, smk.params.timing, "timing")
    tables = ingest_session(data, session_id, window, timing)
    provenance = {"config": dict(smk.params.items()), "inputs": list(smk.input)}
    write_netcdf(tables.psth, smk.output.psth, **provenance)
    write_netcdf(tables.raster, smk.output.raster, **provenance)
    for stimulus, table in tables.counts.items():
        write_netcdf(table, getattr(smk.output, stimulus), **provenance)


main(snakemake)  # noqa: F821
