"""Ingest: AllenSDK cache -> spike-count tables and model-resolution images (NetCDF)."""


rule extract_counts:
    input:
        unpack(cache_ready),
    output:
        natural_scenes="results/{session}/counts/natural_scenes.nc",
        gabors="results/{session}/counts/gabors.nc",
        psth="results/{session}/psth.nc",
        raster="results/{session}/raster.nc",
    log:
        "results/{session}/logs/extract_counts.log",
    benchmark:
        "results/{session}/benchmarks/extract_counts.tsv"
    conda:
        "../../envs/allensdk.yaml"
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        cache_dir=cache_dir,
        window=config["counting_window"],
        timing=config["timing"],
        unit_filter=config["unit_filter"],
        areas=lambda wildcards: session_areas(config, int(wildcards.session)),
    script:
        "../../scripts/extract_counts.py"


rule extract_images:
    input:
        unpack(cache_ready),
        scenes="results/{session}/counts/natural_scenes.nc",
    output:
        "results/{session}/images.nc",
    log:
        "results/{session}/logs/extract_images.log",
    benchmark:
        "results/{session}/benchmarks/extract_images.tsv"
    conda:
        "../../envs/allensdk.yaml"
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        cache_dir=cache_dir,
        images=config["images"],
    script:
        "../../scripts/extract_images.py"
