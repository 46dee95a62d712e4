"""Checking a value against a JSON Schema at run time: a tool's input, a step's typed answer.

Why one helper: a step's loop checks the model's ``tool_use`` input against
the tool's ``input_schema`` before the tool runs, and a structured answer
against the step's ``output_schema`` before it becomes ``StepResult.data``;
both need the same thing — the *first* problem, as a JSON path and a short
message the model (or a person) can act on.

``jsonschema`` is imported on the first check, so a run without tools or
schemas never loads it. The validator of a schema is built once and kept
(a step checks the same schemas every turn).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["first_error"]

#: Longest message kept: the validator's messages quote the offending value.
_MAX_MESSAGE = 200
#: The dialect of a schema that names none, as the API's structured outputs.
_LATEST = "https://json-schema.org/draft/2020-12/schema"

#: How many validators are kept; past it the table starts again (schemas are few).
_KEPT = 256
#: id(schema) → (the schema, kept alive so its id stays its own; its validator).
_validators: dict[int, tuple[Mapping[str, Any], Any]] = {}


def first_error(schema: Mapping[str, Any], value: object) -> str | None:
    """The first way ``value`` breaks ``schema`` (``$.findings[0].line: 'x' is not of type
    'integer'``), or ``None`` when it is valid.

    "First" is jsonschema's ``best_match``: the most relevant error, and the
    same one for the same value every time.

    Args:
        schema: a JSON Schema already checked (config load, or the tool's author).
        value: the decoded JSON to check.
    """
    from jsonschema import exceptions

    try:
        validator = _validator(schema)
        # is_valid stops at the first problem; best_match gathers them all, so
        # it is paid only when there is something to report.
        if validator.is_valid(value):
            return None
        error = exceptions.best_match(validator.iter_errors(value))
    except RecursionError:
        return "$: nested too deeply to check"
    if error is None:
        return None
    message = " ".join(error.message.split())
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return f"{error.json_path}: {message}"


def _validator(schema: Mapping[str, Any]) -> Any:
    """The validator for ``schema``, built on first use and kept for the next checks."""
    kept = _validators.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    from jsonschema import validators

    document = dict(schema)
    document.setdefault("$schema", _LATEST)
    validator = validators.validator_for(document)(document)
    if len(_validators) >= _KEPT:
        _validators.clear()
    _validators[id(schema)] = (schema, validator)
    return validator
