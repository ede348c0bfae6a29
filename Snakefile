"""meiflow: Allen Visual Coding - Neuropixels sessions to most exciting inputs (MEIs).

Run `snakemake --cores all` for the embedded default (config/config.yaml); see README.md.
"""

from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")
# The rules' scripts import the meiflow package (src/meiflow): installed by the README command,
# and found through the link scripts/meiflow in environments without it (`--sdm conda`).


configfile: Path(workflow.basedir) / "config" / "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/sessions.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/ranking.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/meis.smk"
include: "workflow/rules/ground_truth.smk"
include: "workflow/rules/summary.smk"


rule all:
    default_target: True
    input:
        all_outputs,
        chunk_outputs,
