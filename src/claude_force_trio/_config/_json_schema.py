"""``output_schema`` values: a JSON Schema inline, or a JSON file next to the config.

Why checked at load time with ``jsonschema``'s own ``check_schema``: a schema
the validator cannot use would otherwise fail every step that uses it, after
tokens are spent, and each hand-written rule would be a guess at what the
metaschema says. The error names the place inside the schema
(``agents.scanner.output_schema.properties.line.type``), so it can be found.

``jsonschema`` is imported only here and only when a config has a schema, so
``cft --help`` and configs without schemas never load it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

from .._errors import ConfigError, did_you_mean
from ._checks import _check_text, _expected, _key_path, _shown, _string

__all__ = ["check_schema", "schema_from_text", "schema_value"]

#: Longest schema error shown: the metaschema's messages quote the offending value.
_MAX_MESSAGE = 200
#: The dialect of a schema that names none: JSON Schema 2020-12, as the API's structured outputs.
_LATEST = "https://json-schema.org/draft/2020-12/schema"
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


def schema_value(value: Any, path: str) -> Mapping[str, Any] | str:
    """The config check of ``output_schema``: a valid inline schema, or a file's path (read later).

    Raises:
        ConfigError: neither an object nor a non-empty string, or an invalid schema.
    """
    if isinstance(value, dict):
        check_schema(value, path)
        return value
    if isinstance(value, str):
        return _string(value, path)
    raise _expected(path, "a JSON Schema object or the path of a JSON file", value)


def schema_from_text(text: str, path: str, shown: str) -> Mapping[str, Any]:
    """The schema in a file's ``text``, checked; errors name ``path`` and the file (``shown``).

    Raises:
        ConfigError: not JSON, not an object, text that cannot be sent, or an invalid schema.
    """
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            path, f"{shown}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (RecursionError, ValueError) as exc:  # nested too deeply; a number too long
        raise ConfigError(path, f"{shown}: invalid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise ConfigError(path, f"{shown}: expected a JSON Schema object, got {_shown(schema)}")
    try:
        _check_text(schema, path)
        check_schema(schema, path)
    except ConfigError as exc:
        inner = exc.path[len(path) :].lstrip(".")
        where = f"{shown}: {inner}: " if inner else f"{shown}: "
        raise ConfigError(path, where + exc.message) from None
    return schema


def check_schema(schema: Mapping[str, Any], path: str) -> None:
    """Check ``schema`` against its metaschema (its ``$schema``, else the latest draft).

    Raises:
        ConfigError: at the place inside the schema that is wrong, naming the rule.
    """
    try:
        from jsonschema import exceptions, validators
    except ImportError:  # pragma: no cover - jsonschema is a dependency
        raise ConfigError(path, "checking a JSON Schema needs the jsonschema package") from None
    if "$schema" not in schema:
        schema = {**schema, "$schema": _LATEST}
    dialect = schema["$schema"]
    if not isinstance(dialect, str):
        raise _expected(_key_path(path, "$schema"), "a metaschema URI", dialect)
    # No default for a ``$schema`` it does not know (``None``, not the latest draft
    # and a warning): an unknown metaschema is the user's typo, said once here.
    validator: Any = validators.validator_for(schema, default=cast(Any, None))
    if validator is None:
        raise ConfigError(_key_path(path, "$schema"), f"unknown metaschema {dialect!r}")
    try:
        validator.check_schema(dict(schema))
    except exceptions.SchemaError as exc:
        message = " ".join(exc.message.split())
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        where = _schema_path(path, exc.absolute_path)
        if exc.absolute_path and exc.absolute_path[-1] == "type" and isinstance(exc.instance, str):
            message += did_you_mean(exc.instance, _TYPES)
        raise ConfigError(where, f"invalid JSON Schema: {message}") from None
    except RecursionError:
        raise ConfigError(path, "invalid JSON Schema: nested too deeply") from None


def _schema_path(path: str, parts: Iterable[str | int]) -> str:
    """``path`` followed by the keys and indexes of a place inside the schema."""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else _key_path(path, part)
    return path
