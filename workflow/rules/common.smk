"""Config validation and input functions shared by the rules."""

import math

from meiflow.io.allen_cache import session_table
from meiflow.io.config import expand_sessions, session_areas, validate_config
from meiflow.io.netcdf import read_netcdf
from meiflow.settings import Settings

# Validated, with whole numbers of `number` keys as floats (0 and 0.0 are one parameter).
config.update(
    validate_config(
        config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
    )
)
# Every section as its stage's settings, built once: a value a stage refuses stops the run here.
Settings.from_config(config)
# Every session of a type (`id: all`): AllenSDK's session table says which.
if any(s["id"] == "all" for s in config["sessions"]):
    allen = config["allen"]
    table = session_table(allen["cache_dir"], allen["network_timeout_s"])
    config["sessions"] = expand_sessions(config, table)

SESSIONS = {int(s["id"]): s for s in config["sessions"]}


#: Figures of the ranking stage, one PNG each (meiflow.plots.ranking).
RANKING_FIGURES = (
    "oracle_vs_variance",
    "entropy_vs_variance",
    "correlation_matrix",
    "psth_selected",
    "population_raster",
    "receptive_field_maps",
)

#: Report category of the ranking stage's figures that show the data rather than the ranking.
FIGURE_CATEGORIES = {"psth_selected": "2. Data", "population_raster": "2. Data"}

#: Figures of the model stage (meiflow.plots.models).
MODEL_FIGURES = ("training_curves", "predicted_vs_observed", "cnn_vs_linear")

#: Figures of the MEI stage (meiflow.plots.meis).
MEI_FIGURES = ("mei_gallery", "mei_initializations", "mei_comparison", "mei_responses")


wildcard_constraints:
    session=r"\d+",
    # "counts" is the session's folder of count tables, not an area (counts/gabors.nc)
    area=r"(?!counts/)[A-Za-z][A-Za-z0-9-]*",
    chunk=r"\d+",


def session_source(session):
    return SESSIONS[int(session)]["source"]


def cache_dir(wildcards):
    """The AllenSDK cache directory that holds a session."""
    if session_source(wildcards.session) == "simulated":
        return f"resources/simulated/{wildcards.session}"
    return config["allen"]["cache_dir"]


def cache_ready(wildcards):
    """Files that exist once a session's cache is complete (simulated or downloaded)."""
    if session_source(wildcards.session) == "simulated":
        return {
            "manifest": f"resources/simulated/{wildcards.session}/manifest.json",
            "ground_truth": f"resources/simulated/{wildcards.session}/ground_truth.nc",
        }
    return {"record": f"results/{wildcards.session}/download.json"}


def chunk_files(wildcards, stage):
    """An area's per-chunk files of ``stage`` (models, meis, gabors, phase_invariance):
    ceil(selected units / models.chunk_size) of them, known once ranking has run."""
    ranking = checkpoints.rank_neurons.get(**wildcards).output.nc
    n_selected = int(read_netcdf(ranking, ("selected",))["selected"].sum())
    n_chunks = math.ceil(n_selected / config["models"]["chunk_size"])
    return [
        f"results/{wildcards.session}/{wildcards.area}/{stage}/chunk_{i}.nc"
        for i in range(n_chunks)
    ]


def all_outputs():
    """Every final output of the configured sessions and areas."""
    outputs = []
    for session in SESSIONS:
        outputs += [
            f"results/{session}/counts/natural_scenes.nc",
            f"results/{session}/counts/gabors.nc",
            f"results/{session}/images.nc",
        ]
        for area in session_areas(config, session):
            outputs += [
                f"results/{session}/{area}/ranking.csv",
                f"results/{session}/{area}/model_scores.nc",
                f"results/{session}/{area}/metrics.csv",
                f"results/{session}/{area}/summary.csv",
                *(f"results/{session}/{area}/figures/{f}.png" for f in MODEL_FIGURES),
                *(f"results/{session}/{area}/figures/{f}.png" for f in MEI_FIGURES),
                *(f"results/{session}/{area}/figures/{f}.png" for f in RANKING_FIGURES),
            ]
            if session_source(session) == "simulated":
                outputs.append(f"results/{session}/{area}/ground_truth.csv")
    return outputs
