"""The simulator's schema-instance generator: every value it makes validates (hypothesis too)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from claude_force_trio.simulator._instances import instance_for

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    {"type": "string", "minLength": 12, "maxLength": 14},
    {"type": "integer", "minimum": 7, "maximum": 9},
    {"type": "integer", "exclusiveMinimum": 3, "multipleOf": 5},
    {"type": "number", "exclusiveMaximum": 0},
    {"type": "number", "minimum": 2.5, "maximum": 2.5},
    {"type": ["null", "boolean"]},
    {"const": {"a": [1, 2]}},
    {"enum": ["x", "y"]},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
    {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True},
    {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]},
    {"oneOf": [{"type": "boolean"}, {"type": "string"}]},
    {"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
               {"properties": {"b": {"type": "string"}}, "required": ["b"]}]},
    {"$defs": {"node": {"type": "object", "required": ["name"], "additionalProperties": False,
                        "properties": {"name": {"type": "string"}, "children": {
                            "type": "array", "items": {"$ref": "#/$defs/node"}}}}},
     "$ref": "#/$defs/node"},
    {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
    {"type": "string", "format": "email"},
    {"type": "string", "pattern": "^v[0-9]+$", "default": "v1"},
    {"type": "object", "properties": {"url": {"type": "string", "format": "uri"}},
     "required": ["url"]},
    {"type": "object", "properties": {"deep": {"type": "object", "properties": {
        "deeper": {"type": "object", "properties": {"x": {"type": "integer"}},
                   "required": ["x"]}}, "required": ["deeper"]}}, "required": ["deep"]},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS)
def test_instance_is_valid(schema: dict[str, Any]) -> None:
    """A hand-written schema of each feature gets a valid instance."""
    Draft202012Validator(schema).validate(instance_for(schema, "look at docs/guide.md"))


def test_hints_come_from_the_task() -> None:
    """Properties named like paths, queries and URLs take values found in the task."""
    schema = {
        "type": "object",
        "properties": {n: {"type": "string"} for n in ("file_path", "query", "url", "directory")},
        "required": ["file_path", "query", "url", "directory"],
    }
    task = 'Find "token refresh" in src/auth/session.py, see https://example.org/x for context'
    assert instance_for(schema, task) == {
        "file_path": "src/auth/session.py",
        "query": "token refresh",
        "url": "https://example.org/x",
        "directory": "src/auth",
    }


_NAMES = st.sampled_from(["path", "query", "count", "items", "note", "url", "flag"])


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    bounds = st.integers(-50, 50)
    return st.one_of(
        st.builds(
            lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
            bounds,
            st.integers(0, 20),
        ),
        st.builds(lambda lo: {"type": "number", "exclusiveMinimum": lo}, bounds),
        st.builds(
            lambda lo, span: {"type": "string", "minLength": lo, "maxLength": lo + span},
            st.integers(0, 30),
            st.integers(0, 10),
        ),
        st.just({"type": "boolean"}),
        st.just({"type": "null"}),
        st.lists(st.text(max_size=5), min_size=1, max_size=4).map(lambda e: {"enum": e}),
        st.integers().map(lambda v: {"const": v}),
    )


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    objects = st.dictionaries(_NAMES, children, max_size=4).flatmap(
        lambda props: st.sets(st.sampled_from(sorted(props) or ["x"])).map(
            lambda req: {
                "type": "object",
                "properties": props,
                "required": sorted(r for r in req if r in props),
                "additionalProperties": False,
            }
        )
    )
    arrays = st.builds(
        lambda items, lo: {"type": "array", "items": items, "minItems": lo, "maxItems": lo + 2},
        children, st.integers(0, 3),
    )  # fmt: skip
    unions = st.lists(children, min_size=1, max_size=3).map(lambda b: {"anyOf": b})
    return st.one_of(objects, arrays, unions)


SCHEMA = st.recursive(_leaf(), _extend, max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(SCHEMA, st.text(max_size=60))
def test_generated_schemas(schema: dict[str, Any], task: str) -> None:
    """Any schema built from the supported keywords gets a valid instance, whatever the task."""
    Draft202012Validator(schema).validate(instance_for(schema, task))
