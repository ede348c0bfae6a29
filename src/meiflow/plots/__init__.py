"""Stage 6, figures of the report: one module per stage and a shared base.

Modules:
    base: Size, canvas, titles, the empty-state figure and atomic PNG writing:
        :func:`~meiflow.plots.base.save_figure`.
    ranking: Oracle vs variance, entropy, correlation matrix, PSTHs, population raster, receptive
        fields.
    models: Training curves, predicted vs observed, CNN vs ridge.
    meis: MEI gallery, starting images, comparison with Gabor controls, responses.
"""
