"""Simulated sessions only: every stage's results against the simulator's ground truth."""


rule check_ground_truth:
    input:
        **SHARED_CORE_CHECKPOINT,
        ranking="results/{session}/{area}/ranking.nc",
        psth="results/{session}/psth.nc",
        truth="resources/simulated/{session}/ground_truth.nc",
        scores="results/{session}/{area}/model_scores.nc",
        linear="results/{session}/{area}/linear.nc",
        chunks=lambda w: chunk_files(w, "models"),
        checkpoints=lambda w: [
            f[: -len(".nc")] + ".pt" for f in chunk_files(w, "models")
        ],
        meis="results/{session}/{area}/meis.nc",
        gabors="results/{session}/{area}/gabors.nc",
        metrics="results/{session}/{area}/metrics.nc",
    output:
        table=report(
            "results/{session}/{area}/ground_truth.csv",
            caption="../report/ground_truth_table.rst",
            category="7. Ground truth",
            subcategory="session {session}",
            labels={"session": "{session}", "area": "{area}"},
        ),
        units="results/{session}/{area}/ground_truth_units.csv",
    log:
        "results/{session}/logs/{area}/check_ground_truth.log",
    benchmark:
        "results/{session}/benchmarks/{area}/check_ground_truth.tsv"
    conda:
        "../../envs/allensdk.yaml"
    params:
        device=config["models"]["device"],
        meis=config["meis"],
    script:
        "../../scripts/check_ground_truth.py"


rule pool_ground_truth:
    input:
        units=lambda w: expand(
            "results/{session}/{area}/ground_truth_units.csv",
            session=w.session,
            area=session_areas(config, int(w.session)),
        ),
    output:
        report(
            "results/{session}/ground_truth.csv",
            caption="../report/ground_truth_session.rst",
            category="7. Ground truth",
            subcategory="session {session}",
            labels={"session": "{session}", "area": "all"},
        ),
    log:
        "results/{session}/logs/pool_ground_truth.log",
    benchmark:
        "results/{session}/benchmarks/pool_ground_truth.tsv"
    conda:
        "../../envs/allensdk.yaml"
    script:
        "../../scripts/pool_ground_truth.py"


rule plot_ground_truth:
    input:
        units=lambda w: expand(
            "results/{session}/{area}/ground_truth_units.csv",
            session=w.session,
            area=session_areas(config, int(w.session)),
        ),
    output:
        report(
            "results/{session}/figures/model_comparison.png",
            caption="../report/model_comparison.rst",
            category="7. Ground truth",
            subcategory="session {session}",
            labels={"session": "{session}", "figure": "model comparison"},
        ),
    log:
        "results/{session}/logs/plot_ground_truth.log",
    benchmark:
        "results/{session}/benchmarks/plot_ground_truth.tsv"
    conda:
        "../../envs/allensdk.yaml"
    script:
        "../../scripts/plot_ground_truth.py"
