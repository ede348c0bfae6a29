"""MEIs, their Gabor controls, the phase-invariance test and the image metrics, per area."""


rule generate_meis:
    input:
        **MEI_MODEL_FILES,
        chunk="results/{session}/{area}/models/chunk_{chunk}.nc",
        images="results/{session}/images.nc",
    output:
        "results/{session}/{area}/meis/chunk_{chunk}.nc",
    log:
        "results/{session}/logs/{area}/generate_meis_{chunk}.log",
    benchmark:
        "results/{session}/benchmarks/{area}/generate_meis_{chunk}.tsv"
    conda:
        "../../envs/allensdk.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        meis=config["meis"],
        budget=config["budget"],
        device=config["models"]["device"],
        split=config["models"]["split"],
    script:
        "../../scripts/generate_meis.py"


rule compare_gabors:
    input:
        **MEI_MODEL_FILES,
        chunk="results/{session}/{area}/models/chunk_{chunk}.nc",
        meis="results/{session}/{area}/meis/chunk_{chunk}.nc",
        gabors="results/{session}/counts/gabors.nc",
    output:
        "results/{session}/{area}/gabors/chunk_{chunk}.nc",
    log:
        "results/{session}/logs/{area}/compare_gabors_{chunk}.log",
    benchmark:
        "results/{session}/benchmarks/{area}/compare_gabors_{chunk}.tsv"
    conda:
        "../../envs/allensdk.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=60,
    params:
        gabors=config["gabors"],
        device=config["models"]["device"],
        model=config["meis"]["model"],
        screen=config["screen"],
    script:
        "../../scripts/compare_gabors.py"


rule phase_invariance:
    input:
        **MEI_MODEL_FILES,
        chunk="results/{session}/{area}/models/chunk_{chunk}.nc",
        images="results/{session}/images.nc",
    output:
        "results/{session}/{area}/phase_invariance/chunk_{chunk}.nc",
    log:
        "results/{session}/logs/{area}/phase_invariance_{chunk}.log",
    benchmark:
        "results/{session}/benchmarks/{area}/phase_invariance_{chunk}.tsv"
    conda:
        "../../envs/allensdk.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=30,
    params:
        phase_invariance=config["phase_invariance"],
        device=config["models"]["device"],
        model=config["meis"]["model"],
        screen=config["screen"],
    script:
        "../../scripts/phase_invariance.py"


rule image_metrics:
    input:
        meis=lambda w: chunk_files(w, "meis"),
        gabors=lambda w: chunk_files(w, "gabors"),
        invariance=lambda w: chunk_files(w, "phase_invariance"),
        ranking="results/{session}/{area}/ranking.nc",
        scores="results/{session}/{area}/model_scores.nc",
    output:
        meis="results/{session}/{area}/meis.nc",
        gabors="results/{session}/{area}/gabors.nc",
        metrics="results/{session}/{area}/metrics.nc",
        csv=report(
            "results/{session}/{area}/metrics.csv",
            caption="../report/metrics_table.rst",
            category="6. Metrics",
            subcategory="session {session}, {area}",
            labels={"figure": "image metrics table"},
        ),
    log:
        "results/{session}/logs/{area}/image_metrics.log",
    benchmark:
        "results/{session}/benchmarks/{area}/image_metrics.tsv"
    conda:
        "../../envs/allensdk.yaml"
    params:
        metrics=config["metrics"],
        screen=config["screen"],
    script:
        "../../scripts/image_metrics.py"


rule plot_meis:
    input:
        meis="results/{session}/{area}/meis.nc",
        gabors="results/{session}/{area}/gabors.nc",
        metrics="results/{session}/{area}/metrics.nc",
    output:
        **{
            name: report(
                f"results/{{session}}/{{area}}/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="5. MEIs",
                subcategory="session {session}, {area}",
                labels={"figure": name.replace("_", " ")},
            )
            for name in MEI_FIGURES
        },
    log:
        "results/{session}/logs/{area}/plot_meis.log",
    benchmark:
        "results/{session}/benchmarks/{area}/plot_meis.tsv"
    conda:
        "../../envs/allensdk.yaml"
    script:
        "../../scripts/plot_meis.py"
