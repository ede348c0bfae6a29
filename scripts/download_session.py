"""Rule download_session: fetch a real session into the AllenSDK cache (needs network)."""

import json
from pathlib import Path

from meiflow.io.allen_cache import download_session
from meiflow.io.runtime import log_to
from meiflow.stimuli.allen import N_SCENES


def main(smk) -> None:
    log = log_to(smk.log[0])
    session_id = int(smk.wildcards.session)
    cache_dir = Path(smk.params.cache_dir)
    log.info("checking or downloading session %d into %s", session_id, cache_dir)
    manifest = download_session(
        cache_dir, session_id, range(N_SCENES), timeout_s=smk.params.network_timeout_s
    )
    record = {"session_id": session_id, "manifest": str(manifest.resolve())}
    Path(smk.output[0]).write_text(json.dumps(record, indent=2))
    log.info("session %d is complete in %s", session_id, cache_dir)


main(snakemake)  # noqa: F821
