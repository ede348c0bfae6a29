"""Stage 1, ingest: a session's spike times and stimuli into trial-level tables and images.

Modules:
    checks: The values read from a session checked by kind; what cannot be used is left out and
        named: :func:`~meiflow.ingest.checks.check_session`.
    counts: Spike counts of every unit in every presentation window, zeros included:
        :func:`~meiflow.ingest.counts.count_spikes`, :func:`~meiflow.ingest.counts.count_table`.
    psth: PSTHs, their smoothing, response latency and binned activity:
        :func:`~meiflow.ingest.psth.psth`, :func:`~meiflow.ingest.psth.signal_psth`,
        :func:`~meiflow.ingest.psth.response_latency`,
        :func:`~meiflow.ingest.psth.binned_activity`.
    activity: The PSTH and raster datasets: :func:`~meiflow.ingest.activity.psth_dataset`,
        :func:`~meiflow.ingest.activity.raster_dataset`; their settings
        :class:`~meiflow.ingest.settings.TimingSettings`.
    scene_images: The natural scenes at model resolution, blank included:
        :func:`~meiflow.ingest.scene_images.images_dataset`,
        :func:`~meiflow.ingest.scene_images.model_images`.
    session: Everything ingest makes of one session (PSTHs, raster, count tables):
        :func:`~meiflow.ingest.session.ingest_session`, with its
        :class:`~meiflow.ingest.settings.CountingWindow`.
    resize: Anti-aliased resizing: :func:`~meiflow.ingest.resize.area_resize`,
        :func:`~meiflow.ingest.resize.crop_resize`.
    settings: The stage's settings (``counting_window``, ``timing``):
        :class:`~meiflow.ingest.settings.CountingWindow`,
        :class:`~meiflow.ingest.settings.TimingSettings`.
"""
