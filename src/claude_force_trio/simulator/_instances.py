"""JSON values that satisfy a JSON Schema: tool inputs and structured outputs.

Why a generator and not canned answers: whatever schema a tool or an
``output_schema`` declares, the simulated model must answer with an instance
that validates, so the engine's input validation and its structured-output
parsing are exercised for real. The value is a pure function of the schema and
the task text: required properties, types, ``enum``/``const``, numeric and
length bounds, arrays and nested objects, ``$ref`` into ``$defs``, the first
branch of ``anyOf``/``oneOf``, merged ``allOf``. A string property named like
a path, a file, a query or a URL takes a value found in the task (a file name,
a quoted phrase, a URL), so a tool loop reads plausibly. ``pattern`` is not
solved: such a string gets its ``default`` or first ``examples`` entry when
the schema gives one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["instance_for"]

_FILE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z0-9]{1,8})(?![\w/-])")
_URL = re.compile(r"https?://[^\s'\"`<>)]+")
_QUOTED = re.compile(r"[\"'`“]([^\"'`”\n]{1,80})[\"'`”]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}")
_STOP = frozenset({"with", "that", "this", "from", "into", "then", "file", "files", "please"})
_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "sim@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "example.com",
}
_MAX_DEPTH = 8


def _name_kind(name: str) -> str:
    lowered = name.lower()
    if "url" in lowered or "uri" in lowered or "link" in lowered:
        return "url"
    if lowered in ("dir", "directory", "folder", "root", "cwd") or lowered.endswith("_dir"):
        return "dir"
    if "path" in lowered or "file" in lowered:
        return "file"
    if lowered in ("query", "pattern", "q", "search", "term", "keyword", "regex", "text"):
        return "query"
    return ""


def _hint(name: str, task: str) -> str | None:
    """A value for a string property, taken from the task when its name says what it holds."""
    kind = _name_kind(name)
    if kind == "url":
        match = _URL.search(task)
        return match.group(0) if match else "https://example.com/"
    if kind == "dir":
        match = _FILE.search(task)
        return match.group(1).rpartition("/")[0] or "." if match else "."
    if kind == "file":
        found = [m for m in _FILE.findall(task) if not m.startswith("http")]
        return found[0] if found else "README.md"
    if kind == "query":
        if quoted := _QUOTED.search(task):
            return quoted.group(1)
        words = [w for w in _WORD.findall(task) if w.lower() not in _STOP]
        return max(words, key=len) if words else "TODO"
    return None


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    """Follow a local ``$ref`` (``#/$defs/X``, ``#/definitions/X``, ``#``)."""
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 20:
        node: Any = root
        for part in schema["$ref"].removeprefix("#").strip("/").split("/"):
            if part:
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
        schema, seen = node, seen + 1
    return schema


def _merge_all_of(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf") or ():
        part = _resolve(part, root)
        if not isinstance(part, Mapping):
            continue
        part = _merge_all_of(part, root)
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum", -math.inf)
    high = schema.get("maximum", math.inf)
    if "exclusiveMinimum" in schema and isinstance(schema["exclusiveMinimum"], int | float):
        low = max(low, schema["exclusiveMinimum"] + (1 if integer else 1e-6))
    if "exclusiveMaximum" in schema and isinstance(schema["exclusiveMaximum"], int | float):
        high = min(high, schema["exclusiveMaximum"] - (1 if integer else 1e-6))
    value: float = 1 if low <= 1 <= high else (low if low > -math.inf else high)
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        value = math.ceil(value / step) * step
    if integer:
        return math.ceil(value) if low > -math.inf and math.ceil(value) <= high else int(value)
    return value


def _string(schema: Mapping[str, Any], name: str, task: str) -> str:
    if "pattern" in schema:
        examples = schema.get("examples")
        if isinstance(schema.get("default"), str):
            return str(schema["default"])
        if isinstance(examples, list) and examples and isinstance(examples[0], str):
            return examples[0]
    value = _FORMATS.get(str(schema.get("format", ""))) or _hint(name, task) or name or "value"
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(value) < low:
        value += "x" * (low - len(value))
    if isinstance(high, int) and len(value) > high:
        value = value[:high]
    return value


def _array(
    schema: Mapping[str, Any], name: str, ctx: tuple[Mapping[str, Any], str, int]
) -> list[Any]:
    root, task, depth = ctx
    prefix = schema.get("prefixItems") or []
    items = schema.get("items", {})
    low = int(schema.get("minItems", 1 if not prefix else len(prefix)))
    high = schema.get("maxItems")
    count = max(low, len(prefix))
    if isinstance(high, int):
        count = min(count, high)
    out = [_value(prefix[i] if i < len(prefix) else items, name, root, task, depth + 1)
           for i in range(count)]  # fmt: skip
    if schema.get("uniqueItems") and len(out) > 1 and all(isinstance(v, str) for v in out):
        out = [f"{v}{i}" if i else v for i, v in enumerate(out)]
    return out


def _object(schema: Mapping[str, Any], ctx: tuple[Mapping[str, Any], str, int]) -> dict[str, Any]:
    root, task, depth = ctx
    props = schema.get("properties") or {}
    required = list(dict.fromkeys(schema.get("required") or ()))
    # Optional properties are filled in too (one level of readability), but never past the depth.
    wanted = required + ([k for k in props if k not in required] if depth < 2 else [])
    out = {key: _value(props.get(key, {}), key, root, task, depth + 1) for key in wanted}
    low = schema.get("minProperties")
    extra = schema.get("additionalProperties", True)
    while isinstance(low, int) and len(out) < low and extra is not False:
        out[f"key{len(out)}"] = _value(extra if isinstance(extra, Mapping) else {}, "", root, task,
                                       depth + 1)  # fmt: skip
    return out


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or ["null"]
        kind = kinds[0]
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string" if {"minLength", "maxLength", "format"} & set(schema) else "object"


def _value(schema: Any, name: str, root: Mapping[str, Any], task: str, depth: int) -> Any:
    schema = _resolve(schema, root)
    if schema is True or not isinstance(schema, Mapping):
        return _hint(name, task) or name or "value"
    if "allOf" in schema:
        schema = _merge_all_of(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        branches = [b for b in schema.get(key) or () if _resolve(b, root) is not False]
        if branches:
            return _value(branches[0], name, root, task, depth)
    if depth > _MAX_DEPTH:
        return None
    kind = _type_of(schema)
    ctx = (root, task, depth)
    if kind == "object":
        return _object(schema, ctx)
    if kind == "array":
        return _array(schema, name, ctx)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, name, task)


def instance_for(schema: Mapping[str, Any], task: str = "") -> Any:
    """A JSON value valid for ``schema``, shaped by ``task`` where property names invite it.

    Args:
        schema: a JSON Schema (a tool's ``input_schema``, an output format's ``schema``).
        task: the latest user text, where file names, quoted phrases and URLs are found.
    """
    return _value(schema, "", schema, task, 0)
