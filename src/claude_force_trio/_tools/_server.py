"""Server tools: the tools the API runs itself (web search, web fetch, code execution…).

The engine never runs these; it only passes their definitions through in the
request's ``tools``, in the API's own shape (``{"type": "web_search_20250305",
"name": "web_search", "max_uses": 3}``). An agent names one by its short name
(``"web_search"``: the newest dated version) or by a dated type to pin one, or
gives the whole definition. The table below is the tools union of the API's
``CreateMessageParams`` (a test holds it to the API's OpenAPI description):
each type, the one name the API accepts for it, and the keys it takes
(the API refuses any other key).

Anthropic-defined *client* tools (``bash``, the text editor, ``memory``) share
that union, but the caller must run them; the engine has no implementation,
so offering one would leave every call unanswered. They are refused, by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import did_you_mean
from .._public import publish

__all__ = ["CLIENT_RUN_TYPES", "SERVER_TOOLS", "check_server_tool", "server_tool_definition"]

#: Keys every tool of the union takes.
_COMMON = frozenset({"type", "name", "allowed_callers", "cache_control", "defer_loading", "strict"})
_SEARCH = _COMMON | {"allowed_domains", "blocked_domains", "max_uses", "user_location"}
_FETCH = _COMMON | {
    "allowed_domains", "blocked_domains", "citations", "max_content_tokens", "max_uses"
}  # fmt: skip

#: Server tool ``type`` → (the name the API requires, the keys it takes). Newest last per name.
SERVER_TOOLS: dict[str, tuple[str, frozenset[str]]] = {
    "code_execution_20250522": ("code_execution", _COMMON),
    "code_execution_20250825": ("code_execution", _COMMON),
    "code_execution_20260120": ("code_execution", _COMMON),
    "code_execution_20260521": ("code_execution", _COMMON),
    "web_search_20250305": ("web_search", _SEARCH),
    "web_search_20260209": ("web_search", _SEARCH),
    "web_search_20260318": ("web_search", _SEARCH | {"response_inclusion"}),
    "web_fetch_20250910": ("web_fetch", _FETCH),
    "web_fetch_20260209": ("web_fetch", _FETCH),
    "web_fetch_20260309": ("web_fetch", _FETCH | {"use_cache"}),
    "web_fetch_20260318": ("web_fetch", _FETCH | {"use_cache", "response_inclusion"}),
    "tool_search_tool_bm25": ("tool_search_tool_bm25", _COMMON),
    "tool_search_tool_bm25_20251119": ("tool_search_tool_bm25", _COMMON),
    "tool_search_tool_regex": ("tool_search_tool_regex", _COMMON),
    "tool_search_tool_regex_20251119": ("tool_search_tool_regex", _COMMON),
}

#: Tools of the union the caller must run (no implementation here): type → name.
CLIENT_RUN_TYPES: dict[str, str] = {
    "bash_20250124": "bash",
    "memory_20250818": "memory",
    "text_editor_20250124": "str_replace_editor",
    "text_editor_20250429": "str_replace_based_edit_tool",
    "text_editor_20250728": "str_replace_based_edit_tool",
}


def _newest() -> dict[str, str]:
    """Short name → the newest dated type (an undated alias counts only when nothing is dated)."""
    newest: dict[str, str] = {}
    for kind, (name, _keys) in SERVER_TOOLS.items():
        current = newest.get(name)
        if current is None or (kind[-8:].isdigit() and kind > current):
            newest[name] = kind
    return newest


_NEWEST = _newest()


def server_tool_definition(name: str) -> dict[str, Any] | None:
    """The definition to send for a server tool named by an agent, or ``None`` if it is not one.

    Args:
        name: a short name (``"web_search"``: its newest version) or a type
            (``"web_search_20250305"``: that version).
    """
    kind = _NEWEST.get(name, name)
    if kind not in SERVER_TOOLS:
        return None
    return {"type": kind, "name": SERVER_TOOLS[kind][0]}


def check_server_tool(definition: object) -> str | None:
    """``None`` if ``definition`` is a server tool the API takes as given, else why not (one line).

    Checks what can be known without the API: the ``type`` is a server tool's,
    the ``name`` is the one that type requires, and no key is one it refuses.
    """
    if not isinstance(definition, Mapping):
        return f"a server tool definition is an object, not {type(definition).__name__}"
    kind = definition.get("type")
    if not isinstance(kind, str):
        return "a server tool definition needs a 'type' (e.g. 'web_search_20250305')"
    if kind in CLIENT_RUN_TYPES:
        return f"{kind!r} is a tool the caller must run, and the engine has no implementation of it"
    if kind == "custom" or "input_schema" in definition:
        return "a client tool is a Python function or an MCP tool, not a definition in the config"
    if kind not in SERVER_TOOLS:
        return f"unknown server tool type {kind!r}{did_you_mean(kind, SERVER_TOOLS)}"
    name, keys = SERVER_TOOLS[kind]
    if definition.get("name") != name:
        given = definition.get("name")
        found = "has no 'name'" if given is None else f"is named {given!r}"
        return f"{kind!r} {found}; the API requires the name {name!r}"
    for key in definition:
        if key not in keys:
            return f"{kind!r} takes no key {key!r}{did_you_mean(str(key), keys)}"
    return None


publish(globals())
