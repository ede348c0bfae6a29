"""Stage 5, metrics: MEIs compared with Gabor patches, and the per-area summary.

Modules:
    image_metrics: Luminance, contrast, 1- and 2-fold symmetry, orientation and spatial-frequency
        spectra: :func:`~meiflow.metrics.image_metrics.image_metrics`,
        :func:`~meiflow.metrics.image_metrics.image_spectra`,
        :class:`~meiflow.metrics.settings.MetricsSettings`.
    comparison: MEIs against their Gabor controls: :func:`~meiflow.metrics.comparison.compare_area`.
    summary: One row of numbers per area: :func:`~meiflow.metrics.summary.area_summary`.
    settings: The stage's settings (``metrics``):
        :class:`~meiflow.metrics.settings.MetricsSettings`.
"""
