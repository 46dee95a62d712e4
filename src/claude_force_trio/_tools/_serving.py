"""Running MCP servers for as long as the engine is open: started together, stopped together.

Why a task per server: an MCP session is an async context (the SDK's
``ClientSession`` over stdio or streamable HTTP) that must be entered and
left in the same task. Each server gets a task that enters it, reports its
tools, and holds it until told to stop; they start concurrently, so the
engine waits for the slowest server, not for their sum.

A server that will not start does not stop the others, nor the run: its
reason (one line naming it) is reported, and only the steps of the agents
that use it fail (``ToolBox.unavailable``). An exception of the block that
uses the servers passes as it is, never inside an exception group. A server
that fails while it is being stopped (it had died) costs a log line: its
tool calls failed already.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from anyio.abc import TaskStatus

from .._config._checks import _key_path
from .._config._model import McpServerConfig
from .._errors import ConfigError
from ._base import Tool

__all__ = ["McpOpener", "Servers", "open_servers"]

logger = logging.getLogger(__name__)

#: Opens one MCP server: its tools while the context is open.
McpOpener = Callable[[McpServerConfig], AbstractAsyncContextManager[Sequence[Tool]]]
#: The running servers' tools by name, and why each of the others did not start.
Servers = tuple[dict[str, Sequence[Tool]], dict[str, str]]


@asynccontextmanager
async def open_servers(
    servers: Sequence[McpServerConfig], open_mcp: McpOpener
) -> AsyncIterator[Servers]:
    """Start ``servers`` concurrently; until the block ends, their tools and who did not start.

    Any exception of the block is raised outside the task group, as it is, so
    callers never see an exception group.
    """
    if not servers:
        yield {}, {}
        return
    running: dict[str, Sequence[Tool]] = {}
    refused: dict[str, str] = {}
    stop = anyio.Event()
    failure: BaseException | None = None
    async with anyio.create_task_group() as group:

        async def start(server: McpServerConfig) -> None:
            try:
                running[server.name] = await group.start(_serve, open_mcp, server, stop)
            except Exception as exc:
                refused[server.name] = _not_started(server, exc)

        try:
            async with anyio.create_task_group() as starting:
                for server in servers:
                    starting.start_soon(start, server)
            ordered = {s.name: running[s.name] for s in servers if s.name in running}
            yield ordered, {s.name: refused[s.name] for s in servers if s.name in refused}
        except BaseException as exc:  # re-raised below, outside the task group
            failure = exc
        finally:
            stop.set()
    if failure is not None:
        try:
            raise failure
        finally:
            del failure


async def _serve(
    open_mcp: McpOpener,
    server: McpServerConfig,
    stop: anyio.Event,
    *,
    task_status: TaskStatus[Sequence[Tool]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Hold ``server`` open until ``stop``; report its tools once it runs."""
    started = False
    try:
        async with open_mcp(server) as tools:
            task_status.started(list(tools))
            started = True
            await stop.wait()
    except Exception as exc:
        if not started:
            raise
        # Stopping failed (it had died, or would not close): its calls failed
        # already; the engine's other work must not.
        logger.warning("MCP server %r: %s", server.name, _reason(exc))


def _not_started(server: McpServerConfig, exc: BaseException) -> str:
    where = server.path or _key_path("mcp_servers", server.name)
    return f"{where}: MCP server {server.name!r} did not start: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    """One line for what went wrong: the first real error inside any group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = exc.message if isinstance(exc, ConfigError) else str(exc)
    line = " ".join(text.split())
    return line or type(exc).__name__
