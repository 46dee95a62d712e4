"""An MCP server for the tests, written with the SDK's ``MCPServer`` (v1's FastMCP).

Run as ``python mcp_server_basic.py`` it serves over stdio; with ``--http`` it
serves streamable HTTP on 127.0.0.1 at a port the OS picks, and prints that
port on its first stdout line so the test knows where to connect. Its
``tools/list`` comes in pages of four (``MCPServer`` lists everything on one
page, so :class:`PagedServer` pages it), and with ``--collide`` it also has a
tool ``echo_upper`` next to ``echo.upper``: two names that sanitise alike.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import anyio
from mcp.server import ServerRequestContext
from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    EmbeddedResource,
    ListToolsResult,
    PaginatedRequestParams,
    ResourceLink,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)

PAGE = 4


class PagedServer(MCPServer[Any]):
    """``MCPServer`` with a paginated ``tools/list``: cursors are offsets."""

    async def _handle_list_tools(
        self, ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        start = int(params.cursor) if params is not None and params.cursor else 0
        tools = await self.list_tools()
        end = start + PAGE
        cursor = str(end) if end < len(tools) else None
        return ListToolsResult(tools=tools[start:end], next_cursor=cursor)


server = PagedServer("basic", log_level="WARNING")
#: Calls of ``sleep`` that the client cancelled (``notifications/cancelled``).
cancelled_sleeps = 0

# A one-pixel PNG, so the image tool returns real bytes.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool(name="echo.upper")
def echo_upper(text: str) -> str:
    """Echo the text in upper case (a dotted name, which the API refuses)."""
    return text.upper()


def echo_upper_alike(text: str) -> str:
    """The same as ``echo.upper``, under a name that sanitises alike."""
    return text.upper()


if "--collide" in sys.argv:
    server.add_tool(echo_upper_alike, name="echo_upper")


@server.tool()
def resources() -> list[TextContent | EmbeddedResource | ResourceLink]:
    """Return text, an embedded text resource and a resource link."""
    embedded = TextResourceContents(uri="file:///notes.txt", text="embedded text")
    return [
        TextContent(type="text", text="see"),
        EmbeddedResource(type="resource", resource=embedded),
        ResourceLink(type="resource_link", name="notes", uri="file:///notes.txt"),
    ]


@server.tool()
def fail(reason: str) -> str:
    """Always fail with the given reason (an ``isError`` result)."""
    raise ToolError(reason)


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then say so (the tests cancel it)."""
    global cancelled_sleeps
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        cancelled_sleeps += 1
        raise
    return "slept"


@server.tool()
async def cancelled() -> int:
    """How many sleeps were cancelled, waiting up to 5 s for the first one."""
    with anyio.move_on_after(5):
        while not cancelled_sleeps:
            await anyio.sleep(0.01)
    return cancelled_sleeps


@server.tool()
def crash() -> str:
    """Exit the server process at once, as a crash would."""
    os._exit(3)


@server.tool()
def image() -> Image:
    """Return a one-pixel PNG."""
    return Image(data=PIXEL, format="png")


@server.tool()
def getenv(name: str) -> str:
    """The server's value of an environment variable, or ``<unset>``."""
    return os.environ.get(name, "<unset>")


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def shout(text: str) -> str:
    """Write the text to stderr (it must never reach the client's stdout)."""
    print(text, file=sys.stderr, flush=True)
    return "ok"


async def serve_http() -> None:
    """Serve streamable HTTP on a port the OS picks, announced on stdout."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # Listening before the port is announced: a client that connects while the server
    # still starts waits in the backlog instead of being refused.
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    app = server.streamable_http_app()
    config = uvicorn.Config(app, log_level="warning")
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    print("basic server starting", file=sys.stderr, flush=True)
    if "--http" in sys.argv:
        anyio.run(serve_http)
    else:
        server.run()
