"""Configuration checks: the JSON schema plus the rules a schema cannot state.

Every error names the offending key as a dotted path (``sessions[1].id``, ``simulation.seed``),
so that a bad value stops the workflow before any job with a message that says where to look.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

_S = typing.TypeVar("_S")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def _key_path(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The error inside a ``oneOf``/``anyOf`` that says what is wrong.

    Prefers the branches whose own type fits the value (a list is judged by the array branch,
    not by ``null``), then the deepest error, so that ``gabors.window: [2, 0]`` is reported as
    ``gabors.window[1]: 0 is less than the minimum of 1`` rather than "not valid under any of
    the given schemas".
    """
    while error.context:
        fitting = [
            e
            for e in error.context
            if not (e.validator in ("type", "const", "enum") and not e.relative_path)
        ]
        if not fitting:  # no branch takes a value of this type: say what each expects
            return error
        error = max(fitting, key=lambda e: len(e.absolute_path))
    return error


def _describe(error: jsonschema.ValidationError) -> str:
    error = _specific(error)
    key = _key_path(error.absolute_path)
    message = error.message
    if error.context:
        message += ": " + ", or ".join(e.message for e in error.context)
    if isinstance(error.instance, bool):  # YAML's spelling, not Python's
        message = message.replace(repr(error.instance), str(error.instance).lower(), 1)
    if error.validator == "additionalProperties":
        return f"config key '{key}': {message} (unknown key: check its spelling)"
    return f"config key '{key}': {message}"


def _is_integer(checker, instance) -> bool:
    """JSON Schema's ``integer``, without the floats with a zero fraction (``2.0``).

    The standard admits such floats; here a count given as 2.0 is refused, never passed on as a
    float.
    """
    return isinstance(instance, int) and not isinstance(instance, bool)


#: Draft 2020-12 with exact integers.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


def validate_config(config: dict, schema_path: Path) -> dict:
    """Check ``config`` against the schema and the rules a schema cannot state.

    Integer keys must hold integers (``2.0`` is refused: the schema standard alone would accept
    it). A whole number given for a ``number`` key becomes a float in the returned copy
    (``counting_window: {start: 0}`` is ``0.0``), and the keys of every section come in the
    schema's order (that of ``config/config.yaml``), so that ``0`` and ``0.0``, or a section
    written in another key order, are one parameter to Snakemake and rerun nothing.
    ``config`` itself is not changed.

    Snakemake merges config files key by key, so a flat ``simulation.cell_types`` (type ->
    share) given in an override file lands among the default's per-area mixes: the flat
    mapping, the user's, is kept and the per-area mixes are dropped.

    Returns:
        ``config`` (a copy) with every ``number`` key as a float.

    Raises:
        ConfigError: listing every problem, each naming its key as a dotted path.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    config = _flat_cell_types_win(config, schema)
    validator = _Validator(schema)
    problems = [
        _describe(e) for e in sorted(validator.iter_errors(config), key=lambda e: list(e.path))
    ]
    if "modulation_scale" in (config.get("simulation") or {}):
        problems.append(
            "config key 'simulation.modulation_scale' was renamed: give "
            "'simulation.modulation_range', [low, high] per area (a factor f on the old "
            "[0.15, 1] range is [0.15 * f, f])"
        )
    if not problems:
        problems = _semantic_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return _normalized(config, schema, schema)


def _flat_cell_types_win(config: dict, schema: dict) -> dict:
    """``config``, or a copy whose ``simulation.cell_types`` keeps only its cell types.

    The copy where the shares hold both cell types and areas: a flat override merged into the
    default's per-area mixes.
    """
    shares = (config.get("simulation") or {}).get("cell_types")
    if not isinstance(shares, dict):
        return config
    types = set(schema["$defs"]["cell_type_shares"]["properties"])
    if not (set(shares) & types) or set(shares) <= types:
        return config
    flat = {k: v for k, v in shares.items() if k in types}
    return {**config, "simulation": {**config["simulation"], "cell_types": flat}}


def settings_from(cls: type[_S], section: Mapping, key: str) -> _S:
    """The settings object ``cls`` (a frozen dataclass) of one validated config section.

    Nested dataclass fields are built from their sub-sections, lists become tuples; a key the
    section leaves out takes the dataclass's default (which equals ``config/config.yaml``).

    Args:
        cls: the section's settings class, e.g. :class:`meiflow.ranking.RankingSettings`.
        section: the section as validated by :func:`validate_config` (a mapping).
        key: the section's dotted path in the config (``models``; empty for the whole config),
            named in errors.

    Returns:
        ``cls(**section)``.

    Raises:
        ConfigError: a key ``cls`` does not have, or a value it refuses; the message names the
            key's dotted path.
    """
    if not isinstance(section, Mapping):
        raise ConfigError(
            f"config key '{key or 'config'}': expected a mapping of settings, got {section!r}"
        )
    hints = typing.get_type_hints(cls)
    names = {field.name for field in dataclasses.fields(cls) if field.init}
    unknown = sorted(set(section) - names)
    if unknown:
        raise ConfigError(
            f"config key '{key or 'config'}': unknown key(s) {unknown}; known: {sorted(names)}"
        )
    values = {}
    for name, value in section.items():
        path = f"{key}.{name}" if key else name
        nested = _dataclass_of(hints[name])
        if nested is not None and isinstance(value, Mapping):
            value = settings_from(nested, value, path)
        elif isinstance(value, list):
            value = tuple(value)
        if not _has_type(value, hints[name]):
            raise ConfigError(
                f"config key '{path}': {value!r} is not of type {_type_name(hints[name])}"
            )
        values[name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"config key '{key or 'config'}': {error}") from error


def _has_type(value, hint) -> bool:
    """Whether ``value`` is of the type a settings field is annotated with.

    Exact, as the schema's integer check: a bool is no number, a float (``2.0``) no integer; an
    integer is a float (the schema's ``number``); ``X | None`` takes None; ``Literal["auto"]``
    takes that value only; ``tuple[...]`` and ``dict[...]`` check the container only.
    """
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is not None:
        return isinstance(value, origin)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _type_name(hint) -> str:
    """A settings field's type as written: ``int``, ``float | None``, ``X | 'auto'``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(option) for option in typing.get_args(hint))
    if origin is typing.Literal:
        return " | ".join(repr(value) for value in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _dataclass_of(hint) -> type | None:
    """The dataclass among a type hint's alternatives (``X``, ``X | str``), or None."""
    for option in (hint, *typing.get_args(hint)):
        if isinstance(option, type) and dataclasses.is_dataclass(option):
            return option
    return None


def _types(subschema: dict) -> set[str]:
    kind = subschema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _normalized(value, subschema: dict, root: dict):
    """A copy of the valid ``value``: ints as floats where asked, keys in the schema's order.

    Ints are turned into floats where ``subschema`` (a part of the schema ``root``) asks for a
    ``number`` and not an ``integer``, and the keys of every object with declared properties come
    in the schema's order.
    """
    while "$ref" in subschema:  # local references only ("#/$defs/name")
        node = root
        for part in subschema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        subschema = node
    for branch in subschema.get("oneOf", []) + subschema.get("anyOf", []):
        if _Validator({**branch, "$defs": root.get("$defs", {})}).is_valid(value):
            return _normalized(value, branch, root)
    if isinstance(value, dict):
        properties = subschema.get("properties", {})
        extra = subschema.get("additionalProperties", {})
        extra = extra if isinstance(extra, dict) else {}
        # declared keys in the schema's order (config.yaml's), so that a section written in
        # another order is the same parameter; free-form maps keep the order they were given
        keys = [k for k in properties if k in value] + [k for k in value if k not in properties]
        return {k: _normalized(value[k], properties.get(k, extra), root) for k in keys}
    if isinstance(value, list):
        return [_normalized(v, subschema.get("items", {}), root) for v in value]
    kinds = _types(subschema)
    if isinstance(value, int) and not isinstance(value, bool) and "number" in kinds:
        return float(value) if "integer" not in kinds else value
    return value


def _semantic_problems(config: dict) -> list[str]:
    problems = []
    seen: dict[int, int] = {}
    for index, session in enumerate(config["sessions"]):
        if session["id"] != "all" and "session_type" in session:
            problems.append(
                f"config key 'sessions[{index}].session_type': only for 'id: all' (every "
                f"session of that type), not for session {session['id']}"
            )
        if session["id"] == "all":
            continue
        if session["id"] in seen:
            problems.append(
                f"config key 'sessions[{index}].id': session {session['id']} is listed twice "
                f"(also sessions[{seen[session['id']]}])"
            )
        seen.setdefault(session["id"], index)
    window = config["counting_window"]
    if window != "auto" and window["stop"] <= window["start"]:
        problems.append(
            f"config key 'counting_window.stop': {window['stop']} must be greater than "
            f"counting_window.start ({window['start']})"
        )
    split = config["models"]["split"]
    if split["validation"] + split["test"] > 0.5:
        problems.append(
            f"config key 'models.split': validation {split['validation']} and test "
            f"{split['test']} leave {1 - split['validation'] - split['test']:.2g} of the scenes "
            "for training; keep validation + test at most 0.5"
        )
    return problems


def expand_sessions(config: dict, table: pd.DataFrame) -> list[dict]:
    """``config["sessions"]`` with each ``id: all`` entry replaced by sessions of its type.

    Each ``id: all`` entry is replaced by the sessions of its ``session_type`` in AllenSDK's
    session ``table`` (index: session id; columns ``session_type`` and
    ``ecephys_structure_acronyms``, lists of areas).

    Each such session gets, as its ``areas``, those of the entry's areas (or the top-level
    ``areas``) that it recorded; a session that recorded none of them is left out, and so is one
    listed explicitly elsewhere (the explicit entry wins).

    Raises:
        ConfigError: naming the key when a session type has no session with the areas.
    """
    explicit = {s["id"] for s in config["sessions"] if s["id"] != "all"}
    sessions = []
    for index, entry in enumerate(config["sessions"]):
        if entry["id"] != "all":
            sessions.append(entry)
            continue
        wanted = list(entry.get("areas", config["areas"]))
        of_type = table[table["session_type"] == entry["session_type"]]
        if of_type.empty:
            known = sorted(table["session_type"].unique())
            raise ConfigError(
                f"config key 'sessions[{index}].session_type': no session of type "
                f"{entry['session_type']!r} in AllenSDK's session table (types: {known})"
            )
        found = []
        for session_id, recorded in of_type["ecephys_structure_acronyms"].items():
            areas = [a for a in wanted if a in set(recorded)]
            if areas and int(session_id) not in explicit:
                found.append({"id": int(session_id), "source": entry["source"], "areas": areas})
        if not found:
            raise ConfigError(
                f"config key 'sessions[{index}]': no {entry['session_type']} session recorded "
                f"any of the areas {wanted}"
            )
        sessions.extend(found)
    return sessions


def session_areas(config: dict, session_id: int) -> list[str]:
    """Areas analysed in a session: its own ``areas`` if given, else the top-level list."""
    for session in config["sessions"]:
        if session["id"] == session_id:
            return list(session.get("areas", config["areas"]))
    raise ConfigError(f"session {session_id} is not in config key 'sessions'")
