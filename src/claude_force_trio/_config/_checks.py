"""Value checks for the config loader: each returns the value or raises a ConfigError.

Why hand-written: every error must be one line naming the JSON path and what
was expected (``performance.max_concurrent_agents: expected an integer from 1 to
10000, got "ten"``), with a did-you-mean hint for unknown keys. Every number
has a range bounded on both sides, so no finite but absurd value (``1e308``)
passes to overflow later.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from .._errors import ConfigError, did_you_mean
from .._text import check_text, text_problem

Check = Callable[[Any, str], Any]
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key_path(parent: str, key: str) -> str:
    """Join a JSON path; keys with dots or spaces are quoted so the path stays unambiguous."""
    part = f".{key}" if _PLAIN_KEY.match(key) else f"[{json.dumps(key)}]"
    return f"{parent}{part}" if parent else part.lstrip(".")


def _shown(value: Any) -> str:
    """A short rendering of a JSON value for "got …" in messages."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _expected(path: str, what: str, value: Any) -> ConfigError:
    return ConfigError(path, f"expected {what}, got {_shown(value)}")


def _is_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)  # rejects NaN and Infinity, which json accepts
    except OverflowError:  # an int too big for a float
        return False


def _bound(value: float) -> str:
    """A range bound as people write it: ``31536000``, not ``3.1536e+07``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _integer(*, high: int, low: int = 1) -> Check:
    """An integer from ``low`` to ``high``: a bound on both sides, so no value is absurd."""
    what = f"an integer from {low} to {high}"

    def check(value: Any, path: str) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or not low <= value <= high:
            raise _expected(path, what, value)
        return int(value)

    return check


def _number(*, high: float, low: float = 0.0, strict: bool = True) -> Check:
    """A finite number up to ``high``, above ``low`` (``strict``) or from it.

    The upper bound is required: a value such as ``1e308`` is finite, passes a
    sign check, and then overflows where it is turned into bytes or seconds.
    """
    if strict:
        what = f"a number above {_bound(low)} and at most {_bound(high)}"
    else:
        what = f"a number from {_bound(low)} to {_bound(high)}"

    def check(value: Any, path: str) -> float:
        if not _is_number(value):
            raise _expected(path, what, value)
        bad = value <= low if strict else value < low
        if bad or value > high:
            raise _expected(path, what, value)
        return float(value)

    return check


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _expected(path, "true or false", value)
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _expected(path, "a non-empty string", value)
    return value


def _choice(*options: str) -> Check:
    what = "one of " + ", ".join(json.dumps(o) for o in options)

    def check(value: Any, path: str) -> str:
        if value not in options or not isinstance(value, str):
            raise _expected(path, what, value)
        return value

    return check


def _strings(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _expected(path, "a list of strings", value)
    return tuple(_string(item, f"{path}[{i}]") for i, item in enumerate(value))


def _any_strings(value: Any, path: str) -> tuple[str, ...]:
    """A list of strings, empty ones allowed (a command's arguments)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _expected(path, "a list of strings", value)
    return tuple(value)


def _string_map(value: Any, path: str) -> dict[str, str]:
    """An object of string values under non-empty keys (an environment).

    The values are never shown in a message: an environment holds tokens.
    """
    obj = _object(value, path)
    for key, item in obj.items():
        if not key or not isinstance(item, str):
            raise ConfigError(_key_path(path, key), "expected a string under a non-empty name")
    return dict(obj)


def _number_map(check: Check) -> Check:
    """An object of values ``check`` accepts under non-empty keys (``budget.per_workflow_usd``)."""

    def read(value: Any, path: str) -> dict[str, Any]:
        obj = _object(value, path)
        for key in obj:
            if not key:
                raise ConfigError(_key_path(path, key), "expected a non-empty name")
        return {key: check(item, _key_path(path, key)) for key, item in obj.items()}

    return read


def _http_url(value: Any, path: str) -> str:
    """An ``http://`` or ``https://`` URL with a host."""
    url = _string(value, path)
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[" and such
        ok = False
    if not ok:
        raise ConfigError(path, "expected an http:// or https:// URL with a host")
    return url


def _tool_refs(value: Any, path: str) -> tuple[str | dict[str, Any], ...]:
    """An agent's ``tools``: names, or server tool definitions (objects with a ``type``).

    What each name stands for is known only when the engine opens (library tools
    are given to it); here the shape is checked, and a name listed twice.
    """
    if not isinstance(value, list):
        raise _expected(path, "a list of tool names or server tool definitions", value)
    refs: list[str | dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if isinstance(item, dict):
            _string(_require(item, where, "type"), f"{where}.type")
        elif not isinstance(item, str) or not item.strip():
            raise _expected(where, "a tool name or a server tool definition", item)
        elif item in refs:
            raise ConfigError(where, f"{item!r} is listed twice")
        refs.append(item)
    return tuple(refs)


def _nullable(check: Check) -> Check:
    """Allow JSON ``null`` for a field whose default is "not set"."""
    return lambda value, path: None if value is None else check(value, path)


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _expected(path, "an object", value)
    return value


def _check_keys(
    obj: Mapping[str, Any], path: str, known: Collection[str], tolerated: Collection[str] = ()
) -> None:
    for key in obj:
        if key in known or key in tolerated:
            continue
        raise ConfigError(_key_path(path, key), f"unknown key{did_you_mean(key, known)}")


def _require(obj: Mapping[str, Any], path: str, key: str) -> Any:
    if key not in obj:
        raise ConfigError(path, f"missing required key {key!r}")
    return obj[key]


def _read(obj: Mapping[str, Any], path: str, checks: Mapping[str, Check]) -> dict[str, Any]:
    """Apply ``checks`` to the keys present in ``obj``; return them as dataclass kwargs."""
    return {k: check(obj[k], _key_path(path, k)) for k, check in checks.items() if k in obj}


def _check_text(doc: Any, path: str = "") -> None:
    """Refuse a string, or a key, anywhere in ``doc`` that cannot be sent as UTF-8.

    The whole document is walked, ignored sections too (``cft config migrate``
    writes them back), so no lone surrogate (a JSON ``"\\ud800"``) reaches a
    prompt, a cache key or a message. Iterative: JSON nests deeper than Python recurses.
    """
    stack: list[tuple[Any, str, str | None]] = [(doc, path, None)]  # (value, where, its key)
    while stack:
        value, where, key = stack.pop()
        if key is not None and (problem := text_problem(key)) is not None:
            raise ConfigError(where, f"the key is {problem}")
        if isinstance(value, str):
            check_text(value, where)
        elif isinstance(value, dict):  # pushed in reverse, so reported in file order
            stack.extend((v, _key_path(where, k), k) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]", None) for i, v in reversed(list(enumerate(value))))
