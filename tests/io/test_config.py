"""Config validation: every bad value is rejected before any job, with the key named."""

from __future__ import annotations

import copy
import dataclasses
import json

import pandas as pd
import pytest
import yaml
from helpers import REPO, run_snakemake
from snakemake.utils import update_config

from meiflow.io.config import (
    ConfigError,
    expand_sessions,
    session_areas,
    settings_from,
    validate_config,
)
from meiflow.models.settings import ArchitectureSettings, ModelsSettings, TrainingSettings
from meiflow.settings import Settings
from meiflow.stimuli.geometry import ImageSettings

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_the_embedded_default_is_valid():
    validate_config(DEFAULT, SCHEMA)


def edited(path: str, value):
    """The default config with one key (dotted path, [i] for list items) set to ``value``."""
    config = copy.deepcopy(DEFAULT)
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    node = config
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("simulation.seed", "zero", "'simulation.seed': 'zero' is not of type 'integer'"),
        ("simulation.scene_repeats", -5, "'simulation.scene_repeats': -5 is less than"),
        ("simulation.units_per_area.VISp", 0, "'simulation.units_per_area.VISp'"),
        ("areas", [], "'areas': [] should be non-empty"),
        ("sessions[0].source", "dropbox", "'sessions[0].source': 'dropbox' is not one of"),
        ("images.height", 2.5, "'images.height'"),
        ("counting_window", {"start": 0.1, "stop": 0.0}, "'counting_window.stop'"),
        ("unit_filter.presence_ratio_minimum", 1.5, "'unit_filter.presence_ratio_minimum'"),
        ("models.ensemble", 0, "'models.ensemble': 0 is less than the minimum of 1"),
        ("models.device", "mps", "'models.device': 'mps' does not match"),
        ("models.chunk_size", True, "'models.chunk_size': true is not of type 'integer'"),
        ("gabors.window", [2, 0], "'gabors.window[1]': 0 is less than the minimum of 1"),
        ("gabors.window", [2.0, 2], "'gabors.window[0]': 2.0 is not of type 'integer'"),
        ("counting_window", {"start": "a", "stop": 0.2}, "'counting_window.start': 'a' is not"),
        (
            "sessions[0].id",
            9.0,
            "'sessions[0].id': 9.0 is not valid under any of the given schemas: 9.0 is not of "
            "type 'integer', or 'all' was expected",
        ),
        ("models.device", "cuda:07", "'models.device': 'cuda:07' does not match"),
        ("models.split.test", 0.5, "'models.split': validation 0.1 and test 0.5 leave"),
        (
            "simulation.modulation_range",
            {"VISp": [0.2, 1.5]},
            "'simulation.modulation_range.VISp[1]': 1.5 is greater than the maximum of 1",
        ),
        (
            "simulation.cell_types.VISl",
            {"simple": 0.5},
            "'simulation.cell_types.VISl': 'complex' is a required property",
        ),
        ("budget.contrast_scale", 0, "'budget.contrast_scale': 0 is less than or equal to"),
        (
            "simulation.modulation_scale",
            {"VISl": 0.85},
            "'simulation.modulation_scale' was renamed: give 'simulation.modulation_range'",
        ),
    ],
)
def test_a_bad_value_names_its_key(path, value, message):
    with pytest.raises(ConfigError) as error:
        validate_config(edited(path, value), SCHEMA)
    assert message in str(error.value)


def test_an_unknown_key_is_named():
    config = edited("simulation.sed", 3)
    with pytest.raises(ConfigError, match=r"'simulation'.*'sed' was unexpected.*unknown key"):
        validate_config(config, SCHEMA)


def test_a_session_listed_twice_is_rejected():
    config = edited("sessions", [{"id": 5, "source": "simulated"}, {"id": 5, "source": "allen"}])
    with pytest.raises(ConfigError, match=r"'sessions\[1\].id': session 5 is listed twice"):
        validate_config(config, SCHEMA)


def test_per_session_areas_override_the_default():
    config = edited(
        "sessions",
        [{"id": 5, "source": "simulated", "areas": ["VISp"]}, {"id": 6, "source": "simulated"}],
    )
    validate_config(config, SCHEMA)
    assert session_areas(config, 5) == ["VISp"]
    assert session_areas(config, 6) == DEFAULT["areas"]
    with pytest.raises(ConfigError, match="session 7"):
        session_areas(config, 7)


def test_snakemake_stops_before_any_job_on_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("simulation:\n  seed: -1\n")
    process = run_snakemake(tmp_path, configfile=bad, check=False)
    assert process.returncode != 0
    assert "config key 'simulation.seed': -1 is less than the minimum of 0" in process.stderr
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "resources").exists()


def session_table() -> pd.DataFrame:
    """A stand-in for AllenSDK's session table: three sessions of two types."""
    return pd.DataFrame(
        {
            "session_type": [
                "brain_observatory_1.1",
                "functional_connectivity",
                "brain_observatory_1.1",
            ],
            "ecephys_structure_acronyms": [["VISp", "CA1"], ["VISp"], ["VISam", "VISl", "VISp"]],
        },
        index=pd.Index([11, 12, 13], name="id"),
    )


def test_all_sessions_of_a_type_come_with_the_areas_they_recorded():
    config = edited(
        "sessions",
        [
            {"id": "all", "session_type": "brain_observatory_1.1", "source": "allen"},
            {"id": 13, "source": "allen", "areas": ["VISl"]},
        ],
    )
    config["areas"] = ["VISam", "VISp"]
    validate_config(config, SCHEMA)
    sessions = expand_sessions(config, session_table())
    assert sessions == [
        {"id": 11, "source": "allen", "areas": ["VISp"]},
        {"id": 13, "source": "allen", "areas": ["VISl"]},  # listed explicitly: that entry wins
    ]


def test_all_sessions_of_an_unknown_type_or_without_the_areas_are_errors():
    config = edited("sessions", [{"id": "all", "session_type": "bo_2.0", "source": "allen"}])
    with pytest.raises(ConfigError, match=r"'sessions\[0\].session_type': no session of type"):
        expand_sessions(config, session_table())
    config["sessions"][0] |= {"session_type": "functional_connectivity", "areas": ["LGd"]}
    with pytest.raises(ConfigError, match=r"'sessions\[0\]': no functional_connectivity session"):
        expand_sessions(config, session_table())


@pytest.mark.parametrize(
    ("session", "message"),
    [
        ({"id": "all", "source": "allen"}, "'sessions[0]': 'session_type' is a required property"),
        (
            {"id": "all", "session_type": "brain_observatory_1.1", "source": "simulated"},
            "'sessions[0].source': 'allen' was expected",
        ),
        (
            {"id": 5, "session_type": "brain_observatory_1.1", "source": "allen"},
            "'sessions[0].session_type': only for 'id: all'",
        ),
        ({"id": "some", "source": "allen"}, "'sessions[0].id': 'some' is not valid"),
    ],
)
def test_a_bad_all_sessions_entry_names_its_key(session, message):
    with pytest.raises(ConfigError) as error:
        validate_config(edited("sessions", [session]), SCHEMA)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("path", "value"),
    [("models.chunk_size", 2.0), ("ranking.min_spikes", 50.0), ("meis.steps", 1e3)],
)
def test_an_integer_key_refuses_a_float(path, value):
    with pytest.raises(
        ConfigError, match=rf"config key '{path}': {value} is not of type 'integer'"
    ):
        validate_config(edited(path, value), SCHEMA)


def test_whole_numbers_of_number_keys_become_floats():
    config = edited("counting_window", {"start": 0, "stop": 1})
    config["ranking"]["min_fev"] = 0
    normalized = validate_config(config, SCHEMA)
    assert normalized["counting_window"] == {"start": 0.0, "stop": 1.0}
    assert type(normalized["counting_window"]["start"]) is float
    assert type(normalized["ranking"]["min_fev"]) is float  # [number, null]
    assert type(normalized["ranking"]["min_spikes"]) is int  # integer keys stay integers
    assert type(normalized["sessions"][0]["id"]) is int  # oneOf: integer or "all"
    assert config["counting_window"] == {"start": 0, "stop": 1}  # the input is left alone
    # the same parameters as the floats, as Snakemake compares them (their JSON)
    written = edited("counting_window", {"start": 0.0, "stop": 1.0})
    written["ranking"]["min_fev"] = 0.0
    assert json.dumps(normalized, sort_keys=True) == json.dumps(
        validate_config(written, SCHEMA), sort_keys=True
    )
    assert validate_config(edited("counting_window", "auto"), SCHEMA)["counting_window"] == "auto"


def test_package_defaults_are_the_workflows():
    """A scientist who calls a stage's functions in a notebook with the package's default settings
    gets what the workflow's embedded default computes: every settings field is a key of
    config/config.yaml and every key a field, with the same value of the same type."""
    validated = validate_config(DEFAULT, SCHEMA)
    sections = {k: v for k, v in validated.items() if k not in ("sessions", "areas")}

    def keys(tree: dict, prefix: str = "") -> set[str]:
        nested = (keys(v, f"{prefix}{k}.") for k, v in tree.items() if isinstance(v, dict))
        return {prefix + k for k in tree}.union(*nested)

    assert keys(dataclasses.asdict(Settings())) == keys(sections)
    built = Settings.from_config(validated)  # MEISettings fills the method's nulls
    assert built == Settings()
    # and every value of the same type (json tells 60 from 60.0)
    assert json.dumps(dataclasses.asdict(built)) == json.dumps(dataclasses.asdict(Settings()))


def test_the_settings_are_built_from_a_config():
    config = copy.deepcopy(DEFAULT)
    update_config(config, yaml.safe_load((REPO / "tests" / "tiny.yaml").read_text()))
    config = validate_config(config, SCHEMA)  # as snakemake --configfile tests/tiny.yaml
    settings = Settings.from_config(config)
    assert settings.models.architecture == ArchitectureSettings(
        channels=4, pyramid_levels=2, gauss_size=3
    )
    assert settings.models.training == TrainingSettings(max_epochs=6, patience=2)
    assert settings.meis.initializations == ("noise:0", "black")
    assert settings.gabors.window == (2, 2)
    assert settings.images == ImageSettings(30, 48)
    window = {**config, "counting_window": "auto"}
    assert Settings.from_config(window).counting_window == "auto"


def test_a_key_or_value_that_the_settings_refuse_is_named():
    named = "config key 'models.architecture': "
    with pytest.raises(ConfigError, match=rf"{named}unknown key\(s\) \['chanels'\]"):
        settings_from(ModelsSettings, {"architecture": {"chanels": 4}}, "models")
    with pytest.raises(ConfigError, match=f"{named}.*gauss_size must be odd"):
        settings_from(ModelsSettings, {"architecture": {"gauss_size": 4}}, "models")
    window = "config key 'counting_window': stop .*must be after start"
    with pytest.raises(ConfigError, match=window):
        Settings.from_config({"counting_window": {"start": 0.3, "stop": 0.1}})
    # two sections that must agree: MEIs through a model that is not fit
    unfit = "meis.model is 'shared_core', but models.kind \\['per_neuron'\\] does not fit it"
    with pytest.raises(ConfigError, match=unfit):
        Settings.from_config({"models": {"kind": ["per_neuron"]}, "meis": {"model": "shared_core"}})
    with pytest.raises(ConfigError, match="'meis'.*MEISettings.model must be one of"):
        Settings.from_config({"meis": {"model": "linear"}})
    assert Settings.from_config({"meis": {"model": "shared_core"}}).meis.model == "shared_core"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"models": {"chunk_size": 2.0}}, "'models.chunk_size': 2.0 is not of type int"),
        ({"models": {"split": {"seed": True}}}, "'models.split.seed': True is not of type int"),
        ({"ranking": {"include_blank": 1}}, "'ranking.include_blank': 1 is not of type bool"),
        ({"ranking": {"min_fev": "x"}}, "'ranking.min_fev': 'x' is not of type float | None"),
        ({"counting_window": "bogus"}, "'counting_window': 'bogus' is not of type CountingWindow"),
    ],
)
def test_settings_built_from_an_unvalidated_config_check_types(section, message):
    """The settings built from a config that skipped the schema (a notebook's dict) are as exact
    as the schema: a float is no integer, 1 no bool, a string no window."""
    with pytest.raises(ConfigError) as error:
        Settings.from_config(section)
    assert message in str(error.value)
    # and the values the schema normalizes to pass: an integer for a float key, None, "auto"
    settings = Settings.from_config(
        {"ranking": {"oracle_percentile": 60, "min_fev": None}, "counting_window": "auto"}
    )
    assert settings.ranking.oracle_percentile == 60 and settings.counting_window == "auto"


def test_snakemake_stops_before_any_job_on_a_value_a_stage_refuses(tmp_path):
    """The schema accepts an even pyramid kernel; the models' settings do not, and the workflow
    stops at once rather than after the jobs before training."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  architecture: {gauss_size: 4}\n")
    process = run_snakemake(tmp_path, "-n", configfile=bad, check=False)
    assert process.returncode != 0
    message = "config key 'models.architecture': ArchitectureSettings.gauss_size must be odd"
    assert message in process.stdout + process.stderr
    assert not (tmp_path / "results").exists()


def test_a_section_in_another_key_order_is_the_same_parameter():
    config = copy.deepcopy(DEFAULT)
    config["models"]["training"] = dict(reversed(list(config["models"]["training"].items())))
    config["simulation"]["cell_types"] = {
        area: dict(reversed(list(shares.items())))
        for area, shares in config["simulation"]["cell_types"].items()
    }
    normalized = validate_config(config, SCHEMA)
    assert json.dumps(normalized) == json.dumps(validate_config(DEFAULT, SCHEMA))  # order kept
    # free-form maps (area -> units) keep the order given
    config["simulation"]["units_per_area"] = {"CA1": 8, "VISp": 40}
    assert list(validate_config(config, SCHEMA)["simulation"]["units_per_area"]) == ["CA1", "VISp"]


def test_a_flat_cell_type_mix_in_an_override_file_replaces_the_per_area_mixes():
    flat = {"simple": 0.5, "complex": 0.3, "untuned": 0.2}
    config = copy.deepcopy(DEFAULT)
    update_config(config, {"simulation": {"cell_types": flat}})  # Snakemake's key-by-key merge
    assert set(config["simulation"]["cell_types"]) > {"VISp", "simple"}  # the forms mixed
    normalized = validate_config(config, SCHEMA)
    assert normalized["simulation"]["cell_types"] == flat
    assert Settings.from_config(normalized).simulation.cell_types_of("VISam") == flat
    # a per-area override merges into the default's mixes, type by type
    config = copy.deepcopy(DEFAULT)
    update_config(config, {"simulation": {"cell_types": {"VISam": {"conjunction": 0.0}}}})
    mixes = validate_config(config, SCHEMA)["simulation"]["cell_types"]
    assert (
        mixes["VISam"]["conjunction"] == 0.0
        and mixes["VISp"] == DEFAULT["simulation"]["cell_types"]["VISp"]
    )
