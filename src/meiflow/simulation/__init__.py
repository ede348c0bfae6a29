"""The simulator and the ground-truth checks.

A session with ground-truth neurons in AllenSDK's format, and the checks of the pipeline's results
against that truth.

Only the simulate rule and the ground-truth checks import this package; ingest, ranking, models,
MEIs, metrics and plots never do (the import-linter contracts in ``pyproject.toml``), so real
sessions and simulated ones go through the same code.

Modules:
    session: :func:`~meiflow.simulation.session.simulate_session` (its settings
        :class:`~meiflow.simulation.settings.SimulationSettings`): the stimulus schedule, Poisson
        spikes, quality metrics, the ground-truth dataset.
    neurons: The model neurons (simple, complex and untuned units):
        :func:`~meiflow.simulation.neurons.rates`,
        :func:`~meiflow.simulation.neurons.optimal_stimulus`.
    natural_scenes: Synthetic natural scenes cut from scikit-image's photographs:
        :func:`~meiflow.simulation.natural_scenes.natural_scenes`.
    ground_truth: Ranking, model and MEI checks:
        :func:`~meiflow.simulation.ground_truth.ranking_checks`,
        :func:`~meiflow.simulation.ground_truth.model_checks`,
        :func:`~meiflow.simulation.ground_truth.mei_checks`,
        :func:`~meiflow.simulation.ground_truth.true_rates`.
    settings: The simulator's settings (``simulation``):
        :class:`~meiflow.simulation.settings.SimulationSettings`.
"""
