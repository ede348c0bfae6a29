"""Stage 3, models: encoding models of the selected units, per-neuron CNNs and a ridge baseline.

Modules:
    network: The per-neuron CNN (core, readout, regularizers), many run as one batched network, its
        checkpoints and its paired response: :class:`~meiflow.models.network.PerNeuronCNN`,
        :class:`~meiflow.models.settings.ArchitectureSettings`,
        :func:`~meiflow.models.network.load_checkpoint`,
        :func:`~meiflow.models.network.model_response`.
    training: Training a chunk of networks, each on its own schedule:
        :func:`~meiflow.models.training.train_chunk`, :func:`~meiflow.models.training.predict`,
        :class:`~meiflow.models.settings.TrainingSettings`.
    training_data: What the models learn from: the seeded scene split, per-image targets and the
        readout candidates: :func:`~meiflow.models.training_data.split_scenes`,
        :func:`~meiflow.models.training_data.readout_candidates`,
        :class:`~meiflow.models.settings.SplitSettings`.
    ensemble: Ensembles (``models.ensemble`` networks per unit, member-major): the one place where
        members are split and averaged, :class:`~meiflow.models.ensemble.Ensemble`.
    chunks: Chunks and the gathered model scores: :func:`~meiflow.models.chunks.load_chunk`
        (reads a chunk's dataset and checkpoint).
    fitting: Training one chunk of an area's units, readout candidates to the chosen networks:
        :func:`~meiflow.models.fitting.fit_chunk`, with the ``models`` section's
        :class:`~meiflow.models.settings.ModelsSettings`.
    linear: The ridge baseline: :func:`~meiflow.models.linear.fit_ridge`,
        :func:`~meiflow.models.linear.linear_dataset`.
    scores: The scores of an area's models on the test scenes:
        :func:`~meiflow.models.scores.model_scores`.
    measures: Scores of predictions against recorded responses:
        :func:`~meiflow.models.measures.correlation_to_average`,
        :func:`~meiflow.models.measures.feve`, :func:`~meiflow.models.measures.fraction_of_oracle`.
    gabor_responses: The gabors stimulus shown to a model:
        :func:`~meiflow.models.gabor_responses.predict_conditions`.
    settings: The stage's settings (``models``), importable without torch:
        :class:`~meiflow.models.settings.ModelsSettings` and its parts.
"""
