"""The workflow's settings: every config section as the frozen dataclass of the stage that uses it.

Each stage owns its settings (``meiflow.ranking.settings.RankingSettings``,
``meiflow.mei.settings.MEISettings``, ...), whose defaults are those of ``config/config.yaml``:
a notebook that calls a stage's functions with default settings gets what the workflow computes.
:class:`Settings` gathers them; ``Settings.from_config`` builds them all from the validated
config, once, before any job runs (``workflow/rules/common.smk``), so that a value a stage refuses
stops the workflow at once. Each rule's script builds the section it needs from the rule's params
with :func:`meiflow.io.config.settings_from` (the params, plain values, are what Snakemake
compares to rerun a job whose settings changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from meiflow.ingest.settings import CountingWindow, TimingSettings
from meiflow.io.allen_cache import AllenSettings, UnitFilter
from meiflow.io.config import settings_from
from meiflow.mei.settings import GaborSettings, MEISettings, PhaseInvarianceSettings
from meiflow.metrics.settings import MetricsSettings
from meiflow.models.settings import ModelsSettings
from meiflow.ranking.settings import RankingSettings
from meiflow.simulation.settings import SimulationSettings
from meiflow.stimuli.budget import BudgetSettings
from meiflow.stimuli.geometry import ImageSettings, ScreenGeometry

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Every settings section of the workflow's config (all but ``sessions`` and ``areas``).

    Attributes:
        counting_window: the spike-counting window, or ``"auto"``.
        timing: PSTHs and raster.
        ranking: reliability scores, receptive fields, selection.
        models: the per-neuron CNNs (architecture, training, split, ensemble) and ridge baseline.
        meis: MEI method, constants and starting images.
        gabors: the Gabor controls.
        phase_invariance: the phase-scrambling test.
        metrics: the image metrics.
        images: the model resolution.
        screen: the visual field that a scene covers.
        unit_filter: the unit quality filter.
        allen: the AllenSDK cache of real sessions.
        simulation: the simulator.
        budget: the stimulus budget.
    """

    counting_window: CountingWindow | Literal["auto"] = "auto"
    timing: TimingSettings = field(default_factory=TimingSettings)
    ranking: RankingSettings = field(default_factory=RankingSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    meis: MEISettings = field(default_factory=MEISettings)
    gabors: GaborSettings = field(default_factory=GaborSettings)
    phase_invariance: PhaseInvarianceSettings = field(default_factory=PhaseInvarianceSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    images: ImageSettings = field(default_factory=ImageSettings)
    screen: ScreenGeometry = field(default_factory=ScreenGeometry)
    unit_filter: UnitFilter = field(default_factory=UnitFilter)
    allen: AllenSettings = field(default_factory=AllenSettings)
    simulation: SimulationSettings = field(default_factory=SimulationSettings)
    budget: BudgetSettings = field(default_factory=BudgetSettings)

    def __post_init__(self) -> None:
        """Check what two sections must agree on.

        Raises:
            ValueError: ``meis.model`` is a model ``models.kind`` does not fit.
        """
        if self.meis.model not in self.models.kind:
            raise ValueError(
                f"meis.model is {self.meis.model!r}, but models.kind {list(self.models.kind)} "
                "does not fit it: add it to models.kind or make the MEIs through per_neuron"
            )

    @classmethod
    def from_config(cls, config: Mapping) -> Settings:
        """The settings of a config validated by :func:`meiflow.io.config.validate_config`.

        Sections the config leaves out take their defaults; ``sessions`` and ``areas`` (the
        workflow's DAG, not settings) are ignored.

        Raises:
            ConfigError: a value a stage's settings refuse, naming its key.
        """
        names = [f.name for f in fields(cls)]
        return settings_from(cls, {name: config[name] for name in names if name in config}, "")
