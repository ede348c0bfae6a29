"""Configuration checks: the JSON schema plus the rules a schema cannot state.

Every error names the offending key as a dotted path (``sessions[1].id``, ``simulation.seed``),
so that a bad value stops the workflow before any job with a message that says where to look.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pandas as pd
import yaml


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def _key_path(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        return f"config key '{key}': {error.message} (unknown key: check its spelling)"
    return f"config key '{key}': {error.message}"


def validate_config(config: dict, schema_path: Path) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``, each naming its key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problems = [
        _describe(e) for e in sorted(validator.iter_errors(config), key=lambda e: list(e.path))
    ]
    if not problems:
        problems = _semantic_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


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
    if sum(config["simulation"]["cell_types"].values()) <= 0:
        problems.append("config key 'simulation.cell_types': the shares must not all be zero")
    return problems


def expand_sessions(config: dict, table: pd.DataFrame) -> list[dict]:
    """``config["sessions"]`` with each ``id: all`` entry replaced by the sessions of its
    ``session_type`` in AllenSDK's session ``table`` (index: session id; columns
    ``session_type`` and ``ecephys_structure_acronyms``, lists of areas).

    Each such session gets, as its ``areas``, those of the entry's areas (or the top-level
    ``areas``) that it recorded; a session that recorded none of them is left out, and so is one
    listed explicitly elsewhere (the explicit entry wins). Raises :class:`ConfigError` naming
    the key when a session type has no session with the areas.
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
