"""The tool registry: every agent's :class:`ToolBox`, built once when the engine opens.

An agent's ``tools`` names what it may use. Each name is resolved, in this
order, against the library tools given to the engine (functions or
:class:`Tool` objects), the read-only workspace tools (``read_file``,
``list_files``, ``search_text``, offered only with a workspace folder), the
server tools the API runs (``web_search``…, or a definition in the API's own
shape), and MCP servers (``mcp:SERVER`` for all of a server's tools,
``mcp:SERVER/TOOL`` for one, named ``SERVER__TOOL`` to the model).

Why at engine open, not at config load: library tools are given to the engine
in Python, not in ``claude.json``, and an MCP server's tools are known only
once it runs. Why every name is checked before any server starts: a typo
should cost one line (``agents.linter.tools[1]: unknown tool 'read_fle' (did
you mean 'read_file'?)``), not the start of every server first.

Only the servers some agent uses are started (``_serving`` runs them, all at
once, until the engine closes); a server that dies later fails only the calls
of its tools, never the engine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._config import AgentConfig, Config
from .._config._checks import _key_path
from .._config._model import McpServerConfig
from .._config._schema import mcp_ref, parse_mcp_ref
from .._errors import ConfigError, did_you_mean
from .._public import publish
from ._base import Tool, ToolBox
from ._serving import McpOpener, open_servers

__all__ = ["WORKSPACE_TOOL_NAMES", "McpOpener", "Toolset", "check_workspace", "open_toolset"]

#: The workspace tools' names: offered only when the engine has a workspace folder.
WORKSPACE_TOOL_NAMES = frozenset({"read_file", "list_files", "search_text"})
_NO_TOOLS = ToolBox()


@dataclass(frozen=True, slots=True)
class Toolset:
    """Every agent's tools, for as long as the engine is open.

    Attributes:
        boxes: each agent's tools, by agent name (agents without tools are absent).
        servers: the MCP servers started (those some agent uses), in config order.
        warnings: lines worth showing once per run (tools that are not offered, and why).
    """

    boxes: Mapping[str, ToolBox] = field(default_factory=dict)
    servers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def for_agent(self, agent: AgentConfig) -> ToolBox:
        """The tools ``agent`` may use (an empty box when it lists none)."""
        return self.boxes.get(agent.name, _NO_TOOLS)


def check_workspace(path: str | os.PathLike[str], where: str) -> Path:
    """The workspace folder, resolved; a :class:`ConfigError` at ``where`` if it is not one.

    Args:
        path: the folder as given.
        where: what to name in the error (``--workspace``, ``workspace``).
    """
    folder = Path(path).expanduser()
    try:
        if folder.is_dir():
            return folder.resolve()
        problem = "not a directory" if folder.exists() else "no such directory"
    except (OSError, ValueError) as exc:  # a name too long, a NUL…
        problem = f"cannot use it ({exc})"
    raise ConfigError(where, f"{problem}: {os.fspath(folder)}")


# ------------------------------------------------------------ where tools come from
# Each source is reached through one small function, imported when first needed,
# so a config without tools never loads them (and tests can stand in for them).


def open_mcp_server(server: McpServerConfig) -> AbstractAsyncContextManager[Sequence[Tool]]:
    """Start ``server`` through the MCP SDK; its tools while open."""
    from ._mcp import open_mcp_server as open_server

    return open_server(server)


def workspace_tools(root: Path) -> list[Tool]:
    """The read-only tools confined to ``root``."""
    from ._workspace import workspace_tools as tools_in

    return tools_in(root)


def server_tool_definition(name: str) -> Mapping[str, Any] | None:
    """The API's definition of the server tool called ``name``, or ``None``."""
    from ._server import server_tool_definition as definition_of

    return definition_of(name)


def check_server_tool(definition: Mapping[str, Any]) -> str | None:
    """What is wrong with a server tool definition written out in the config, or ``None``."""
    from ._server import check_server_tool as check

    return check(definition)


def mcp_tool_name(server: str, tool: str) -> str:
    """The name the model calls ``tool`` of ``server`` by (``SERVER__TOOL``)."""
    from ._mcp_output import api_tool_name

    return api_tool_name(server, tool)


def library_tools(tools: Iterable[object]) -> dict[str, Tool]:
    """The engine's ``tools=`` by name; errors name the entry (``tools[2]``).

    Raises:
        ConfigError: an entry that is neither a function nor a :class:`Tool`, two
            tools of one name, or a workspace tool's name taken.
    """
    from ._library import as_tool

    named: dict[str, Tool] = {}
    for index, given in enumerate(tools):
        where = f"tools[{index}]"
        try:
            tool = as_tool(given)
        except (TypeError, ValueError) as exc:
            raise ConfigError(where, str(exc)) from None
        name = tool.spec.name
        if name in WORKSPACE_TOOL_NAMES:
            raise ConfigError(where, f"{name!r} is a workspace tool's name; give yours another")
        if name in named:
            raise ConfigError(where, f"two tools are named {name!r}")
        named[name] = tool
    return named


# ------------------------------------------------------------ one agent's box


@dataclass(slots=True)
class _Sources:
    """What names resolve against while the toolset opens."""

    config: Config
    library: Mapping[str, Tool]
    workspace: Mapping[str, Tool] | None
    mcp: Mapping[str, Sequence[Tool]] | None = None  # None: servers not started yet
    refused: Mapping[str, str] = field(default_factory=dict)  # servers that did not start

    def known(self) -> list[str]:
        return [
            *self.library,
            *WORKSPACE_TOOL_NAMES,
            *(f"mcp:{s}" for s in self.config.mcp_servers),
        ]


class _Box:
    """One agent's box being filled: client tools by name (with where each came from)."""

    def __init__(self) -> None:
        self.tools: dict[str, tuple[str, Tool]] = {}
        self.server: dict[str, tuple[str, Mapping[str, Any]]] = {}
        self.unavailable: list[str] = []

    def add(self, tool: Tool, where: str) -> None:
        name = tool.spec.name
        seen = self.tools.get(name) or self.server.get(name)
        if seen is not None and seen[1] is not tool:
            raise ConfigError(where, f"a second tool named {name!r} (the first: {seen[0]})")
        self.tools.setdefault(name, (where, tool))

    def add_server(self, definition: Mapping[str, Any], where: str) -> None:
        name = str(definition.get("name", definition.get("type")))
        seen = self.tools.get(name) or self.server.get(name)
        if seen is not None:
            raise ConfigError(where, f"a second tool named {name!r} (the first: {seen[0]})")
        self.server[name] = (where, definition)

    def done(self) -> ToolBox:
        tools = {name: tool for name, (_, tool) in self.tools.items()}
        server = tuple(definition for _, definition in self.server.values())
        return ToolBox(tools, server, tuple(dict.fromkeys(self.unavailable)))


def _resolve(agent: AgentConfig, sources: _Sources) -> tuple[ToolBox, bool]:
    """``agent``'s box, and whether it asked for workspace tools there is no workspace for.

    MCP references are only checked for shape until the servers run
    (``sources.mcp`` is ``None``); everything else is resolved at once.
    """
    box = _Box()
    wants_workspace = False
    for index, ref in enumerate(agent.tools):
        where = f"{_key_path('agents', agent.name)}.tools[{index}]"
        if not isinstance(ref, str):
            if (problem := check_server_tool(ref)) is not None:
                raise ConfigError(where, problem)
            box.add_server(ref, where)
        elif (parsed := mcp_ref(ref, sources.config.mcp_servers, where)) is not None:
            # Checked again here: a Config built in Python has not met the loader.
            if parsed[0] in sources.refused:
                box.unavailable.append(sources.refused[parsed[0]])
            elif sources.mcp is not None:
                for tool in _mcp_tools(*parsed, sources.mcp, where):
                    box.add(tool, where)
        elif ref in sources.library:
            box.add(sources.library[ref], where)
        elif ref in WORKSPACE_TOOL_NAMES:
            if sources.workspace is None:
                wants_workspace = True
            else:
                box.add(sources.workspace[ref], where)
        elif (definition := server_tool_definition(ref)) is not None:
            box.add_server(definition, where)
        else:
            raise ConfigError(where, f"unknown tool {ref!r}{did_you_mean(ref, sources.known())}")
    return box.done(), wants_workspace


def _mcp_tools(
    server: str, tool: str | None, running: Mapping[str, Sequence[Tool]], where: str
) -> Sequence[Tool]:
    """The tools ``mcp:SERVER`` (all) or ``mcp:SERVER/TOOL`` (one) stands for."""
    tools = running[server]
    if tool is None:
        return tools
    wanted = mcp_tool_name(server, tool)
    found = [t for t in tools if t.spec.name == wanted]
    if not found:
        prefix = f"{server}__"
        offered = [t.spec.name.removeprefix(prefix) for t in tools]
        hint = did_you_mean(tool, offered) or f"; it offers: {', '.join(offered) or 'none'}"
        raise ConfigError(where, f"MCP server {server!r} has no tool {tool!r}{hint}")
    return found


def _used_servers(config: Config) -> list[McpServerConfig]:
    """The MCP servers some agent lists, in config order (the loader checked they exist)."""
    used = {
        parsed[0]
        for agent in config.agents.values()
        for ref in agent.tools
        if isinstance(ref, str) and (parsed := parse_mcp_ref(ref)) is not None
    }
    return [server for name, server in config.mcp_servers.items() if name in used]


# ------------------------------------------------------------ opening


@asynccontextmanager
async def open_toolset(
    config: Config,
    *,
    library: Iterable[object] = (),
    workspace: str | os.PathLike[str] | None = None,
    open_mcp: McpOpener | None = None,
) -> AsyncIterator[Toolset]:
    """Resolve every agent's tools, start the MCP servers they use, and stop them on exit.

    Args:
        config: the loaded config (its agents' ``tools`` and its ``mcp_servers``).
        library: library tools: functions (see ``library_tool``) or :class:`Tool` objects.
        workspace: the folder the workspace tools may read; ``None``: they are not offered.
        open_mcp: starts one MCP server (default: through the ``mcp`` SDK).

    Raises:
        ConfigError: an unknown tool name (naming ``agents.NAME.tools[i]``), two
            tools of one name, or a bad ``library`` entry or workspace. An MCP
            server that does not start is not an error here: the agents using it
            get a box whose ``unavailable`` says why, and ``warnings`` a line.
    """
    root = None if workspace is None else check_workspace(workspace, "workspace")
    named = library_tools(library)
    wanted = any(
        isinstance(ref, str) and ref in WORKSPACE_TOOL_NAMES
        for agent in config.agents.values()
        for ref in agent.tools
    )
    offered = None
    if root is not None and wanted:
        try:
            offered = {tool.spec.name: tool for tool in workspace_tools(root)}
        except (ValueError, RuntimeError) as exc:  # a folder that vanished; no openat
            raise ConfigError("workspace", str(exc)) from None
    sources = _Sources(config, named, offered)
    missing = [a.name for a in config.agents.values() if _resolve(a, sources)[1]]
    servers = _used_servers(config)
    async with open_servers(servers, open_mcp or open_mcp_server) as (running, refused):
        sources.mcp, sources.refused = running, refused
        boxes = {
            agent.name: _resolve(agent, sources)[0]
            for agent in config.agents.values()
            if agent.tools
        }
        started = tuple(s.name for s in servers if s.name in running)
        yield Toolset(boxes, started, _warnings(missing, refused, boxes))


def _warnings(
    missing: Sequence[str], refused: Mapping[str, str], boxes: Mapping[str, ToolBox]
) -> tuple[str, ...]:
    lines = []
    if missing:
        lines.append(
            f"workspace tools are not offered to {', '.join(missing)}: no workspace"
            " (run with --workspace DIR)"
        )
    for reason in refused.values():
        agents = [name for name, box in boxes.items() if reason in box.unavailable]
        lines.append(f"{reason} (steps of {', '.join(agents)} will fail)")
    return tuple(lines)


publish(globals())
