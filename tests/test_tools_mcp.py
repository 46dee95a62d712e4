"""MCP servers as tool sources: real servers (tests/mcp_servers) over stdio and streamable HTTP.

Each server is a subprocess started with ``sys.executable``; it imports the
``mcp`` SDK, which takes about a second, so each test starts one server at most
and checks the whole of one behaviour with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    TextContent,
)

from claude_force_trio._config._model import McpServerConfig
from claude_force_trio._tools import ToolError, ToolOutput
from claude_force_trio._tools._mcp import McpTool, open_mcp_server
from claude_force_trio._tools._mcp_output import api_tool_name, api_tool_names, tool_output

from .net_support import closed_port

pytestmark = pytest.mark.anyio

SERVERS = Path(__file__).parent / "mcp_servers"
BASIC = str(SERVERS / "mcp_server_basic.py")
SECRET = "fake-key-api03-mcp-test-secret"


def stdio(name: str, *args: str, env: Mapping[str, str] | None = None) -> McpServerConfig:
    """A stdio server config running ``sys.executable ARGS``."""
    return McpServerConfig(name=name, command=sys.executable, args=args, env=env or {})


def by_name(tools: list[McpTool]) -> dict[str, McpTool]:
    """The tools by the name the model calls them."""
    return {tool.spec.name: tool for tool in tools}


@contextmanager
def http_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The basic server serving streamable HTTP on a port the OS picked, and its URL."""
    with subprocess.Popen(
        [sys.executable, BASIC, "--http"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as server:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield server, f"http://127.0.0.1:{port}/mcp"
        server.terminate()


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """The URL of one HTTP server shared by the module's tests."""
    with http_server() as (_, url):
        yield url


# -- names and results, without a server ------------------------------------------


def test_api_names_are_sanitised_and_capped() -> None:
    """Names become SERVER__TOOL, reduced to [a-zA-Z0-9_-] and 64 characters."""
    assert api_tool_name("git hub", "repo/search.v2") == "git_hub__repo_search_v2"
    assert api_tool_name("s", "x" * 100) == "s__" + "x" * 61


def test_colliding_names_are_refused_naming_both() -> None:
    """Two tools that sanitise to one API name raise an error naming both."""
    with pytest.raises(ToolError, match=r"'srv': tools 'a\.b' and 'a b' both become 'srv__a_b'"):
        api_tool_names("srv", ["a.b", "a b"])


def test_results_map_to_api_blocks() -> None:
    """Blocks the API takes are mapped; others become a note; text-only joins."""
    blob = BlobResourceContents(uri="file:///x.bin", blob="AAAA", mime_type="application/zip")
    result = CallToolResult(
        content=[
            TextContent(type="text", text="hello"),
            ImageContent(type="image", data="AAAA", mime_type="image/webp"),
            ImageContent(type="image", data="AAAA", mime_type="image/bmp"),
            AudioContent(type="audio", data="AAAA", mime_type="audio/wav"),
            EmbeddedResource(type="resource", resource=blob),
        ],
        is_error=True,
    )
    left_out = "left out: not accepted in a tool result"
    assert tool_output(result) == ToolOutput(
        content=[
            {"type": "text", "text": "hello"},
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/webp", "data": "AAAA"},
            },
            {
                "type": "text",
                "text": "[image content (image/bmp) left out: not accepted in a tool result]",
            },
            {
                "type": "text",
                "text": "[audio content (audio/wav) left out: not accepted in a tool result]",
            },
            {"type": "text", "text": f"[resource content (application/zip) {left_out}]"},
        ],
        is_error=True,
    )
    structured = CallToolResult(content=[], structured_content={"n": 1})
    assert tool_output(structured) == ToolOutput(content='{"n": 1}')


# -- a stdio server -----------------------------------------------------------------


async def test_tools_listed_called_and_stopped(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Tools carry the server's schema; calls map results; cancelling stops the process."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    env = {"ANTHROPIC_AUTH_TOKEN": SECRET, "GREETING": "hi"}
    with anyio.fail_after(30), anyio.CancelScope() as outer:
        async with open_mcp_server(stdio("basic", BASIC, env=env)) as listed:
            tools = by_name(listed)
            assert list(tools) == [  # every page of tools/list (four a page)
                *("basic__add", "basic__echo_upper", "basic__resources", "basic__fail"),
                *("basic__sleep", "basic__cancelled", "basic__crash", "basic__image"),
                *("basic__getenv", "basic__pid", "basic__shout"),
            ]
            add = tools["basic__add"]
            assert (add.server, add.remote_name) == ("basic", "add")
            assert add.spec.input_schema["required"] == ["a", "b"]
            assert add.spec.description == "Add two integers."
            assert not add.spec.side_effects  # readOnlyHint
            assert tools["basic__fail"].spec.side_effects  # MCP's default: not read-only
            assert tools["basic__echo_upper"].remote_name == "echo.upper"

            assert await add.call({"a": 2, "b": 3}) == ToolOutput("5")
            assert await tools["basic__echo_upper"].call({"text": "hey"}) == ToolOutput("HEY")
            assert await tools["basic__fail"].call({"reason": "no such file"}) == ToolOutput(
                "Error executing tool fail: no such file", is_error=True
            )
            bad_input = await add.call({"a": "x"})
            assert bad_input.is_error
            assert await tools["basic__resources"].call({}) == ToolOutput(
                "see\nembedded text\n[resource notes: file:///notes.txt]"
            )
            image = await tools["basic__image"].call({})
            assert isinstance(image.content, list)
            assert image.content[0]["source"]["media_type"] == "image/png"
            getenv = tools["basic__getenv"]
            assert await getenv.call({"name": "ANTHROPIC_API_KEY"}) == ToolOutput("<unset>")
            assert await getenv.call({"name": "ANTHROPIC_AUTH_TOKEN"}) == ToolOutput("<unset>")
            assert await getenv.call({"name": "GREETING"}) == ToolOutput("hi")
            assert await tools["basic__shout"].call({"text": "noise on stderr"}) == ToolOutput("ok")
            pid = int(str((await tools["basic__pid"].call({})).content))
            async with anyio.create_task_group() as group:
                group.start_soon(tools["basic__sleep"].call, {"seconds": 60})
                await anyio.lowlevel.checkpoint()
                outer.cancel()
    assert outer.cancelled_caught
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    out, err = capfd.readouterr()
    assert "noise on stderr" not in out + err
    assert "basic server starting" not in out + err


async def test_cancelled_call_then_crash() -> None:
    """A cancelled call cancels its request; a crash fails this and later calls at once."""

    async def cancel_crash_then_raise() -> None:
        async with open_mcp_server(stdio("basic", BASIC)) as listed:
            tools = by_name(listed)
            with anyio.move_on_after(0.2) as timeout:
                await tools["basic__sleep"].call({"seconds": 60})
            assert timeout.cancelled_caught
            assert await tools["basic__cancelled"].call({}) == ToolOutput("1")

            with pytest.raises(ToolError, match=r"^MCP server 'basic' exited$"):
                await tools["basic__crash"].call({})
            with (
                anyio.fail_after(1),
                pytest.raises(ToolError, match=r"^MCP server 'basic' exited$"),
            ):
                await tools["basic__add"].call({"a": 1, "b": 2})
            # The caller's own errors leave the context as themselves, not in a group.
            raise KeyError("the caller's own")

    with anyio.fail_after(30), pytest.raises(KeyError, match="the caller's own"):
        await cancel_crash_then_raise()


# -- servers that do not start ------------------------------------------------------

EXITS = "import sys; sys.stderr.write('warming up\\nboom: bad config\\n'); sys.exit(3)"
HANGS = "import sys; sys.stdin.read()"


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (
            stdio("bad", "-c", EXITS),
            r"^MCP server 'bad' exited during start-up \(stderr: boom: bad config\)$",
        ),
        (stdio("mute", "-c", HANGS), r"^MCP server 'mute' did not initialise within 0\.2 s$"),
        (
            McpServerConfig(name="gone", command="/nonexistent/mcp-server"),
            r"^MCP server 'gone': command not found: '/nonexistent/mcp-server'$",
        ),
        (McpServerConfig(name="empty"), r"^MCP server 'empty' has neither a command nor a url$"),
    ],
    ids=["exits", "never-initialises", "missing-command", "no-command"],
)
async def test_start_failures_raise_one_line(cfg: McpServerConfig, message: str) -> None:
    """A server that cannot start raises ToolError from the entry, naming it."""
    entered = False
    with anyio.fail_after(10):
        with pytest.raises(ToolError, match=message):
            async with open_mcp_server(cfg, start_timeout_s=0.2):
                entered = True
    assert not entered


@pytest.mark.slow
async def test_colliding_tools_fail_the_start() -> None:
    """Tools of one server that sanitise to one name fail its start, naming both."""
    with anyio.fail_after(30):
        with pytest.raises(
            ToolError,
            match=r"^MCP server 'basic': tools 'echo\.upper' and 'echo_upper' both become "
            r"'basic__echo_upper' \(names are reduced to \[a-zA-Z0-9_-\], at most 64 characters\)$",
        ):
            async with open_mcp_server(stdio("basic", BASIC, "--collide")):
                pass


async def test_missing_sdk_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the mcp package the entry says which extra to install."""
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(ToolError, match=r"^MCP server 'x' needs the mcp package: pip install"):
        async with open_mcp_server(stdio("x", BASIC)):
            pass


# -- streamable HTTP ----------------------------------------------------------------

# The SDK's streamable HTTP client leaves httpx2's response iterators un-closed
# when it cancels its own tasks at close; trio reports each as an unraisable
# ResourceWarning (ignored by Python's default filters, an error here).
sdk_http_leaks = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object "
    "(PoolByteStream|Response|EventSource):pytest.PytestUnraisableExceptionWarning"
)


@sdk_http_leaks
async def test_streamable_http_server(http_url: str) -> None:
    """A url server lists and calls tools like a stdio one."""
    with anyio.fail_after(30):
        async with open_mcp_server(McpServerConfig(name="web", url=http_url)) as listed:
            tools = by_name(listed)
            assert await tools["web__add"].call({"a": 20, "b": 22}) == ToolOutput("42")
            with anyio.move_on_after(0.2):
                await tools["web__sleep"].call({"seconds": 60})
            assert await tools["web__add"].call({"a": 1, "b": 1}) == ToolOutput("2")


async def test_unreachable_url_fails_the_start() -> None:
    """A url nothing listens on raises ToolError from the entry, naming the server."""
    url = f"http://127.0.0.1:{closed_port()}/mcp"
    with anyio.fail_after(10):
        with pytest.raises(ToolError, match=r"^MCP server 'web' failed to start \(ConnectError"):
            async with open_mcp_server(McpServerConfig(name="web", url=url)):
                pass


@pytest.mark.slow
@sdk_http_leaks
# trio only: when the server dies, the SDK leaves its streamable-HTTP async
# generators unclosed (the warnings filtered above), and asyncio closes leftover
# async generators when its loop shuts down; on a CI machine that shutdown once
# never returned, holding the whole slow session until its time ran out. The
# behaviour under test is ours and the same on both backends.
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_http_server_dying_mid_run() -> None:
    """A url server that goes away fails calls with ToolError; the run goes on."""
    with http_server() as (server, url):
        with anyio.fail_after(30):
            async with open_mcp_server(McpServerConfig(name="web", url=url)) as listed:
                tools = by_name(listed)
                assert await tools["web__add"].call({"a": 1, "b": 2}) == ToolOutput("3")
                server.kill()
                server.wait()
                # Which reason comes first is a race of the SDK's tasks; both name it.
                gone = r"^MCP server 'web' (is unreachable \(ConnectError|closed the connection$)"
                with pytest.raises(ToolError, match=gone):
                    await tools["web__add"].call({"a": 1, "b": 2})
                with anyio.fail_after(1), pytest.raises(ToolError, match=gone):
                    await tools["web__add"].call({"a": 1, "b": 2})
