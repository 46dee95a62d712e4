"""Tests for the tool registry (``_tools._registry``) and its wiring into the engine."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import trio
import trio.testing

from claude_force_trio import open_engine
from claude_force_trio._config import AgentConfig, Config, StepConfig, WorkflowConfig
from claude_force_trio._config._model import McpServerConfig
from claude_force_trio._errors import ConfigError
from claude_force_trio._tools import Tool, ToolError, ToolOutput, ToolSpec, _registry
from claude_force_trio._tools._registry import Toolset, check_workspace, open_toolset

from .engine_support import make_config, message

SCHEMA = {"type": "object", "properties": {}}


@dataclasses.dataclass(frozen=True)
class FakeTool:
    """A tool that answers its own name."""

    spec: ToolSpec

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutput:
        return ToolOutput(self.spec.name)


def fake(name: str) -> FakeTool:
    """A fake tool called ``name``."""
    return FakeTool(ToolSpec(name, f"the {name} tool", SCHEMA))


def lookup(term: str) -> str:
    """Look a term up.

    Args:
        term: what to look up.
    """
    return term


def config_with(
    tools: Mapping[str, Sequence[Any]],
    servers: Sequence[str] = (),
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """A config whose agents have the given ``tools`` (and ``output_schema``), and MCP servers."""
    base = make_config(agents=tools)
    agents = {
        name: dataclasses.replace(
            agent,
            tools=tuple(tools[name]),
            output_schema=(schemas or {}).get(name),
        )
        for name, agent in base.agents.items()
    }
    mcp = {
        name: McpServerConfig(name, command=f"{name}-server", path=f"mcp_servers.{name}")
        for name in servers
    }
    return dataclasses.replace(base, agents=agents, mcp_servers=mcp)


@dataclasses.dataclass
class FakeServers:
    """Stands in for the MCP SDK: each server offers ``tools``; opens and closes are counted."""

    tools: Mapping[str, Sequence[str]]
    open_s: float = 0.0
    refuse: frozenset[str] = frozenset()
    fail_on_close: frozenset[str] = frozenset()
    opened: list[str] = dataclasses.field(default_factory=list)
    closed: list[str] = dataclasses.field(default_factory=list)

    @asynccontextmanager
    async def open(self, server: McpServerConfig) -> AsyncIterator[list[Tool]]:
        self.opened.append(server.name)
        await anyio.sleep(self.open_s)
        if server.name in self.refuse:
            raise ToolError(f"MCP server {server.name!r}: command not found: {server.command}")
        try:
            yield [fake(f"{server.name}__{tool}") for tool in self.tools[server.name]]
        finally:
            self.closed.append(server.name)
        if server.name in self.fail_on_close:
            raise RuntimeError("the server had died")


@pytest.fixture
def servers() -> FakeServers:
    """Two fake MCP servers, ``github`` and ``docs``."""
    return FakeServers({"github": ["search", "issue"], "docs": ["find"]})


@pytest.fixture(autouse=True)
def fake_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake workspace and server tools, so this file tests the registry alone."""
    monkeypatch.setattr(
        _registry,
        "workspace_tools",
        lambda root: [fake(n) for n in sorted(_registry.WORKSPACE_TOOL_NAMES)],
    )
    definitions = {"web_search": {"type": "web_search_20250305", "name": "web_search"}}
    monkeypatch.setattr(_registry, "server_tool_definition", definitions.get)
    monkeypatch.setattr(
        _registry,
        "check_server_tool",
        lambda d: None if d.get("type", "").startswith("web_") else f"unknown type {d['type']!r}",
    )


async def toolset_of(config: Config, **options: Any) -> Toolset:
    """Open and close a toolset for ``config``; return what it built."""
    async with open_toolset(config, **options) as toolset:
        return toolset


# ---------------------------------------------------------------- resolution


@pytest.mark.anyio
async def test_names_resolve_to_library_workspace_and_server_tools(tmp_path: Path) -> None:
    """Each agent gets what it lists: functions, Tool objects, workspace and server tools."""
    web = {"type": "web_fetch_20250910", "name": "web_fetch"}
    config = config_with(
        {"linter": ["lookup", "grep", "read_file", "web_search", web], "writer": []}
    )
    grep = fake("grep")
    toolset = await toolset_of(config, library=[lookup, grep], workspace=tmp_path)
    box = toolset.for_agent(config.agents["linter"])
    assert sorted(box.tools) == ["grep", "lookup", "read_file"]
    assert box.tools["grep"] is grep
    assert box.tools["lookup"].spec.description == "Look a term up."
    assert box.server_tools == ({"type": "web_search_20250305", "name": "web_search"}, web)
    assert not toolset.for_agent(config.agents["writer"])
    assert toolset.warnings == ()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("listed", "message"),
    [
        ("lookpu", "unknown tool 'lookpu' (did you mean 'lookup'?)"),
        ("read_fle", "unknown tool 'read_fle' (did you mean 'read_file'?)"),
        ("nothing_like_it", "unknown tool 'nothing_like_it'"),
    ],
)
async def test_unknown_names_are_config_errors_at_their_entry(listed: str, message: str) -> None:
    """An unknown name fails at ``agents.NAME.tools[i]`` with a hint, before any server starts."""
    fakes = FakeServers({"github": ["search"]})
    config = config_with({"linter": ["mcp:github", "lookup", listed]}, servers=["github"])
    with pytest.raises(ConfigError) as info:
        await toolset_of(config, library=[lookup], open_mcp=fakes.open)
    assert (info.value.path, info.value.message) == ("agents.linter.tools[2]", message)
    assert fakes.opened == []


@pytest.mark.anyio
async def test_an_mcp_server_missing_from_a_python_config_is_named() -> None:
    """A Config built in Python (no loader) naming an undeclared server fails at the entry."""
    config = config_with({"linter": ["mcp:gihub"]}, servers=["github"])
    with pytest.raises(ConfigError) as info:
        await toolset_of(config)
    assert str(info.value) == (
        "agents.linter.tools[0]: unknown MCP server 'gihub' (did you mean 'github'?)"
    )


@pytest.mark.anyio
async def test_a_bad_server_tool_definition_names_its_entry() -> None:
    """A definition the server-tool check refuses is an error at its entry, with its reason."""
    config = config_with({"linter": [{"type": "bash_20250124", "name": "bash"}]})
    with pytest.raises(ConfigError) as info:
        await toolset_of(config)
    assert str(info.value) == "agents.linter.tools[0]: unknown type 'bash_20250124'"


@pytest.mark.anyio
async def test_workspace_tools_without_a_workspace_warn_once() -> None:
    """Without a workspace the tools are not offered; one line names every agent that asked."""
    config = config_with(
        {"linter": ["read_file", "search_text"], "scanner": ["list_files"], "x": []}
    )
    toolset = await toolset_of(config)
    assert not toolset.for_agent(config.agents["linter"])
    assert toolset.warnings == (
        "workspace tools are not offered to linter, scanner: no workspace"
        " (run with --workspace DIR)",
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("library", "listed", "path", "message"),
    [
        ([fake("read_file")], [], "tools[0]", "'read_file' is a workspace tool's name"),
        ([lookup, fake("lookup")], [], "tools[1]", "two tools are named 'lookup'"),
        ([42], [], "tools[0]", "a tool must be a function or a Tool, not int"),
        (
            [fake("web_search")],
            ["web_search", {"type": "web_search_20250305", "name": "web_search"}],
            "agents.linter.tools[1]",
            "a second tool named 'web_search' (the first: agents.linter.tools[0])",
        ),
        (
            [fake("github__search")],
            ["github__search", "mcp:github"],
            "agents.linter.tools[1]",
            "a second tool named 'github__search' (the first: agents.linter.tools[0])",
        ),
    ],
)
async def test_name_collisions_are_config_errors(
    library: list[Any], listed: list[Any], path: str, message: str, servers: FakeServers
) -> None:
    """Two different tools under one name, for the engine or for one agent, are refused."""
    config = config_with({"linter": listed}, servers=["github"])
    with pytest.raises(ConfigError) as info:
        await toolset_of(config, library=library, open_mcp=servers.open)
    assert info.value.path == path
    assert message in info.value.message
    assert servers.opened == servers.closed  # whatever started was stopped


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["missing", "file"])
async def test_a_workspace_that_is_not_a_folder_is_refused(tmp_path: Path, where: str) -> None:
    """``workspace=`` must name a directory: one line naming it."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError) as info:
        await toolset_of(config_with({}), workspace=tmp_path / where)
    problem = "no such directory" if where == "missing" else "not a directory"
    assert str(info.value) == f"workspace: {problem}: {tmp_path / where}"
    assert check_workspace(tmp_path, "--workspace") == tmp_path.resolve()


# ---------------------------------------------------------------- MCP servers


@pytest.mark.anyio
async def test_only_used_servers_start_and_all_stop_on_exit(servers: FakeServers) -> None:
    """``mcp:S`` offers all of S's tools, ``mcp:S/T`` one; an unused server never starts."""
    config = config_with(
        {"linter": ["mcp:github"], "scanner": ["mcp:github/issue"]}, servers=["github", "docs"]
    )
    async with open_toolset(config, open_mcp=servers.open) as toolset:
        assert servers.opened == ["github"]
        assert servers.closed == []
        assert sorted(toolset.for_agent(config.agents["linter"]).tools) == [
            "github__issue",
            "github__search",
        ]
        assert list(toolset.for_agent(config.agents["scanner"]).tools) == ["github__issue"]
        assert toolset.servers == ("github",)
    assert servers.closed == ["github"]


async def test_servers_start_concurrently(autojump_clock: trio.testing.MockClock) -> None:
    """Three servers taking 2 s each to start are all up after 2 s, not 6 (virtual time)."""
    fakes = FakeServers({"a": ["x"], "b": ["y"], "c": ["z"]}, open_s=2.0)
    config = config_with({"linter": ["mcp:a", "mcp:b", "mcp:c"]}, servers=["a", "b", "c"])
    async with open_toolset(config, open_mcp=fakes.open) as toolset:
        assert trio.current_time() == 2.0
        assert len(toolset.for_agent(config.agents["linter"]).tools) == 3
    assert sorted(fakes.closed) == ["a", "b", "c"]


@pytest.mark.anyio
async def test_a_tool_the_server_lacks_is_an_error_and_the_server_stops(
    servers: FakeServers,
) -> None:
    """``mcp:github/serch`` names the entry, hints the real name, and stops the server."""
    config = config_with({"linter": ["mcp:github/serch"]}, servers=["github"])
    with pytest.raises(ConfigError) as info:
        await toolset_of(config, open_mcp=servers.open)
    assert str(info.value) == (
        "agents.linter.tools[0]: MCP server 'github' has no tool 'serch' (did you mean 'search'?)"
    )
    assert servers.closed == ["github"]


@pytest.mark.anyio
async def test_a_server_that_does_not_start_fails_only_its_agents(
    servers: FakeServers,
) -> None:
    """The refusing server's agents get its reason; the others keep their tools; one warning."""
    servers.refuse = frozenset({"docs"})
    config = config_with(
        {"linter": ["mcp:github", "mcp:docs"], "reviewer": ["mcp:github"]},
        servers=["github", "docs"],
    )
    async with open_toolset(config, open_mcp=servers.open) as toolset:
        reason = (
            "mcp_servers.docs: MCP server 'docs' did not start:"
            " MCP server 'docs': command not found: docs-server"
        )
        linter = toolset.for_agent(config.agents["linter"])
        reviewer = toolset.for_agent(config.agents["reviewer"])
        assert linter.unavailable == (reason,)
        assert reviewer.unavailable == ()
        assert sorted(reviewer.tools) == sorted(linter.tools)
        assert toolset.servers == ("github",)
        assert toolset.warnings == (f"{reason} (steps of linter will fail)",)
    assert sorted(servers.opened) == ["docs", "github"]
    assert servers.closed == ["github"]


@pytest.mark.anyio
async def test_an_error_in_the_block_passes_as_it_is(servers: FakeServers) -> None:
    """An exception raised while the toolset is open reaches the caller unwrapped; servers stop."""
    config = config_with({"linter": ["mcp:github"]}, servers=["github"])
    with pytest.raises(KeyError, match="boom"):
        async with open_toolset(config, open_mcp=servers.open):
            raise KeyError("boom")
    assert servers.closed == ["github"]


@pytest.mark.anyio
async def test_a_server_failing_as_it_stops_is_logged_not_raised(
    servers: FakeServers, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that dies before it is stopped costs a log line, not the run."""
    servers.fail_on_close = frozenset({"github"})
    config = config_with({"linter": ["mcp:github"]}, servers=["github"])
    with caplog.at_level(logging.WARNING, logger="claude_force_trio._tools._serving"):
        await toolset_of(config, open_mcp=servers.open)
    assert [r.getMessage() for r in caplog.records] == ["MCP server 'github': the server had died"]


# ---------------------------------------------------------------- the engine


def answer(bodies: list[dict[str, Any]]) -> httpx.MockTransport:
    """A Messages API that records each request body and answers ``{}``."""

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=message("{}"))

    return httpx.MockTransport(handle)


@pytest.mark.anyio
async def test_the_engine_opens_servers_once_and_passes_tools_and_schemas(
    monkeypatch: pytest.MonkeyPatch, servers: FakeServers
) -> None:
    """Servers start once with the engine and stop with it; each step is sent its agent's
    tools and the step's output schema over the agent's."""
    monkeypatch.setattr(_registry, "open_mcp_server", servers.open)
    agent_schema = {"type": "object", "title": "agent"}
    step_schema = {"type": "object", "title": "step"}
    config = config_with(
        {"linter": ["lookup", "mcp:github/search"], "writer": []},
        servers=["github", "docs"],
        schemas={"linter": agent_schema},
    )
    steps = (
        StepConfig("a", "linter", "do a", path="workflows.wf.steps[0]"),
        StepConfig("b", "linter", "do b", path="workflows.wf.steps[1]", output_schema=step_schema),
        StepConfig("c", "writer", "do c", path="workflows.wf.steps[2]"),
    )
    config = dataclasses.replace(
        config, workflows={"wf": WorkflowConfig("wf", steps, path="workflows.wf")}
    )
    bodies: list[dict[str, Any]] = []
    async with open_engine(config, transport=answer(bodies), tools=[lookup]) as engine:
        assert servers.opened == ["github"]
        await engine.run_workflow("wf")
        await engine.run_agent("linter", "again")
        assert servers.closed == []
    assert servers.opened == servers.closed == ["github"]
    by_task = {_task(b): b for b in bodies}
    names = {task: [t["name"] for t in b.get("tools", [])] for task, b in by_task.items()}
    schemas = {
        task: b.get("output_config", {}).get("format", {}).get("schema")
        for task, b in by_task.items()
    }
    assert names == {
        "do a": ["github__search", "lookup"],
        "do b": ["github__search", "lookup"],
        "do c": [],
        "again": ["github__search", "lookup"],
    }
    assert schemas == {
        "do a": agent_schema,
        "do b": step_schema,
        "do c": None,
        "again": agent_schema,
    }


def _task(body: Mapping[str, Any]) -> str:
    """The user's task in a request: the last line of its first message."""
    content = body["messages"][0]["content"]
    text = content if isinstance(content, str) else content[-1]["text"]
    return str(text).strip().splitlines()[-1]


@pytest.mark.anyio
async def test_an_unknown_tool_fails_the_engine_before_anything_opens() -> None:
    """``open_engine`` raises the ConfigError itself, not inside an exception group."""
    bodies: list[dict[str, Any]] = []
    config = config_with({"linter": ["lookpu"]})
    with pytest.raises(ConfigError, match=r"agents\.linter\.tools\[0\]: unknown tool 'lookpu'"):
        async with open_engine(config, transport=answer(bodies), tools=[lookup]):
            pass  # pragma: no cover
    assert bodies == []


def test_a_config_agent_without_tools_gets_an_empty_box() -> None:
    """An agent the toolset has no box for (it lists no tools) gets an empty one."""
    agent = AgentConfig("a", Path("a.md"), "# a")
    assert not Toolset().for_agent(agent)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def cli_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose ``reader`` lists workspace tools; offline, instant simulator."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "CFT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CFT_SIM_LATENCY_SCALE", "0")
    (tmp_path / "reader.md").write_text("# Reader\n\nReads.\n", encoding="utf-8")
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 256},
        "agents": {
            "reader": {"file": "reader.md", "tools": ["read_file", "list_files"]},
        },
        "workflows": {"w": {"steps": [{"id": "r", "agent": "reader", "task": "read"}]}},
    }
    (tmp_path / "claude.json").write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "tasks.jsonl").write_text('{"agent": "reader", "task": "read"}\n')
    return tmp_path


COMMANDS = {
    "run": ["run", "reader", "read"],
    "run-many": ["run-many", "{root}/tasks.jsonl"],
    "workflow run": ["workflow", "run", "w"],
}


def cft_in(root: Path, *args: str) -> Any:
    """``cft --config ROOT/claude.json --simulate ARGS`` in-process."""
    from typer.testing import CliRunner

    from claude_force_trio.cli import app

    argv = ["--config", str(root / "claude.json"), "--simulate"]
    return CliRunner().invoke(app, [*argv, *(a.format(root=root) for a in args)])


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("where", ["missing", "reader.md"])
def test_workspace_must_be_a_folder(cli_project: Path, command: str, where: str) -> None:
    """``--workspace`` naming no folder is one error line and exit 2, on every running command."""
    result = cft_in(cli_project, *COMMANDS[command], "--workspace", str(cli_project / where))
    assert result.exit_code == 2, result.output
    problem = "no such directory" if where == "missing" else "not a directory"
    assert result.stderr.splitlines() == [f"error: --workspace: {problem}: {cli_project / where}"]


def test_workspace_tools_without_workspace_are_one_notice(cli_project: Path) -> None:
    """Without ``--workspace`` the run goes on and says once which agents lack their tools."""
    result = cft_in(cli_project, "workflow", "run", "w", "--json")
    assert result.exit_code == 0, result.output
    notices = [line for line in result.stderr.splitlines() if "workspace tools" in line]
    assert notices == [
        "notice: workspace tools are not offered to reader: no workspace (run with --workspace DIR)"
    ]


def test_an_unknown_tool_name_is_one_error_line(cli_project: Path) -> None:
    """A mistyped tool name (of any agent) stops the command with its path and a hint, exit 2."""
    doc = json.loads((cli_project / "claude.json").read_text())
    doc["agents"]["typo"] = {"file": "reader.md", "tools": ["read_fle"]}
    (cli_project / "claude.json").write_text(json.dumps(doc))
    result = cft_in(cli_project, "run", "reader", "read", "--workspace", str(cli_project))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "error: agents.typo.tools[0]: unknown tool 'read_fle' (did you mean 'read_file'?)"
    ]
