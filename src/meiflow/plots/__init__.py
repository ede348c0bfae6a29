"""Figures of the workflow's reports, one module per stage (:mod:`meiflow.plots.ranking`)."""
