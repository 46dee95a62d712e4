"""The HTTP transport: its pool on real loopback sockets, proxies, local-failure classification.

The pool tests talk to the project's simulator (or a few lines of raw socket
server where a test needs a server that misbehaves on purpose), never to a
mock transport: what is under test is the socket handling itself.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import pytest
import trio
import trio.testing

from claude_force_trio._api._client import MessagesClient
from claude_force_trio._api._local import local_failure
from claude_force_trio._api._transport import PooledTransport, open_transport
from claude_force_trio._errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigError,
    LocalResourceError,
    LocalTimeoutError,
)
from claude_force_trio.simulator import open_simulator

from .net_support import closed_port
from .test_client import BODY

KEY = "fake-key-transport-tests"
LIMIT_S = 10.0  # real time: every test here talks to real sockets


def client_for(url: str, pool: PooledTransport, **kw: Any) -> MessagesClient:
    """A MessagesClient over ``pool``."""
    return MessagesClient(base_url=url, api_key=KEY, transport=pool, **kw)


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy variables of the machine running the tests must not redirect loopback calls."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# -- the pool -------------------------------------------------------------------------


async def test_sequential_calls_reuse_one_connection() -> None:
    """Five calls one after another go over a single kept-alive connection."""
    pool = PooledTransport(max_connections=8)
    with trio.fail_after(LIMIT_S):
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim, client_for(sim.url, pool) as c:
            for _ in range(5):
                result = await c.create(BODY)
                assert result.text
            assert (pool.open_connections, pool.idle_connections) == (1, 1)
    assert [r.status for r in sim.requests] == [200] * 5


async def test_in_flight_and_connections_never_exceed_the_limit() -> None:
    """Twelve concurrent calls on a 3-connection pool: at most 3 at the server at once."""
    pool = PooledTransport(max_connections=3)
    peak = 0
    with trio.fail_after(LIMIT_S):
        async with (
            open_simulator(ttft_ms=20, tokens_per_s=0) as sim,
            client_for(sim.url, pool) as c,
        ):

            async def one() -> None:
                nonlocal peak
                await c.create(BODY)
                peak = max(peak, pool.open_connections)

            async with trio.open_nursery() as nursery:
                for _ in range(12):
                    nursery.start_soon(one)
            assert pool.open_connections <= 3
    assert peak <= 3
    spans = [(r.started_at, r.finished_at) for r in sim.requests]
    assert len(spans) == 12
    overlapping = max(sum(s <= t < f for s, f in spans) for t, _ in spans)
    assert overlapping <= 3


async def test_expired_idle_connections_are_closed_not_reused() -> None:
    """With no keep-alive, each release closes the oldest idle connection: one stays open."""
    pool = PooledTransport(max_connections=4, keepalive_expiry_s=0.0)
    with trio.fail_after(LIMIT_S):
        async with (
            open_simulator(ttft_ms=10, tokens_per_s=0) as sim,
            client_for(sim.url, pool) as c,
        ):
            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(c.create, BODY)
            assert pool.open_connections == 1
            await c.create(BODY)  # the expired one is dropped, a fresh one opened
            assert pool.open_connections == 1
    assert [r.status for r in sim.requests] == [200] * 5


class OneShotServer:
    """Answers one request per connection, then closes it (the keep-alive promise broken)."""

    REPLY = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"

    def __init__(self) -> None:
        self.accepted = 0
        self.request_lines: list[bytes] = []

    async def handle(self, stream: trio.SocketStream) -> None:
        self.accepted += 1
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            data += chunk
        self.request_lines.append(data.split(b"\r\n", 1)[0])
        await stream.send_all(self.REPLY)
        await stream.aclose()


async def serve(nursery: trio.Nursery, server: OneShotServer) -> int:
    """Start ``server`` on a loopback port and return the port."""
    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, host="127.0.0.1"), server.handle, 0
    )
    port: int = listeners[0].socket.getsockname()[1]
    return port


async def test_a_connection_the_server_closed_is_not_reused() -> None:
    """An idle connection the server has closed is detected and replaced before sending."""
    server = OneShotServer()
    pool = PooledTransport(max_connections=2)
    with trio.fail_after(LIMIT_S):
        async with trio.open_nursery() as nursery, httpx.AsyncClient(transport=pool) as http:
            port = await serve(nursery, server)
            for _ in range(3):
                response = await http.get(f"http://127.0.0.1:{port}/")
                assert response.json() == {}
                await trio.testing.wait_all_tasks_blocked()  # let the server's close arrive
            nursery.cancel_scope.cancel()
    assert server.accepted == 3


async def test_pool_timeout_is_a_local_timeout() -> None:
    """A request that cannot get one of our own connections in time fails as LocalTimeoutError."""
    pool = PooledTransport(max_connections=1)
    timeout = httpx.Timeout(5.0, pool=0.05)
    with trio.fail_after(LIMIT_S):
        async with (
            open_simulator(ttft_ms=0, tokens_per_s=0) as sim,
            httpx.AsyncClient(transport=pool, timeout=timeout) as http,
        ):
            url = sim.url + "/v1/messages"
            headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
            async with http.stream("POST", url, json=BODY, headers=headers):
                with pytest.raises(httpx.PoolTimeout) as info:
                    await http.post(url, json=BODY, headers=headers)
            response = await http.post(url, json=BODY, headers=headers)  # freed again
            assert response.status_code == 200
    local = local_failure(info.value)
    assert isinstance(local, LocalTimeoutError)
    assert isinstance(local, APITimeoutError)


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A loopback port whose accept queue is full, so a new connect hangs until it times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # in progress: it sits in the backlog
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for s in [*fillers, server]:
        s.close()


async def test_loopback_connect_timeout_is_local(full_backlog: int) -> None:
    """A connect timeout to loopback is this machine's stall: LocalTimeoutError at the edge."""
    pool = PooledTransport(max_connections=2)
    url = f"http://127.0.0.1:{full_backlog}"
    with trio.fail_after(LIMIT_S):
        async with client_for(url, pool, connect_timeout_s=0.2) as c:
            with pytest.raises(LocalTimeoutError) as info:
                await c.create(BODY)
    assert isinstance(info.value.__cause__, httpx.ConnectTimeout)
    assert pool.open_connections == 0


async def test_refused_connection_is_the_servers_failure() -> None:
    """Connection refused (nobody listening) is a plain APIConnectionError, not a local one."""
    port = closed_port()
    pool = PooledTransport(max_connections=2)
    with trio.fail_after(LIMIT_S):
        async with client_for(f"http://127.0.0.1:{port}", pool) as c:
            with pytest.raises(APIConnectionError) as info:
                await c.create(BODY)
    assert not isinstance(info.value, LocalResourceError)
    assert pool.open_connections == 0


async def test_closed_transport_refuses_requests() -> None:
    """After aclose, the pool holds nothing and refuses new requests."""
    pool = PooledTransport(max_connections=2)
    with trio.fail_after(LIMIT_S):
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim, client_for(sim.url, pool) as c:
            await c.create(BODY)
        assert pool.open_connections == 0
        with pytest.raises(RuntimeError, match="closed"):
            await pool.handle_async_request(httpx.Request("GET", sim.url))


def test_max_connections_must_be_positive() -> None:
    """A pool of no connections is refused at once."""
    with pytest.raises(ValueError, match="at least 1"):
        PooledTransport(max_connections=0)


# -- proxies from the environment -------------------------------------------------------


async def test_http_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY sends the request to the proxy, in absolute form."""
    server = OneShotServer()
    with trio.fail_after(LIMIT_S):
        async with trio.open_nursery() as nursery:
            port = await serve(nursery, server)
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
            transport = open_transport("http://api.example.test", max_connections=4)
            assert not isinstance(transport, PooledTransport)
            async with httpx.AsyncClient(transport=transport) as http:
                response = await http.post("http://api.example.test/v1/messages", json=BODY)
            assert response.status_code == 200
            nursery.cancel_scope.cancel()
    assert server.request_lines == [b"POST http://api.example.test/v1/messages HTTP/1.1"]


def test_no_proxy_exempts_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host NO_PROXY names goes direct, through the pool; others go through ALL_PROXY."""
    monkeypatch.setenv("ALL_PROXY", "http://proxy.example.test:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert isinstance(open_transport("http://127.0.0.1:9", max_connections=2), PooledTransport)
    proxied = open_transport("https://api.example.test", max_connections=2)
    assert isinstance(proxied, httpx.AsyncHTTPTransport)


def test_unusable_proxy_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy URL httpx cannot use is one ConfigError naming the variable, password hidden."""
    monkeypatch.setenv("HTTPS_PROXY", "ftp://user:s3cret@proxy.example.test")
    with pytest.raises(ConfigError) as info:
        open_transport("https://api.example.test", max_connections=2)
    assert info.value.path == "HTTPS_PROXY"
    assert "s3cret" not in str(info.value)


# -- local failures ----------------------------------------------------------------------


def connect_error(cause: BaseException) -> httpx.ConnectError:
    """An httpx ConnectError wrapping ``cause`` the way httpx and httpcore chain it."""
    core = httpcore.ConnectError(cause)
    core.__cause__ = cause
    error = httpx.ConnectError(str(core))
    error.__cause__ = core
    return error


def os_error(code: int) -> OSError:
    """An OSError as the OS raises it."""
    return OSError(code, errno.errorcode[code])


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.EADDRNOTAVAIL])
def test_resource_errnos_are_local(code: int) -> None:
    """EMFILE, ENFILE, ENOBUFS, EADDRNOTAVAIL under a ConnectError are LocalResourceError."""
    local = local_failure(connect_error(os_error(code)))
    assert isinstance(local, LocalResourceError)
    assert local.errno == code
    assert errno.errorcode[code] in str(local)


def test_errno_found_inside_trios_exception_group() -> None:
    """trio wraps a failed connect as OSError('all attempts…') from a group: still found."""
    group = ExceptionGroup("all attempts failed", [os_error(errno.EMFILE)])
    wrapper = OSError("all attempts to connect to 127.0.0.1:8080 failed")
    wrapper.__cause__ = group
    local = local_failure(connect_error(wrapper))
    assert isinstance(local, LocalResourceError)
    assert local.errno == errno.EMFILE


@pytest.mark.parametrize(
    "error",
    [
        connect_error(os_error(errno.ECONNREFUSED)),
        connect_error(os_error(errno.ECONNRESET)),
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_server_side_failures_are_not_local(error: httpx.HTTPError) -> None:
    """Refused, reset, a remote connect timeout, a read timeout: the server's, not local."""
    assert local_failure(error) is None


def test_pool_timeout_is_local() -> None:
    """Waiting for our own pool is local by definition."""
    assert isinstance(local_failure(httpx.PoolTimeout("no connection")), LocalTimeoutError)


def test_a_cyclic_chain_ends() -> None:
    """A chain that loops back on itself is walked once, without hanging."""
    first = httpx.ConnectError("a")
    second = OSError("b")
    first.__cause__ = second
    second.__context__ = first
    assert local_failure(first) is None


async def test_emfile_at_the_edge_becomes_local_resource_error() -> None:
    """A transport failing with EMFILE reaches the caller as LocalResourceError, chained."""
    error = connect_error(os_error(errno.EMFILE))

    async def handler(request: httpx.Request) -> httpx.Response:
        raise error

    async with MessagesClient(
        base_url="http://api.test", api_key=KEY, transport=httpx.MockTransport(handler)
    ) as c:
        with pytest.raises(LocalResourceError) as info:
            await c.create(BODY)
    assert info.value.__cause__ is error
    assert info.value.errno == errno.EMFILE


def test_busy_share_of_a_connect_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connect wait spent mostly on this thread's CPU counts as a busy loop; an idle one not."""
    from claude_force_trio._api import _transport as _transport

    clocks = {"perf_counter": iter([15.0]), "thread_time": iter([4.0])}
    monkeypatch.setattr(time, "perf_counter", lambda: next(clocks["perf_counter"]))
    monkeypatch.setattr(time, "thread_time", lambda: next(clocks["thread_time"]))
    assert _transport._was_busy(10.0, 1.0)  # 3 s of CPU in a 5 s wait
    clocks = {"perf_counter": iter([15.0]), "thread_time": iter([1.5])}
    assert not _transport._was_busy(10.0, 1.0)  # 0.5 s of CPU in a 5 s wait
