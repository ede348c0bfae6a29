"""meiflow: from Allen Visual Coding - Neuropixels sessions to most exciting inputs (MEIs).

The package holds the science of every workflow stage as plain functions over arrays; the
Snakemake rules call thin scripts in ``scripts/`` that do the I/O around them. One subpackage per
stage, each importing only from the stages below it (the import-linter contracts in
``pyproject.toml``, checked by the test suite); each stage owns the settings of its config section
(a frozen dataclass whose defaults are ``config/config.yaml``'s):

- :mod:`meiflow.settings`: every section's settings, built from the validated config
- :mod:`meiflow.plots`, :mod:`meiflow.simulation`: figures; the simulator and ground-truth checks
- :mod:`meiflow.metrics`: image metrics of MEIs and their controls, the per-area summary
- :mod:`meiflow.mei`: MEIs and their controls
- :mod:`meiflow.models`: encoding models
- :mod:`meiflow.ranking`: reliability, receptive fields, selection
- :mod:`meiflow.ingest`: spike counts, PSTHs, images
- :mod:`meiflow.io`, :mod:`meiflow.stimuli`: files and settings; the stimuli
- :mod:`meiflow.stats`: generic statistics
"""

__version__ = "0.1.0"
