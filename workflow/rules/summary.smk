"""The area at a glance, for the report."""


rule summarize_area:
    input:
        ranking="results/{session}/{area}/ranking.nc",
        scores="results/{session}/{area}/model_scores.nc",
        gabors="results/{session}/{area}/gabors.nc",
        metrics="results/{session}/{area}/metrics.nc",
    output:
        report(
            "results/{session}/{area}/summary.csv",
            caption="../report/summary_table.rst",
            category="1. Summary",
            subcategory="session {session}",
            labels={"session": "{session}", "area": "{area}"},
        ),
    log:
        "results/{session}/logs/{area}/summarize_area.log",
    benchmark:
        "results/{session}/benchmarks/{area}/summarize_area.tsv"
    conda:
        "../../envs/allensdk.yaml"
    script:
        "../../scripts/summarize_area.py"
