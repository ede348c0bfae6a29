"""Simulated sessions only: every stage's results against the simulator's ground truth."""


rule check_ground_truth:
    input:
        ranking="results/{session}/{area}/ranking.nc",
        psth="results/{session}/psth.nc",
        truth="resources/simulated/{session}/ground_truth.nc",
        scores="results/{session}/{area}/model_scores.nc",
        meis="results/{session}/{area}/meis.nc",
        gabors="results/{session}/{area}/gabors.nc",
        metrics="results/{session}/{area}/metrics.nc",
        images="results/{session}/images.nc",
    output:
        report(
            "results/{session}/{area}/ground_truth.csv",
            caption="../report/ground_truth_table.rst",
            category="7. Ground truth",
            subcategory="session {session}",
            labels={"session": "{session}", "area": "{area}"},
        ),
    log:
        "results/{session}/logs/{area}/check_ground_truth.log",
    benchmark:
        "results/{session}/benchmarks/{area}/check_ground_truth.tsv"
    conda:
        "../../envs/allensdk.yaml"
    params:
        screen=config["screen"],
    script:
        "../../scripts/check_ground_truth.py"
