"""Stage 2, ranking: reliability, receptive fields and selection of the units of each area.

How reliably each unit responds, where its receptive field is, and which units are selected for
modelling, per brain area.

Modules:
    reliability: Oracle correlation (jackknife and the notebook's randomized one), FEV, response
        variance and entropy, correlations between units:
        :func:`~meiflow.ranking.reliability.oracle_correlation`,
        :func:`~meiflow.ranking.reliability.fev`, :func:`~meiflow.ranking.reliability.select_units`.
    anomaly: The isolation-forest flag of anomalous units:
        :func:`~meiflow.ranking.anomaly.anomaly_scores`.
    receptive_fields: Receptive-field maps from the gabors stimulus, their significance, centre and
        size: :func:`~meiflow.ranking.receptive_fields.receptive_field_table`.
    selection: The ranking table of an area: :func:`~meiflow.ranking.selection.unit_scores`,
        :func:`~meiflow.ranking.selection.rank_and_select`,
        :func:`~meiflow.ranking.selection.ranking_dataset`,
        :func:`~meiflow.ranking.selection.area_ranking`, with
        :class:`~meiflow.ranking.settings.RankingSettings`.
    settings: The stage's settings (``ranking``):
        :class:`~meiflow.ranking.settings.RankingSettings`.
"""
