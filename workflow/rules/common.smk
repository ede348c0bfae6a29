"""Config validation and input functions shared by the rules."""

import math
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError

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


#: The wildcards of the rules' jobs: one job per session, per area of a session, or per chunk.
JOB_WILDCARDS = ({"session"}, {"session", "area"}, {"session", "area", "chunk"})

#: Rules that run for the sessions of one source only; every other rule runs for every session.
RULE_SOURCES = {
    "simulate_session": "simulated",
    "check_ground_truth": "simulated",
    "pool_ground_truth": "simulated",
    "plot_ground_truth": "simulated",
    "download_session": "allen",
}


def n_chunks(session, area):
    """How many chunks of `models.chunk_size` selected units an area has, known once its
    ranking has run (until then the checkpoint stands in for them, and Snakemake asks
    again after it)."""
    ranking = checkpoints.rank_neurons.get(session=session, area=area).output.nc
    n_selected = int(read_netcdf(ranking, ("selected",))["selected"].sum())
    return math.ceil(n_selected / config["models"]["chunk_size"])


def chunk_files(wildcards, stage):
    """An area's per-chunk files of ``stage`` (models, meis, gabors, phase_invariance), one per
    chunk (:func:`n_chunks`)."""
    return [
        f"results/{wildcards.session}/{wildcards.area}/{stage}/chunk_{i}.nc"
        for i in range(n_chunks(wildcards.session, wildcards.area))
    ]


def rule_outputs(values):
    """The outputs of every rule whose wildcards are the keys of ``values`` (session; session and
    area; or session, area and chunk), filled in with them: the rules of the session's
    source only."""
    source = session_source(values["session"])
    return [
        str(path)  # without flags such as report(), which `all` cannot fill in
        for r in workflow.rules
        if r.wildcard_names == set(values)
        and RULE_SOURCES.get(r.name, source) == source
        for path in r.expand_output(values)[0]
    ]


def all_outputs(wildcards):
    """Every output of every rule, for each configured session and each of its areas: the data
    contract, targets of `all`. Snakemake makes a missing file again only when a target or a job
    that runs asks for it, so a file deleted after a finished run comes back (and what depends on
    it reruns) because `all` asks for it. Per-chunk files: :func:`chunk_outputs`."""
    strays = [
        r.name
        for r in workflow.rules
        if r.wildcard_names and r.wildcard_names not in JOB_WILDCARDS
    ]
    if strays:
        raise WorkflowError(
            f"rules {', '.join(strays)}: wildcards other than session, area and chunk, so "
            "all_outputs (workflow/rules/common.smk) cannot make their outputs targets of `all`"
        )
    outputs = []
    for session in SESSIONS:
        outputs += rule_outputs({"session": session})
        for area in session_areas(config, session):
            outputs += rule_outputs({"session": session, "area": area})
    return outputs


def chunk_outputs(wildcards):
    """Every output of every per-chunk rule, for each chunk of each area: also targets of `all`,
    since being inputs of collect_models and image_metrics is not enough (those rerun only when
    their own outputs are missing or out of date). Apart from :func:`all_outputs`, since the
    number of chunks is known only once the areas' rankings have run."""
    return [
        path
        for session in SESSIONS
        for area in session_areas(config, session)
        for chunk in range(n_chunks(session, area))
        for path in rule_outputs({"session": session, "area": area, "chunk": chunk})
    ]


def session_chunk_files(stage):
    """Every analysed area's per-chunk files of ``stage`` in the job's session (an input
    function; :func:`chunk_files`)."""
    return lambda w: [
        path
        for area in session_areas(config, int(w.session))
        for path in chunk_files(SimpleNamespace(session=w.session, area=area), stage)
    ]


#: The shared core's predictions of the scenes (``shared_core/scores.nc``) as a named input,
#: when ``models.kind`` lists it (else none).
SHARED_CORE_SCORES = (
    {"shared_core_scores": "results/{session}/shared_core/scores.nc"}
    if "shared_core" in config["models"]["kind"]
    else {}
)

#: The shared core's checkpoint as a named input, when ``models.kind`` lists it (else none).
SHARED_CORE_CHECKPOINT = (
    {"shared_core": "results/{session}/shared_core/model.pt"}
    if "shared_core" in config["models"]["kind"]
    else {}
)


#: The model the MEI stage goes through (``meis.model``): its checkpoint, and the shared core's
#: predictions of the scenes (the per-neuron ones are in the chunk's own file).
MEI_MODEL_FILES = (
    {
        "checkpoint": "results/{session}/shared_core/model.pt",
        "shared_core_scores": "results/{session}/shared_core/scores.nc",
    }
    if config["meis"]["model"] == "shared_core"
    else {"checkpoint": "results/{session}/{area}/models/chunk_{chunk}.pt"}
)


def area_files(name):
    """One file ``name`` of every analysed area of the job's session (an input function)."""
    return lambda w: expand(
        "results/{session}/{area}/{name}",
        session=w.session,
        area=session_areas(config, int(w.session)),
        name=name,
    )


#: The `models` section as the per-neuron models see it: without the shared core's keys, so that
#: changing those (`models.kind`, `models.shared_core`) does not retrain the per-neuron models.
PER_NEURON_MODELS = {
    key: value
    for key, value in config["models"].items()
    if key not in ("kind", "shared_core")
}
