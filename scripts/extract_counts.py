"""Rule extract_counts: trial-level spike-count tables (natural scenes, gabors) in NetCDF."""

from meiflow.allen_cache import load_session
from meiflow.counts import count_table
from meiflow.netcdf import write_netcdf
from meiflow.runtime import log_to


def main(smk) -> None:
    log = log_to(smk.log[0])
    session_id = int(smk.wildcards.session)
    data = load_session(smk.params.cache_dir, session_id, smk.params.unit_filter)
    present = sorted(data.units["area"].unique())
    log.info(
        "session %d: %d units after the quality filter, areas %s",
        session_id,
        len(data.units),
        present,
    )
    missing = [a for a in smk.params.areas if a not in present]
    if missing:
        raise ValueError(
            f"area(s) {missing} have no units passing the quality filter in session "
            f"{session_id} (areas present: {present}); fix config key 'areas' or give this "
            f"session its own 'areas' list"
        )
    window = (smk.params.window["start"], smk.params.window["stop"])
    for stimulus, path in (("natural_scenes", smk.output.scenes), ("gabors", smk.output.gabors)):
        table = count_table(
            data.presentations[stimulus], data.units, data.spike_times, window, stimulus, session_id
        )
        write_netcdf(table, path, config=dict(smk.params), inputs=list(smk.input))
        log.info(
            "%s: %d presentations x %d units, %d spikes counted",
            stimulus,
            table.sizes["presentation"],
            table.sizes["unit"],
            int(table.spike_counts.sum()),
        )


main(snakemake)  # noqa: F821
