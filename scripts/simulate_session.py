"""Rule simulate_session: a simulated session as a complete AllenSDK cache, plus ground truth."""

from pathlib import Path

from meiflow.io.allen_format import write_session_cache
from meiflow.io.config import settings_from
from meiflow.io.netcdf import write_netcdf
from meiflow.io.runtime import log_to
from meiflow.simulation.session import simulate_session
from meiflow.simulation.settings import SimulationSettings
from meiflow.stimuli.budget import BudgetSettings
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry


def main(smk) -> None:
    log = log_to(smk.log[0])
    session_id = int(smk.wildcards.session)
    log.info("simulating session %d", session_id)
    session = simulate_session(
        session_id,
        settings_from(SimulationSettings, smk.params.simulation, "simulation"),
        settings_from(ScreenGeometry, smk.params.screen, "screen"),
        settings_from(ImageSettings, smk.params.images, "images"),
        settings_from(BudgetSettings, smk.params.budget, "budget"),
    )
    n_spikes = sum(s.size for s in session.tables.spike_times.values())
    log.info(
        "%d units, %d presentations, %d spikes",
        len(session.tables.units),
        len(session.tables.presentations),
        n_spikes,
    )
    cache_dir = Path(smk.output.manifest).parent
    write_session_cache(cache_dir, session.tables, session.scenes)
    write_netcdf(session.ground_truth, smk.output.ground_truth, config=dict(smk.params.items()))
    log.info("wrote the AllenSDK cache in %s", cache_dir)


main(snakemake)  # noqa: F821
