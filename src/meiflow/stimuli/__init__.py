"""The stimuli: facts of the Allen Visual Coding stimuli, the screen, and Gabor rendering.

Used by every stage that makes or reads an image (the models' gabors check, the MEI stage's
Gabor controls, the simulator).

Modules:
    allen: Presentation length, number of natural scenes, the gabors grid
        (:func:`~meiflow.stimuli.allen.gabor_conditions`) and how a session's presentations
        cover it (:func:`~meiflow.stimuli.allen.gabor_grid_state`).
    geometry: Pixels to degrees of visual field and back:
        :class:`~meiflow.stimuli.geometry.ScreenGeometry`, the model resolution
        :class:`~meiflow.stimuli.geometry.ImageSettings`.
    gabor: The one Gabor renderer: :func:`~meiflow.stimuli.gabor.gabor`,
        :func:`~meiflow.stimuli.gabor.allen_gabor_stimulus`.
"""
