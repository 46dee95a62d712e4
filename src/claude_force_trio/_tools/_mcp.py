"""Tools from MCP servers, through the official ``mcp`` SDK (the optional extra ``mcp``).

:func:`open_mcp_server` starts one server of ``mcp_servers`` (a command over
stdio, or a streamable HTTP ``url``), initialises the session, lists its tools
(every page) and yields one :class:`McpTool` per tool; leaving the context closes
the session and stops the process (the SDK's shutdown: stdin closed, then
SIGTERM, then SIGKILL, each bounded), also when the caller is cancelled.

Why the session runs in a task of its own: the SDK's transports run their
pipes in task groups, and a failed transport (an HTTP server that went away)
raises out of its task group and would cancel whatever ran inside it — the
whole workflow. Here the caller's code never runs inside the SDK's task
groups: a lost connection only marks the server dead, calls in flight are
cancelled and every call then raises :class:`ToolError` ("MCP server 'x'
exited"), which fails one tool call, not the run.

Failures name the server in one line: the package is missing, the command is
not found, the server exits or does not initialise within ``start_timeout_s``
(these raise :class:`ToolError` from the context manager's entry, with the
last line the server wrote to stderr), a tool call fails (``ToolError``; an
``isError`` result is an ordinary :class:`ToolOutput` with ``is_error``). A call
is bounded by the caller's cancel scope (the step's tool timeout): the SDK then
sends ``notifications/cancelled`` and the session stays usable.

The server process gets a minimal environment (the SDK's: ``HOME``, ``PATH``,
``USER``…) plus ``env`` — never ``ANTHROPIC_API_KEY`` nor ``ANTHROPIC_AUTH_TOKEN``,
even if ``env`` names them. Its stderr goes to a bounded tail and the debug log
(``_mcp_stderr``), never to our stdout. A tool is side-effect free (cacheable)
only if the server marks it ``readOnlyHint``, as MCP's defaults say.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from ._base import ToolError, ToolOutput, ToolSpec
from ._mcp_output import api_tool_names, tool_output
from ._mcp_stderr import StderrTail

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp.client._transport import TransportStreams
    from mcp.types import Tool as McpToolInfo

    from .._config._model import McpServerConfig

__all__ = ["McpTool", "open_mcp_server"]

#: Variables a server never gets, whatever its ``env`` says: they are our credentials.
_SECRET_ENV = frozenset({"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"})
_MAX_PAGES = 1000
_MAX_REASON = 300
#: How long a server that failed to start may take to finish writing its stderr.
_STDERR_SETTLE_S = 0.5


@asynccontextmanager
async def open_mcp_server(
    cfg: McpServerConfig, *, start_timeout_s: float = 30.0
) -> AsyncIterator[list[McpTool]]:
    """Start (or connect to) one MCP server and yield its tools.

    Args:
        cfg: the server (``mcp_servers.NAME``): ``command``/``args``/``env`` for
            stdio, or ``url`` for streamable HTTP.
        start_timeout_s: the most start-up may take: initialising the session
            and listing every page of tools.

    Raises:
        ToolError: the server could not be started (from the entry).
    """
    _require_sdk(cfg.name)
    connection = _Connection(cfg, start_timeout_s)
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        await group.start(connection.serve)
        if connection.start_error is None:
            try:
                yield connection.tools
            except Exception as exc:  # re-raised below, outside the task group
                failure = exc
            finally:
                group.cancel_scope.cancel()
    if connection.start_error is not None:
        raise connection.start_error
    if failure is not None:
        raise failure


@dataclass(frozen=True, slots=True)
class McpTool:
    """One tool of an MCP server, as the engine runs it.

    Attributes:
        spec: what the model is told (its name is ``SERVER__TOOL``, sanitised).
        server: the server's name in ``mcp_servers``.
        remote_name: the tool's own name on the server.
    """

    spec: ToolSpec
    server: str
    remote_name: str
    _connection: _Connection = field(repr=False, compare=False)

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutput:
        """Call the tool on its server (``tools/call``)."""
        return await self._connection.call(self.remote_name, arguments)


class _Connection:
    """One server's session, kept by :meth:`serve` in a task of its own."""

    def __init__(self, cfg: McpServerConfig, start_timeout_s: float) -> None:
        self._cfg = cfg
        self._name = cfg.name
        self._start_timeout_s = start_timeout_s
        self._stderr = StderrTail(cfg.name) if cfg.url is None else None
        self._session: ClientSession | None = None
        self._calls: set[anyio.CancelScope] = set()
        self._failure: str | None = None
        self.tools: list[McpTool] = []
        self.start_error: ToolError | None = None

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Start the server, report readiness, keep the session until cancelled.

        Never raises but for cancellation: a start-up failure is left in
        ``start_error`` (and readiness reported), a later one marks the server dead.
        """
        message: str | None = None
        try:
            async with anyio.create_task_group() as pipes:
                if self._stderr is not None:
                    pipes.start_soon(self._stderr.drain)
                failure = await self._connect(task_status)
                if failure is not None:
                    message = self._start_failure(failure)
                    # The server's own last words, unless the refusal is ours.
                    if self._stderr is not None and not isinstance(failure, ToolError):
                        message += await self._stderr_reason()
                pipes.cancel_scope.cancel()
        finally:
            self._die(f"MCP server {self._name!r} was stopped")
        if message is not None:
            self.start_error = ToolError(message)
            task_status.started()

    async def _connect(self, task_status: anyio.abc.TaskStatus[None]) -> Exception | None:
        """Run the session; why start-up failed, or ``None`` once it ran."""
        from mcp import ClientSession

        started = False
        try:
            async with self._transport() as (read, write), ClientSession(read, write) as session:
                self._spawned()
                failure = await self._start(session)
                if failure is not None:
                    return failure
                self._session = session
                started = True
                task_status.started()
                await anyio.sleep_forever()
        except BaseException as exc:  # the SDK's failures, mapped here, at the edge
            outcome = _failure_or_cancellation(exc)
            if outcome is None:
                raise
            if not isinstance(outcome, Exception):  # we are being stopped: the rest is moot
                raise outcome from None
            if not started:
                return outcome
            self._die(f"MCP server {self._name!r} is unreachable ({_describe(outcome)})")
        finally:
            self._spawned()
        return None

    def _transport(self) -> AbstractAsyncContextManager[TransportStreams]:
        """The SDK transport for the server: stdio for a command, else streamable HTTP."""
        if self._cfg.url is not None:
            from mcp.client.streamable_http import streamable_http_client

            return streamable_http_client(self._cfg.url)
        if not self._cfg.command or self._stderr is None:
            raise ToolError(f"MCP server {self._name!r} has neither a command nor a url")
        from mcp.client.stdio import StdioServerParameters, stdio_client

        env = {key: value for key, value in self._cfg.env.items() if key not in _SECRET_ENV}
        params = StdioServerParameters(
            command=self._cfg.command, args=list(self._cfg.args), env=env
        )
        return stdio_client(params, errlog=self._stderr.writer)

    def _spawned(self) -> None:
        if self._stderr is not None:
            self._stderr.spawned()

    async def _start(self, session: ClientSession) -> Exception | None:
        """Initialise and list the tools within the start timeout; why not, or ``None``."""
        with anyio.move_on_after(self._start_timeout_s) as scope:
            try:
                await session.initialize()
                listed = await _list_tools(session)
                self.tools = self._make_tools(listed)
            except Exception as exc:  # the SDK's failures (or ours), mapped by the caller
                return exc
        return TimeoutError() if scope.cancelled_caught else None

    def _make_tools(self, listed: list[McpToolInfo]) -> list[McpTool]:
        names = api_tool_names(self._name, [tool.name for tool in listed])
        return [
            McpTool(
                spec=ToolSpec(
                    name=names[tool.name],
                    description=tool.description or tool.title or "",
                    input_schema={"type": "object", **tool.input_schema},
                    side_effects=not (tool.annotations and tool.annotations.read_only_hint),
                ),
                server=self._name,
                remote_name=tool.name,
                _connection=self,
            )
            for tool in listed
        ]

    def _start_failure(self, exc: Exception) -> str:
        """One line for a start-up failure of the SDK (or of ours)."""
        if isinstance(exc, ToolError):
            return str(exc)
        if isinstance(exc, TimeoutError):
            timeout = f"{self._start_timeout_s:g} s"
            return f"MCP server {self._name!r} did not initialise within {timeout}"
        if isinstance(exc, FileNotFoundError):
            return f"MCP server {self._name!r}: command not found: {self._cfg.command!r}"
        if _connection_closed(exc):
            return f"MCP server {self._name!r} {self._gone()} during start-up"
        return f"MCP server {self._name!r} failed to start ({_describe(exc)})"

    async def _stderr_reason(self) -> str:
        """`` (stderr: LAST LINE)`` once the failed server's stderr has ended."""
        assert self._stderr is not None
        with anyio.move_on_after(_STDERR_SETTLE_S):
            await self._stderr.ended.wait()
        line = self._stderr.last_line()
        return f" (stderr: {line})" if line else ""

    def _gone(self) -> str:
        return "exited" if self._cfg.url is None else "closed the connection"

    def _die(self, reason: str) -> None:
        """Mark the server dead (first reason wins) and end the calls in flight."""
        if self._failure is None:
            self._failure = reason
        self._session = None
        for scope in self._calls:
            scope.cancel()

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> ToolOutput:
        """``tools/call`` on the session; dead or failing servers raise :class:`ToolError`."""
        session = self._session
        if session is None:
            raise ToolError(self._reason())
        with anyio.CancelScope() as scope:
            self._calls.add(scope)
            try:
                return tool_output(await session.call_tool(tool, dict(arguments)))
            except Exception as exc:  # the SDK's failures, mapped here, at the edge
                if _connection_closed(exc):
                    self._die(f"MCP server {self._name!r} {self._gone()}")
                    raise ToolError(self._reason()) from exc
                raise ToolError(
                    f"MCP server {self._name!r}, tool {tool!r}: {_describe(exc)}"
                ) from exc
            finally:
                self._calls.discard(scope)
        raise ToolError(self._reason())  # the server died while the call waited

    def _reason(self) -> str:
        return self._failure or f"MCP server {self._name!r} is not running"


async def _list_tools(session: ClientSession) -> list[McpToolInfo]:
    """Every page of ``tools/list``, refusing a listing that never ends."""
    from mcp.types import PaginatedRequestParams

    tools: list[McpToolInfo] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        params = PaginatedRequestParams(cursor=cursor) if cursor is not None else None
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools
        if cursor in seen:
            raise ToolError(f"tools/list repeats the cursor {cursor!r}")
        seen.add(cursor)
    raise ToolError(f"tools/list has more than {_MAX_PAGES} pages")


def _require_sdk(server: str) -> None:
    try:
        import mcp  # noqa: F401
    except ImportError as exc:
        raise ToolError(
            f"MCP server {server!r} needs the mcp package: pip install 'claude-force-trio[mcp]'"
        ) from exc


def _connection_closed(exc: Exception) -> bool:
    from mcp import MCPError
    from mcp.types import CONNECTION_CLOSED

    return isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED


def _failure_or_cancellation(exc: BaseException) -> BaseException | None:
    """The SDK's failure (an ``Exception``), or our cancellation, in ``exc``; else ``None``.

    A transport torn down by our cancellation may raise a group that holds both
    the cancellation and an error of its own tasks: the cancellation wins, so
    the cancel scope that asked for it still sees it.
    """
    cancelled_class = anyio.get_cancelled_exc_class()
    if isinstance(exc, Exception | cancelled_class):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        cancelled, rest = exc.split(cancelled_class)
        if cancelled is not None and (rest is None or isinstance(rest, Exception)):
            return _first_leaf(cancelled)
    return None


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    """``Type: message`` of the first leaf of ``exc``, one line, capped."""
    exc = _first_leaf(exc)
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON] + "…"
