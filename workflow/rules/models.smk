"""Encoding models: a ridge baseline and per-neuron CNNs trained in chunks, per area; the
session's shared core; every model's scores side by side per area (model_scores.nc)."""


rule fit_linear:
    input:
        ranking="results/{session}/{area}/ranking.nc",
        images="results/{session}/images.nc",
        scenes="results/{session}/counts/natural_scenes.nc",
    output:
        "results/{session}/{area}/linear.nc",
    log:
        "results/{session}/logs/{area}/fit_linear.log",
    benchmark:
        "results/{session}/benchmarks/{area}/fit_linear.tsv"
    conda:
        "../../envs/allensdk.yaml"
    params:
        split=config["models"]["split"],
        downsample=config["models"]["linear_downsample"],
    script:
        "../../scripts/fit_linear.py"


rule train_models:
    input:
        ranking="results/{session}/{area}/ranking.nc",
        images="results/{session}/images.nc",
        scenes="results/{session}/counts/natural_scenes.nc",
        linear="results/{session}/{area}/linear.nc",
        gabors="results/{session}/counts/gabors.nc",
    output:
        nc="results/{session}/{area}/models/chunk_{chunk}.nc",
        checkpoint="results/{session}/{area}/models/chunk_{chunk}.pt",
    log:
        "results/{session}/logs/{area}/train_models_{chunk}.log",
    benchmark:
        "results/{session}/benchmarks/{area}/train_models_{chunk}.tsv"
    conda:
        "../../envs/allensdk.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=120,
    params:
        models=PER_NEURON_MODELS,
        images=config["images"],
        screen=config["screen"],
    script:
        "../../scripts/train_models.py"


rule collect_models:
    input:
        **SHARED_CORE_SCORES,
        chunks=lambda w: chunk_files(w, "models"),
        ranking="results/{session}/{area}/ranking.nc",
        scenes="results/{session}/counts/natural_scenes.nc",
        linear="results/{session}/{area}/linear.nc",
    output:
        "results/{session}/{area}/model_scores.nc",
    log:
        "results/{session}/logs/{area}/collect_models.log",
    benchmark:
        "results/{session}/benchmarks/{area}/collect_models.tsv"
    conda:
        "../../envs/allensdk.yaml"
    script:
        "../../scripts/collect_models.py"


rule plot_models:
    input:
        scores="results/{session}/{area}/model_scores.nc",
        scenes="results/{session}/counts/natural_scenes.nc",
    output:
        **{
            name: report(
                f"results/{{session}}/{{area}}/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="4. Models",
                subcategory="session {session}, {area}",
                labels={"figure": name.replace("_", " ")},
            )
            for name in MODEL_FIGURES
        },
    log:
        "results/{session}/logs/{area}/plot_models.log",
    benchmark:
        "results/{session}/benchmarks/{area}/plot_models.tsv"
    conda:
        "../../envs/allensdk.yaml"
    script:
        "../../scripts/plot_models.py"


if "shared_core" in config["models"]["kind"]:

    rule train_shared_core:
        input:
            images="results/{session}/images.nc",
            scenes="results/{session}/counts/natural_scenes.nc",
            rankings=area_files("ranking.nc"),
            chunks=session_chunk_files("models"),
        output:
            checkpoint="results/{session}/shared_core/model.pt",
            nc="results/{session}/shared_core/scores.nc",
        log:
            "results/{session}/logs/train_shared_core.log",
        benchmark:
            "results/{session}/benchmarks/train_shared_core.tsv"
        conda:
            "../../envs/allensdk.yaml"
        threads: 2
        resources:
            gpu=1,
            mem_mb=6000,
            runtime=120,
        params:
            models=config["models"],
            screen=config["screen"],
        script:
            "../../scripts/train_shared_core.py"
