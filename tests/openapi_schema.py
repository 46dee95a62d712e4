"""Validate JSON against the API's own OpenAPI description (``tests/data``), for tests.

The description is OpenAPI 3.0: ``nullable: true`` becomes a JSON-Schema ``null``
alternative and boolean ``exclusiveMinimum``/``exclusiveMaximum`` become numbers,
so a Draft 2020-12 validator can check it. ``$ref``s into ``components`` resolve
against the converted document itself. Tests skip cleanly when the file is absent.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

__all__ = ["SPEC_PATH", "require_spec", "spec_available", "validate", "validator"]

SPEC_PATH = Path(__file__).parent / "data" / "anthropic-openapi.json"


def spec_available() -> bool:
    """Whether the OpenAPI description is where the tests expect it."""
    return SPEC_PATH.is_file()


def require_spec() -> None:
    """Skip the calling test when the OpenAPI description is absent."""
    if not spec_available():
        pytest.skip(f"OpenAPI description not found at {SPEC_PATH}")


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema 2020-12, recursively."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _convert(value) for key, value in node.items() if key != "nullable"}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
            out[bound] = out.pop(limit)
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _components() -> dict[str, Any]:
    require_spec()
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    converted: dict[str, Any] = _convert(spec["components"])
    return converted


@functools.cache
def validator(schema_name: str) -> Draft202012Validator:
    """A validator for ``components.schemas[schema_name]`` (skips if the spec is absent)."""
    components = _components()
    if schema_name not in components["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {SPEC_PATH.name}")
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": components}
    return Draft202012Validator(root)


def validate(instance: object, schema_name: str) -> None:
    """Assert ``instance`` matches the named schema, listing every violation if not."""
    errors = sorted(validator(schema_name).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        details = "\n".join(f"  at {list(e.path)}: {e.message[:300]}" for e in errors[:10])
        raise AssertionError(f"{schema_name} validation failed:\n{details}")
