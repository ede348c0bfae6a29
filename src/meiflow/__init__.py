"""meiflow: from Allen Visual Coding - Neuropixels sessions to most exciting inputs (MEIs).

The package holds the science of every workflow stage as plain functions over arrays; the
Snakemake rules call thin scripts in ``scripts/`` that do the I/O around them.
"""

__version__ = "0.1.0"
