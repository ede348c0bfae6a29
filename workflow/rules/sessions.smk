"""Where session data come from: the simulator, or AllenSDK's download (network)."""


localrules:
    download_session,


rule simulate_session:
    output:
        manifest="resources/simulated/{session}/manifest.json",
        ground_truth="resources/simulated/{session}/ground_truth.nc",
        nwb="resources/simulated/{session}/session_{session}/session_{session}.nwb",
    log:
        "results/{session}/logs/simulate_session.log",
    benchmark:
        "results/{session}/benchmarks/simulate_session.tsv"
    conda:
        "../../envs/allensdk.yaml"
    resources:
        mem_mb=6000,
        runtime=20,
    params:
        simulation=config["simulation"],
        budget=config["budget"],
        images=config["images"],
        screen=config["screen"],
    script:
        "../../scripts/simulate_session.py"


rule download_session:
    output:
        "results/{session}/download.json",
    log:
        "results/{session}/logs/download_session.log",
    benchmark:
        "results/{session}/benchmarks/download_session.tsv"
    conda:
        "../../envs/allensdk.yaml"
    params:
        cache_dir=config["allen"]["cache_dir"],
        network_timeout_s=config["allen"]["network_timeout_s"],
    script:
        "../../scripts/download_session.py"
