"""The simulator and the ground-truth checks.

A session with ground-truth neurons in AllenSDK's format, and the checks of the pipeline's results
against that truth.

Only the simulate rule and the ground-truth checks import this package; ingest, ranking, models,
MEIs, metrics and plots never do (the import-linter contracts in ``pyproject.toml``), so real
sessions and simulated ones go through the same code.

Modules:
    session: :func:`~meiflow.simulation.session.simulate_session` (its settings
        :class:`~meiflow.simulation.settings.SimulationSettings`): the stimulus schedule, each
        area's units (:func:`~meiflow.simulation.session.unit_parameters`), Poisson spikes,
        quality metrics, the ground-truth dataset.
    neurons: The model neurons, written once in torch
        (:class:`~meiflow.simulation.neurons.TrueNeurons`: simple, complex, centre-surround,
        conjunction and untuned units) and :func:`~meiflow.simulation.neurons.true_rates`, the
        true rates of any images from ``ground_truth.nc`` (also ``meiflow.simulation.true_rates``).
    optima: Each unit's optimum and true best Gabor on the stimulus budget, found with the MEI
        stage's own code: :func:`~meiflow.simulation.optima.optimal_images`,
        :func:`~meiflow.simulation.optima.true_best_gabors`.
    natural_scenes: Synthetic natural scenes cut from scikit-image's photographs, and held-out
        images cut from others: :func:`~meiflow.simulation.natural_scenes.natural_scenes`,
        :func:`~meiflow.simulation.natural_scenes.heldout_images`.
    ground_truth: Ranking, model and MEI checks, per unit and summarized per area and session:
        :func:`~meiflow.simulation.ground_truth.ranking_checks`,
        :func:`~meiflow.simulation.ground_truth.unit_checks`,
        :func:`~meiflow.simulation.ground_truth.summary_checks`.
    settings: The simulator's settings (``simulation``):
        :class:`~meiflow.simulation.settings.SimulationSettings`.
"""

__all__ = ["true_rates"]


def __getattr__(name: str):
    """``true_rates`` on first use: the settings import this package without torch."""
    if name == "true_rates":
        from meiflow.simulation.neurons import true_rates

        return true_rates
    raise AttributeError(f"module 'meiflow.simulation' has no attribute {name!r}")
