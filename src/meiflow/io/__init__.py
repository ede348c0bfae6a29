"""Input and output: the files every stage reads and writes, and the settings it runs with.

Modules:
    netcdf: The NetCDF data contract: :func:`~meiflow.io.netcdf.write_netcdf` (atomic, with
        provenance attributes), :func:`~meiflow.io.netcdf.read_netcdf` (names the file and the
        missing variable), :func:`~meiflow.io.netcdf.read_chunks` (an area's per-chunk files
        as one).
    allen_cache: A session read from an AllenSDK ``EcephysProjectCache`` directory, checked before
        use: :func:`~meiflow.io.allen_cache.check_cache`,
        :class:`~meiflow.io.allen_cache.UnitFilter`,
        :class:`~meiflow.io.allen_cache.AllenSettings`,
        :func:`~meiflow.io.allen_cache.load_session`,
        :func:`~meiflow.io.allen_cache.load_scene_templates`,
        :func:`~meiflow.io.allen_cache.session_table`,
        :func:`~meiflow.io.allen_cache.download_session`.
    allen_format: The same layout written by meiflow (the simulated session):
        :func:`~meiflow.io.allen_format.write_session_cache`.
    config: The workflow's configuration: :func:`~meiflow.io.config.validate_config`,
        :func:`~meiflow.io.config.settings_from`,
        :func:`~meiflow.io.config.expand_sessions`, :func:`~meiflow.io.config.session_areas`.
    runtime: What every rule script does first: :func:`~meiflow.io.runtime.log_to`.
"""
