"""Ranking: reliability scores, receptive fields and the selection of units to model, per area."""


checkpoint rank_neurons:
    input:
        scenes="results/{session}/counts/natural_scenes.nc",
        gabors="results/{session}/counts/gabors.nc",
    output:
        nc="results/{session}/{area}/ranking.nc",
        csv=report(
            "results/{session}/{area}/ranking.csv",
            caption="../report/ranking_table.rst",
            category="3. Ranking",
            subcategory="session {session}, {area}",
            labels={"figure": "ranking table"},
        ),
    log:
        "results/{session}/logs/{area}/rank_neurons.log",
    benchmark:
        "results/{session}/benchmarks/{area}/rank_neurons.tsv"
    conda:
        "../../envs/allensdk.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        ranking=config["ranking"],
        images=config["images"],
        screen=config["screen"],
    script:
        "../../scripts/rank_neurons.py"


rule plot_ranking:
    input:
        ranking="results/{session}/{area}/ranking.nc",
        scenes="results/{session}/counts/natural_scenes.nc",
        psth="results/{session}/psth.nc",
        raster="results/{session}/raster.nc",
    output:
        **{
            name: report(
                f"results/{{session}}/{{area}}/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category=FIGURE_CATEGORIES.get(name, "3. Ranking"),
                subcategory="session {session}, {area}",
                labels={"figure": name.replace("_", " ")},
            )
            for name in RANKING_FIGURES
        },
    log:
        "results/{session}/logs/{area}/plot_ranking.log",
    benchmark:
        "results/{session}/benchmarks/{area}/plot_ranking.tsv"
    conda:
        "../../envs/allensdk.yaml"
    script:
        "../../scripts/plot_ranking.py"
