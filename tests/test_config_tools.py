"""Tests for the config keys of tool use: tools, max_turns, output_schema, thinking, mcp_servers."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claude_force_trio._config import load_config
from claude_force_trio._config._load import ConfigError
from claude_force_trio._config._migrate import config_to_dict
from claude_force_trio._config._model import McpServerConfig

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

BASE: dict[str, Any] = {
    "defaults": {"max_tokens": 4096},
    "agents": {
        "linter": {"file": "agents/linter.md"},
        "scanner": {"file": "agents/scanner.md"},
    },
    "workflows": {
        "review": {
            "steps": [
                {"id": "scan", "agent": "scanner", "task": "scan it"},
                {"id": "lint", "agent": "linter", "task": "lint it", "dependencies": ["scan"]},
            ]
        }
    },
    "mcp_servers": {"github": {"command": "gh-mcp", "args": ["--stdio"]}},
}
FINDINGS = {
    "type": "object",
    "properties": {"findings": {"type": "array", "items": {"type": "string"}}},
    "required": ["findings"],
}


def project(tmp_path: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` and two agent files under ``tmp_path/.claude``; return the config's path."""
    folder = tmp_path / ".claude"
    (folder / "agents").mkdir(parents=True, exist_ok=True)
    for name in ("linter", "scanner"):
        (folder / "agents" / f"{name}.md").write_text(f"# {name}\n", encoding="utf-8")
    path = folder / "claude.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def load(tmp_path: Path, agent: dict[str, Any] | None = None, **top: Any) -> Any:
    """Load BASE with ``agent`` merged into the linter and ``top`` over the top level."""
    doc = copy.deepcopy(BASE)
    doc["agents"]["linter"].update(agent or {})
    doc.update(top)
    return load_config(project(tmp_path, doc))


def error(tmp_path: Path, agent: dict[str, Any] | None = None, **top: Any) -> ConfigError:
    """The ConfigError loading that document raises."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, agent, **top)
    assert "\n" not in str(info.value)
    return info.value


# ---------------------------------------------------------------- tools


def test_tools_are_a_real_key_now() -> None:
    """``tools`` is read into the agent, not kept as a tolerated legacy key."""
    from claude_force_trio._config import LEGACY_AGENT_KEYS

    assert "tools" not in LEGACY_AGENT_KEYS


def test_tool_names_and_definitions_load(tmp_path: Path) -> None:
    """Names and server tool definitions load in order; defaults fill the other keys."""
    web = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
    config = load(tmp_path, {"tools": ["read_file", "mcp:github", "mcp:github/search", web]})
    linter = config.agents["linter"]
    assert linter.tools == ("read_file", "mcp:github", "mcp:github/search", web)
    assert linter.legacy_keys == {}
    assert (linter.max_turns, linter.on_max_tokens, linter.thinking, linter.effort) == (
        10,
        "fail",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("tools", "path", "message"),
    [
        ("read_file", "agents.linter.tools", "expected a list of tool names"),
        (["read_file", 3], "agents.linter.tools[1]", "expected a tool name or a server tool"),
        (["  "], "agents.linter.tools[0]", "expected a tool name"),
        ([{"name": "web_search"}], "agents.linter.tools[0]", "missing required key 'type'"),
        (["read_file", "read_file"], "agents.linter.tools[1]", "'read_file' is listed twice"),
        (["mcp:gihub"], "agents.linter.tools[0]", "unknown MCP server 'gihub' (did you mean"),
        (["mcp:zzz"], "agents.linter.tools[0]", "unknown MCP server 'zzz'; known: github"),
        (["mcp:github/"], "agents.linter.tools[0]", "expected mcp:github or mcp:github/TOOL"),
    ],
)
def test_bad_tools_name_the_entry(tmp_path: Path, tools: Any, path: str, message: str) -> None:
    """Each malformed ``tools`` entry is one line at its own JSON path."""
    err = error(tmp_path, {"tools": tools})
    assert err.path == path
    assert message in err.message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_turns", 0, "expected an integer from 1 to 100, got 0"),
        ("max_turns", 101, "expected an integer from 1 to 100, got 101"),
        ("on_max_tokens", "retry", 'expected one of "fail", "continue", "accept", got "retry"'),
        (
            "effort",
            "huge",
            'expected one of "low", "medium", "high", "xhigh", "max", got "huge"',
        ),
    ],
)
def test_turn_and_effort_values_are_checked(
    tmp_path: Path, key: str, value: Any, message: str
) -> None:
    """``max_turns``, ``on_max_tokens`` and ``effort`` refuse values outside their range."""
    err = error(tmp_path, {key: value})
    assert (err.path, err.message) == (f"agents.linter.{key}", message)


# ---------------------------------------------------------------- thinking


@pytest.mark.parametrize(
    "thinking",
    [
        {"type": "enabled", "budget_tokens": 1024},
        {"type": "enabled", "budget_tokens": 2048, "display": "omitted"},
        {"type": "adaptive"},
        {"type": "disabled"},
    ],
)
def test_the_apis_thinking_shapes_load(tmp_path: Path, thinking: dict[str, Any]) -> None:
    """Each of the API's ``thinking`` objects loads as written."""
    assert load(tmp_path, {"thinking": thinking}).agents["linter"].thinking == thinking


@pytest.mark.parametrize(
    ("agent", "path", "message"),
    [
        (
            {"thinking": {"type": "enabled"}},
            "agents.linter.thinking",
            "missing required key 'budget_tokens'",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 1000}},
            "agents.linter.thinking.budget_tokens",
            "expected an integer from 1024 to 1000000, got 1000",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
            "agents.linter.thinking.budget_tokens",
            "must be less than max_tokens (4096), got 4096",
        ),
        (
            {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 3000}},
            "agents.linter.thinking.budget_tokens",
            "must be less than max_tokens (2000), got 3000",
        ),
        (
            {"thinking": {"type": "enable", "budget_tokens": 2000}},
            "agents.linter.thinking.type",
            'expected one of "enabled", "adaptive", "disabled", got "enable"',
        ),
        (
            {"thinking": {"type": "adaptive", "budget_token": 2000}},
            "agents.linter.thinking.budget_token",
            "unknown key",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2000, "dispaly": "omitted"}},
            "agents.linter.thinking.dispaly",
            "unknown key (did you mean 'display'?)",
        ),
        ({"thinking": "on"}, "agents.linter.thinking", 'expected an object, got "on"'),
    ],
)
def test_bad_thinking_names_its_path(
    tmp_path: Path, agent: dict[str, Any], path: str, message: str
) -> None:
    """A thinking object the API would refuse is one line at its path, budget rule included."""
    err = error(tmp_path, agent)
    assert (err.path, err.message) == (path, message)


# ---------------------------------------------------------------- output_schema


def test_inline_and_file_schemas_load_and_steps_take_their_own(tmp_path: Path) -> None:
    """An inline schema and one in a file load; a step keeps its own schema."""
    schemas = tmp_path / ".claude" / "schemas"
    schemas.mkdir(parents=True)
    (schemas / "findings.json").write_text(json.dumps(FINDINGS), encoding="utf-8")
    doc = copy.deepcopy(BASE)
    doc["agents"]["scanner"]["output_schema"] = "schemas/findings.json"
    doc["agents"]["linter"]["output_schema"] = {"type": "object"}
    doc["workflows"]["review"]["steps"][1]["output_schema"] = "schemas/findings.json"
    config = load_config(project(tmp_path, doc))
    assert config.agents["scanner"].output_schema == FINDINGS
    assert config.agents["scanner"].output_schema_file == schemas / "findings.json"
    assert config.agents["linter"].output_schema == {"type": "object"}
    steps = config.workflows["review"].steps
    assert (steps[0].output_schema, steps[1].output_schema) == (None, FINDINGS)


@pytest.mark.parametrize(
    ("schema", "path", "message"),
    [
        (
            {"type": "object", "properties": {"line": {"type": "integr"}}},
            "agents.linter.output_schema.properties.line.type",
            "invalid JSON Schema: 'integr' is not valid under any of the given schemas"
            " (did you mean 'integer'?)",
        ),
        (
            {"type": "object", "required": "findings"},
            "agents.linter.output_schema.required",
            "invalid JSON Schema: 'findings' is not of type 'array'",
        ),
        (
            {"$schema": "https://example.com/nope", "type": "object"},
            'agents.linter.output_schema["$schema"]',
            "unknown metaschema 'https://example.com/nope'",
        ),
        (
            ["type", "object"],
            "agents.linter.output_schema",
            "expected a JSON Schema object or the path of a JSON file, got a list",
        ),
    ],
)
def test_invalid_inline_schemas_name_the_place_inside(
    tmp_path: Path, schema: Any, path: str, message: str
) -> None:
    """jsonschema's check_schema finds the problem; the path goes down into the schema."""
    err = error(tmp_path, {"output_schema": schema})
    assert (err.path, err.message) == (path, message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            json.dumps({"type": "object", "properties": {"a": {"minimum": "one"}}}),
            "schemas/s.json: properties.a.minimum: invalid JSON Schema: 'one' is not of type"
            " 'number'",
        ),
        ('{"type": ', "schemas/s.json: invalid JSON at line 1, column 10: Expecting value"),
        ("[1, 2]", "schemas/s.json: expected a JSON Schema object, got a list"),
    ],
)
def test_invalid_schema_files_name_the_key_and_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    """A schema file that is not a valid schema names the step key, the file and the place."""
    (tmp_path / ".claude" / "schemas").mkdir(parents=True)
    (tmp_path / ".claude" / "schemas" / "s.json").write_text(text, encoding="utf-8")
    doc = copy.deepcopy(BASE)
    doc["workflows"]["review"]["steps"][0]["output_schema"] = "schemas/s.json"
    with pytest.raises(ConfigError) as info:
        load_config(project(tmp_path, doc))
    assert info.value.path == "workflows.review.steps[0].output_schema"
    assert info.value.message == message


def test_a_schema_file_outside_the_config_folder_is_refused(tmp_path: Path) -> None:
    """Schema files are confined as agent files are: a path (or symlink) out is an error."""
    (tmp_path / "outside.json").write_text(json.dumps(FINDINGS), encoding="utf-8")
    err = error(tmp_path, {"output_schema": "../../outside.json"})
    assert (err.path, err.message) == (
        "agents.linter.output_schema",
        "path escapes the config folder",
    )
    (tmp_path / ".claude" / "link.json").symlink_to(tmp_path / "outside.json")
    err = error(tmp_path, {"output_schema": "link.json"})
    assert err.message == "path escapes the config folder"
    err = error(tmp_path, {"output_schema": "missing.json"})
    assert err.message == "file not found: missing.json"


def test_loading_without_a_schema_never_imports_jsonschema(tmp_path: Path) -> None:
    """jsonschema is imported only by a config that has a schema (and ``cft --help`` never)."""
    plain = project(tmp_path, BASE)
    code = (
        "import sys; from claude_force_trio._config import load_config;"
        f"load_config({str(plain)!r}); assert 'jsonschema' not in sys.modules, 'loaded';"
        "from claude_force_trio.cli import app; assert 'jsonschema' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------- mcp_servers


def test_mcp_servers_load_both_transports(tmp_path: Path) -> None:
    """A stdio server (command, args, env) and a streamable HTTP one (url) load."""
    servers = {
        "github": {"command": "gh-mcp", "args": ["--stdio", ""], "env": {"TOKEN": "t"}},
        "docs_2": {"url": "https://mcp.example.com/mcp"},
    }
    config = load(tmp_path, mcp_servers=servers)
    assert config.mcp_servers == {
        "github": McpServerConfig(
            "github", "gh-mcp", ("--stdio", ""), {"TOKEN": "t"}, path="mcp_servers.github"
        ),
        "docs_2": McpServerConfig(
            "docs_2", url="https://mcp.example.com/mcp", path="mcp_servers.docs_2"
        ),
    }
    assert "mcp_servers" not in config.ignored_sections


@pytest.mark.parametrize(
    ("servers", "path", "message"),
    [
        ([], "mcp_servers", "expected an object, got a list"),
        ({"git hub": {"command": "x"}}, 'mcp_servers["git hub"]', "a server name must match"),
        ({"a" * 33: {"command": "x"}}, "mcp_servers." + "a" * 33, "a server name must match"),
        ({"gh": {}}, "mcp_servers.gh", "give exactly one of 'command' (stdio) and 'url'"),
        (
            {"gh": {"command": "x", "url": "http://h/"}},
            "mcp_servers.gh",
            "give exactly one of 'command' (stdio) and 'url'",
        ),
        ({"gh": {"comand": "x"}}, "mcp_servers.gh.comand", "unknown key (did you mean 'command'?)"),
        ({"gh": {"url": "http://h/", "args": []}}, "mcp_servers.gh.args", "only a 'command'"),
        ({"gh": {"url": "ftp://h/"}}, "mcp_servers.gh.url", "expected an http:// or https://"),
        ({"gh": {"url": "http://["}}, "mcp_servers.gh.url", "expected an http:// or https://"),
        ({"gh": {"command": "x", "args": "-v"}}, "mcp_servers.gh.args", "expected a list"),
        (
            {"gh": {"command": "x", "env": {"TOKEN": 1}}},
            "mcp_servers.gh.env.TOKEN",
            "expected a string under a non-empty name",
        ),
        ({"gh": {"command": ""}}, "mcp_servers.gh.command", "expected a non-empty string"),
    ],
)
def test_bad_mcp_servers_name_their_path(
    tmp_path: Path, servers: Any, path: str, message: str
) -> None:
    """Each malformed server is one line at its path; ``env`` values are never shown."""
    doc = copy.deepcopy(BASE)
    doc["mcp_servers"] = servers
    with pytest.raises(ConfigError) as info:
        load_config(project(tmp_path, doc))
    assert info.value.path == path
    assert message in info.value.message
    assert 'TOKEN": 1' not in str(info.value)


# ---------------------------------------------------------------- migrate and docs


def test_migrate_keeps_every_new_key(tmp_path: Path) -> None:
    """``cft config migrate`` writes the new keys back (a schema file as a path); reloads equal."""
    (tmp_path / ".claude" / "schemas").mkdir(parents=True)
    (tmp_path / ".claude" / "schemas" / "f.json").write_text(json.dumps(FINDINGS))
    doc = copy.deepcopy(BASE)
    doc["agents"]["linter"] |= {
        "tools": ["read_file", {"type": "web_search_20250305", "name": "web_search"}],
        "max_turns": 4,
        "output_schema": "schemas/f.json",
        "on_max_tokens": "continue",
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "effort": "high",
    }
    doc["agents"]["scanner"]["output_schema"] = {"type": "object"}
    doc["workflows"]["review"]["steps"][0]["output_schema"] = "schemas/f.json"
    doc["mcp_servers"]["web"] = {"url": "https://mcp.example.com/"}
    original = load_config(project(tmp_path, doc))
    migrated = config_to_dict(original)
    assert migrated["agents"]["linter"]["output_schema"] == "schemas/f.json"
    assert migrated["agents"]["linter"]["tools"] == doc["agents"]["linter"]["tools"]
    assert migrated["agents"]["scanner"]["output_schema"] == {"type": "object"}
    assert "max_turns" not in migrated["agents"]["scanner"]  # defaults stay implicit
    assert migrated["workflows"]["review"]["steps"][0]["output_schema"] == "schemas/f.json"
    assert migrated["mcp_servers"] == {
        "github": {"command": "gh-mcp", "args": ["--stdio"]},
        "web": {"url": "https://mcp.example.com/"},
    }
    again = load_config(project(tmp_path, migrated))
    assert again == original


def test_every_new_key_is_documented() -> None:
    """docs/configuration.md has a row for every key this change added."""
    text = DOCS.read_text(encoding="utf-8")
    for key in (
        "tools",
        "max_turns",
        "output_schema",
        "on_max_tokens",
        "thinking",
        "effort",
        "steps[i].output_schema",
        "command",
        "args",
        "env",
        "url",
    ):
        assert f"| `{key}`" in text, key
    assert "## `mcp_servers.<name>`" in text
