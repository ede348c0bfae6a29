"""What every rule script does first, and what its errors advise.

First, every rule script sends logging, warnings and tracebacks to the rule's log.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def recreate_advice(path: str | Path) -> str:
    """How to recreate a damaged output of the workflow, and what depends on it.

    Deleting it alone is not enough where its dependents are complete (Snakemake then sees nothing
    to do).
    """
    return f"recreate it, and what depends on it, with `snakemake --cores all --forcerun {path}`"


def log_to(path: str | Path) -> logging.Logger:
    """Route stderr (tracebacks, warnings, tqdm progress) and ``logging`` into ``path``.

    Snakemake shows this file when the job fails (``--show-failed-logs``, set in the profiles).

    Returns:
        The ``meiflow`` logger.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = path.open("a", buffering=1)
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    logging.getLogger("call_caching").setLevel(logging.WARNING)  # AllenSDK: a line per read
    return logging.getLogger("meiflow")
