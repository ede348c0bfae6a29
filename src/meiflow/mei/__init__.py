"""Stage 4, MEIs: most exciting inputs and their controls.

Most exciting inputs by gradient ascent, their Gabor controls, and the phase-invariance test.

Modules:
    synthesis: MEIs of many units from many starting images at once:
        :func:`~meiflow.mei.synthesis.synthesize`, :func:`~meiflow.mei.synthesis.initial_images`,
        :class:`~meiflow.mei.settings.MEISettings`.
    gabor_search: The best Gabor of a model (in silico) and of the recorded gabors responses:
        :func:`~meiflow.mei.gabor_search.best_gabors`,
        :func:`~meiflow.mei.gabor_search.recorded_best_gabor`,
        :class:`~meiflow.mei.settings.GaborSettings`.
    phase_invariance: Responses to natural scenes vs their locally phase-scrambled versions:
        :func:`~meiflow.mei.phase_invariance.local_phase_scramble`,
        :func:`~meiflow.mei.phase_invariance.phase_invariance_index`,
        :class:`~meiflow.mei.settings.PhaseInvarianceSettings`.
    settings: The stage's settings (``meis``, ``gabors``, ``phase_invariance``), importable
        without torch: :class:`~meiflow.mei.settings.MEISettings`,
        :class:`~meiflow.mei.settings.GaborSettings`,
        :class:`~meiflow.mei.settings.PhaseInvarianceSettings`.
"""
