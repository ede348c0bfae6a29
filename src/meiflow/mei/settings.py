"""The MEI stage's settings: MEI recipe and starts, Gabor controls, phase-scrambling test.

Config sections ``meis``, ``gabors`` and ``phase_invariance``; plain frozen dataclasses,
importable without torch, whose defaults are ``config/config.yaml``'s (see :mod:`meiflow.settings`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from meiflow.models.settings import MODEL_KINDS

__all__ = [
    "GaborSettings",
    "MEISettings",
    "METHODS",
    "METHOD_BUDGET",
    "METHOD_DEFAULTS",
    "POLISH",
    "PhaseInvarianceSettings",
]


METHODS = ("notebook", "walker")


# Whether each method's MEIs lie on the stimulus budget by default (MEISettings.budget None).
METHOD_BUDGET = {"notebook": False, "walker": True}

# Constants of each method; a field of MEISettings left at None takes its method's value.
METHOD_DEFAULTS = {
    "notebook": {
        "step_size": 0.1,
        "final_step_size": 0.1,
        "step_gain": 1.0,
        "blur_sigma": 7.0,
        "final_blur_sigma": 0.001,
        "fourier_exponent": 0.25,
        "contrast_weight": 2.0,
    },
    "walker": {
        "step_size": 3.0,
        "final_step_size": 0.125,
        "step_gain": 0.1 / 255,
        "blur_sigma": 1.5,
        "final_blur_sigma": 0.01,
        "fourier_exponent": 0.2,
        "contrast_weight": 0.0,
    },
}


@dataclass(frozen=True)
class MEISettings:
    """Method and constants of the MEI gradient ascent, and its starts (config section ``meis``).

    Every constant left at None takes the value of ``method`` (``METHOD_DEFAULTS``), so
    ``MEISettings(method="walker")`` is Walker et al.'s recipe; after construction all fields
    are set. Blur sigmas are in pixels; step sizes in luminance per unit of the update direction.
    ``initializations`` and ``seed`` give the starting images (see
    :func:`meiflow.mei.synthesis.initial_images`). ``budget`` keeps every MEI on the session's
    stimulus budget (:mod:`meiflow.stimuli.budget`: the scenes' mean luminance, RMS contrast at
    most theirs; walker only); without it the pixels are only kept in [0, 1]. None takes the
    method's (``METHOD_BUDGET``: walker on the budget, the notebook's recipe off it). ``polish``
    follows the ascent with the stages of ``POLISH`` (exact projections onto the budget; needs
    ``budget``; None: as ``budget``). ``model`` names the encoding model the MEIs, their Gabor
    controls and the phase-scrambling test go through (``per_neuron`` or ``shared_core``, one of
    ``models.kind``). Since the
    constants are filled in at construction, ``dataclasses.replace(settings, method="notebook")``
    keeps the other method's constants: build ``MEISettings(method="notebook", ...)`` anew to
    take a method's own.
    """

    method: str = "walker"
    steps: int = 1000
    step_size: float | None = None  # at the first step; linear decay to final_step_size
    final_step_size: float | None = None
    step_gain: float | None = None  # factor of every step (walker: 0.1 / 255)
    blur_sigma: float | None = None  # px, at the first step
    final_blur_sigma: float | None = None  # px, at the last step
    fourier_exponent: float | None = None  # gradient weight 1 / |f|^exponent; 0 = none
    contrast_weight: float | None = None  # weight of |C* - std(image)| in the objective
    initializations: tuple[str, ...] = ("noise:0", "noise:1", "black", "gray:0")
    seed: int = 0  # of the noise starts
    budget: bool | None = None  # every MEI on the stimulus budget (walker only)
    polish: bool | None = None  # then the POLISH stages (needs budget; None: as budget)
    model: str = "per_neuron"  # the encoding model the MEIs are made through (models.kind)

    def __post_init__(self) -> None:
        """Fill every constant left at None from ``METHOD_DEFAULTS`` and check the settings.

        Raises:
            ValueError: an unknown method, ``steps`` not an integer >= 1, a constant that is not
                a number, not finite or out of range (step sizes, step gain and blur sigmas > 0;
                an unknown ``model``;
                fourier_exponent and contrast_weight >= 0), or ``budget`` with the notebook's
                method (its min-max rescaling leaves any budget).
        """
        if self.method not in METHODS:
            raise ValueError(f"MEISettings.method must be one of {METHODS}, got {self.method!r}")
        if self.model not in MODEL_KINDS:
            raise ValueError(f"MEISettings.model must be one of {MODEL_KINDS}, got {self.model!r}")
        if self.budget is None:
            object.__setattr__(self, "budget", METHOD_BUDGET[self.method])
        if not isinstance(self.budget, bool):
            raise ValueError(f"MEISettings.budget must be true or false, got {self.budget!r}")
        if self.budget and self.method != "walker":
            raise ValueError(
                f"MEISettings.budget (meis.budget: true) needs the walker method, not "
                f"{self.method!r}: set meis.budget to false for the notebook's recipe"
            )
        if self.polish is None:
            object.__setattr__(self, "polish", self.budget)
        if not isinstance(self.polish, bool):
            raise ValueError(f"MEISettings.polish must be true or false, got {self.polish!r}")
        if self.polish and not self.budget:
            raise ValueError(
                "MEISettings.polish (meis.polish: true) projects onto the stimulus budget: it "
                "needs meis.budget: true"
                + (", and so the walker method" if self.method != "walker" else "")
            )
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"MEISettings.steps must be an integer >= 1, got {self.steps!r}")
        for name, default in METHOD_DEFAULTS[self.method].items():
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, default)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"MEISettings.{name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        positive = ("step_size", "final_step_size", "step_gain", "blur_sigma", "final_blur_sigma")
        for name in positive:
            if not 0.0 < getattr(self, name) < math.inf:
                raise ValueError(
                    f"MEISettings.{name} must be > 0 and finite: {getattr(self, name)}"
                )
        for name in ("fourier_exponent", "contrast_weight"):
            if not 0.0 <= getattr(self, name) < math.inf:
                raise ValueError(
                    f"MEISettings.{name} must be >= 0 and finite: {getattr(self, name)}"
                )

    def schedule(self) -> tuple[list[float], list[float]]:
        """(step sizes, blur sigmas) of every step: two lists of ``steps`` floats."""
        fraction = [t / max(self.steps - 1, 1) for t in range(self.steps)]
        steps = [self.step_size + (self.final_step_size - self.step_size) * p for p in fraction]
        if self.method == "notebook":
            ratio = self.final_blur_sigma / self.blur_sigma
            sigmas = [self.blur_sigma * ratio**p for p in fraction]
        else:
            change = self.final_blur_sigma - self.blur_sigma
            sigmas = [self.blur_sigma + change * p for p in fraction]
        return steps, sigmas


#: The polish after an ascent on the budget (``MEISettings.polish``; and of the simulator's true
#: optima, :func:`meiflow.simulation.optima.optimal_images`): plain projected gradient steps,
#: each projected onto the budget exactly, without blur or preconditioning (a projected step in
#: another metric than the projection's stops short): coarse steps, then fine ones (optima that
#: lie inside the box, as normalized units' do, are only circled by coarse steps). On the true
#: neurons of the default session it takes the recipe's MEIs from 0.81-0.86 of the optimum's
#: driven rate to 1.00 (README, "MEIs and their controls").
_COARSE_POLISH = MEISettings(
    method="walker",
    steps=100,
    step_size=0.5,
    final_step_size=0.005,
    step_gain=1.0,
    blur_sigma=0.01,
    final_blur_sigma=0.01,
    fourier_exponent=0.0,
    initializations=("gray:0",),
    polish=False,
)
POLISH = (
    _COARSE_POLISH,
    dataclasses.replace(_COARSE_POLISH, step_size=0.05, final_step_size=0.0005),
)


@dataclass(frozen=True)
class GaborSettings:
    """The Gabor controls of every MEI (config section ``gabors``).

    Attributes:
        recorded_top_k: the recorded best Gabor averages the unit's top conditions of the gabors
            stimulus (by mean count), rendered at their recorded positions and orientations.
        window: [rows, columns] of Walker et al.'s grid positions nearest the MEI's centre that
            the in-silico search tries (None: every position).
        top_k: candidates of the grid search refined by gradient steps.
        refine_steps: gradient steps on the continuous parameters of each refined candidate.
        batch_size: candidates per unit per model call (memory).
    """

    recorded_top_k: int = 3
    window: tuple[int, int] | None = (3, 3)
    top_k: int = 8
    refine_steps: int = 100
    batch_size: int = 512


@dataclass(frozen=True)
class PhaseInvarianceSettings:
    """The phase-scrambling test (config section ``phase_invariance``).

    Attributes:
        seeds: random phase fields, seeded ``seed``, ``seed + 1``, ...
        seed: the first phase field's seed.
        radius_deg: outer radius of the scrambled window around the model's readout position
            (deg; 3 x a receptive-field sd of 5 deg).
    """

    seeds: int = 4
    seed: int = 0
    radius_deg: float = 15.0
