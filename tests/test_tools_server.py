"""Server tool definitions: the table against the API's OpenAPI description, and the checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from claude_force_trio._tools import check_server_tool, server_tool_definition
from claude_force_trio._tools._server import CLIENT_RUN_TYPES, SERVER_TOOLS

from .openapi_schema import SPEC_PATH, require_spec, validate


def union() -> dict[str, dict[str, Any]]:
    """Each non-custom tool ``type`` of CreateMessageParams.tools → its schema in the spec."""
    require_spec()
    schemas = json.loads(SPEC_PATH.read_text(encoding="utf-8"))["components"]["schemas"]
    found: dict[str, dict[str, Any]] = {}
    for ref in schemas["CreateMessageParams"]["properties"]["tools"]["items"]["oneOf"]:
        schema = schemas[ref["$ref"].rsplit("/", 1)[1]]
        kinds = schema["properties"]["type"].get("enum", [])
        if kinds == ["custom"] or "input_schema" in schema["properties"]:
            continue
        for kind in kinds:
            found[kind] = schema
    return found


def test_table_holds_every_tool_type_of_the_api_union() -> None:
    """Every type of the union is either a server tool here or a refused client-run tool."""
    assert set(union()) == set(SERVER_TOOLS) | set(CLIENT_RUN_TYPES)
    assert not set(SERVER_TOOLS) & set(CLIENT_RUN_TYPES)


def test_names_and_keys_match_the_api_schemas() -> None:
    """Each type's required name and its allowed keys are exactly the spec's."""
    for kind, schema in union().items():
        assert schema["additionalProperties"] is False
        names = schema["properties"]["name"]["enum"]
        if kind in CLIENT_RUN_TYPES:
            assert names == [CLIENT_RUN_TYPES[kind]], kind
            continue
        name, keys = SERVER_TOOLS[kind]
        assert names == [name], kind
        assert keys == set(schema["properties"]), kind


def test_short_names_give_the_newest_dated_type() -> None:
    """web_search, web_fetch, code_execution… resolve to their newest version in the spec."""
    newest: dict[str, str] = {}
    for kind, (name, _keys) in SERVER_TOOLS.items():
        if kind[-8:].isdigit() and kind > newest.get(name, ""):
            newest[name] = kind
    assert newest == {
        "code_execution": "code_execution_20260521",
        "web_search": "web_search_20260318",
        "web_fetch": "web_fetch_20260318",
        "tool_search_tool_bm25": "tool_search_tool_bm25_20251119",
        "tool_search_tool_regex": "tool_search_tool_regex_20251119",
    }
    for name, kind in newest.items():
        definition = server_tool_definition(name)
        assert definition == {"type": kind, "name": name}
        validate({"model": "m", "max_tokens": 1, "messages": [], "tools": [definition]},
                 "CreateMessageParams")  # fmt: skip


def test_a_dated_type_pins_that_version_and_other_names_are_not_server_tools() -> None:
    """A dated type gives exactly that version; client tools and unknown names give None."""
    assert server_tool_definition("web_search_20250305") == {
        "type": "web_search_20250305",
        "name": "web_search",
    }
    assert server_tool_definition("read_file") is None
    assert server_tool_definition("bash") is None
    assert server_tool_definition("bash_20250124") is None


def test_every_table_entry_passes_its_own_check() -> None:
    """A minimal definition of each server tool type is accepted, by us and by the spec."""
    for kind, (name, _keys) in SERVER_TOOLS.items():
        assert check_server_tool({"type": kind, "name": name}) is None, kind


@pytest.mark.parametrize(
    ("definition", "reason"),
    [
        ({"type": "web_search_20250305", "name": "web_search", "max_uses": 3}, None),
        (
            {"type": "web_search_20250305", "name": "web_search", "max_use": 3},
            "'web_search_20250305' takes no key 'max_use' (did you mean 'max_uses'?)",
        ),
        (
            {"type": "web_search_20250305", "name": "search"},
            "'web_search_20250305' is named 'search'; the API requires the name 'web_search'",
        ),
        (
            {"type": "web_fetch_20250910"},
            "'web_fetch_20250910' has no 'name'; the API requires the name 'web_fetch'",
        ),
        (
            {"type": "web_serch_20250305", "name": "web_search"},
            "unknown server tool type 'web_serch_20250305' (did you mean 'web_search_20250305'?)",
        ),
        (
            {"type": "bash_20250124", "name": "bash"},
            "'bash_20250124' is a tool the caller must run, and the engine has no implementation"
            " of it",
        ),
        (
            {"name": "lookup", "input_schema": {"type": "object"}},
            "a server tool definition needs a 'type' (e.g. 'web_search_20250305')",
        ),
        (
            {"type": "custom", "name": "lookup", "input_schema": {"type": "object"}},
            "a client tool is a Python function or an MCP tool, not a definition in the config",
        ),
        ("web_search", "a server tool definition is an object, not str"),
    ],
)
def test_check_server_tool_gives_one_line_reasons(definition: object, reason: str | None) -> None:
    """Each problem a definition can have is named in one line."""
    assert check_server_tool(definition) == reason
