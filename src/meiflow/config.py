"""Configuration checks: the JSON schema plus the rules a schema cannot state.

Every error names the offending key as a dotted path (``sessions[1].id``, ``simulation.seed``),
so that a bad value stops the workflow before any job with a message that says where to look.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
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


def session_areas(config: dict, session_id: int) -> list[str]:
    """Areas analysed in a session: its own ``areas`` if given, else the top-level list."""
    for session in config["sessions"]:
        if session["id"] == session_id:
            return list(session.get("areas", config["areas"]))
    raise ConfigError(f"session {session_id} is not in config key 'sessions'")
