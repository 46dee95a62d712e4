"""The pool's HTTP/1.1 connection on trio's virtual clock: read and write deadlines, exactly.

Apart from ``test_connection`` because those tests run on both of anyio's
backends, and only trio (through pytest-trio) gives ``MockClock``.
"""

from __future__ import annotations

import contextlib
import errno
import math
import socket

import anyio
import anyio.abc
import httpx
import pytest
import trio
import trio.testing

from claude_force_trio._api._transport import PooledTransport

from .test_connection import read_request, server


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps ahead whenever every task is waiting."""
    return trio.testing.MockClock(autojump_threshold=0)


async def test_read_timeout_fires_at_its_exact_time(autojump_clock: trio.testing.MockClock) -> None:
    """A server that never answers: ReadTimeout exactly ``read`` seconds after the request."""

    async def silent(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)
        await anyio.sleep_forever()

    pool = PooledTransport(max_connections=1)
    timeout = httpx.Timeout(5.0, read=7.5)
    async with server(silent) as url, httpx.AsyncClient(transport=pool, timeout=timeout) as http:
        start = trio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url + "/")
        assert trio.current_time() - start == pytest.approx(7.5)
        assert pool.open_connections == 0


async def test_write_timeout_fires_when_the_server_stops_reading(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A body the server never reads fills the socket buffers: WriteTimeout at ``write`` s."""

    async def deaf(stream: anyio.abc.ByteStream) -> None:
        await anyio.sleep_forever()

    pool = PooledTransport(max_connections=1)
    timeout = httpx.Timeout(5.0, write=3.0)
    payload = b"x" * (64 * 1024 * 1024)
    async with server(deaf) as url, httpx.AsyncClient(transport=pool, timeout=timeout) as http:
        start = trio.current_time()
        with pytest.raises(httpx.WriteTimeout):
            await http.post(url + "/", content=payload)
        assert trio.current_time() - start == pytest.approx(3.0)


async def stalls(stream: anyio.abc.ByteStream) -> None:
    """A head, two of its body's ten bytes a second later, then silence."""
    await read_request(stream)
    await stream.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
    await anyio.sleep(1.0)
    await stream.send(b"{}")
    await anyio.sleep_forever()


async def test_body_read_timeout_fires_at_its_exact_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A head, part of the body, then silence: ReadTimeout ``read`` seconds after the last bytes."""

    pool = PooledTransport(max_connections=1)
    timeout = httpx.Timeout(5.0, read=2.5)
    async with server(stalls) as url, httpx.AsyncClient(transport=pool, timeout=timeout) as http:
        async with http.stream("GET", url + "/") as response:
            start = trio.current_time()
            with pytest.raises(httpx.ReadTimeout):
                await response.aread()
            assert trio.current_time() - start == 1.0 + 2.5
        assert pool.open_connections == 0


@pytest.fixture
def scopes_made(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The deadline of every unshielded ``anyio.CancelScope`` the library makes, in order."""
    made: list[float] = []
    real = anyio.CancelScope

    def counting(*, deadline: float = math.inf, shield: bool = False) -> anyio.CancelScope:
        if not shield:  # a shield protects a close; it is no timeout
            made.append(deadline)
        return real(deadline=deadline, shield=shield)

    monkeypatch.setattr(anyio, "CancelScope", counting)  # what the library looks up
    return made


async def silent(stream: anyio.abc.ByteStream) -> None:
    """Reads the request, never answers."""
    await read_request(stream)
    await anyio.sleep_forever()


@pytest.mark.parametrize(
    ("caller", "stopped_at", "timed_out", "scopes"),
    [
        (2.0, 2.0, False, []),  # loopback connects at once; the caller's deadline does the rest
        (60.0, 7.5, True, [math.inf]),  # the exchange's
    ],
)
async def test_the_sooner_of_the_caller_deadline_and_the_read_timeout_stops_a_request(
    autojump_clock: trio.testing.MockClock,
    scopes_made: list[float],
    caller: float,
    stopped_at: float,
    timed_out: bool,
    scopes: list[float],
) -> None:
    """A 7.5 s read timeout under a caller's 2 s (no scope of its own) or 60 s (ReadTimeout)."""
    pool = PooledTransport(max_connections=1)
    timeout = httpx.Timeout(5.0, read=7.5)
    async with server(silent) as url, httpx.AsyncClient(transport=pool, timeout=timeout) as http:
        with trio.move_on_after(caller) as scope:
            try:
                await http.get(url + "/")
            except httpx.ReadTimeout:
                assert timed_out
            else:  # pragma: no cover - the request never succeeds
                raise AssertionError("the silent server answered")
        assert scope.cancelled_caught is not timed_out
        assert trio.current_time() == stopped_at
        assert scopes_made == scopes
        assert pool.open_connections == 0  # cut short: not reused


@pytest.mark.parametrize(
    ("read", "caller", "stopped_at", "body_scopes"), [(2.5, 2.0, 2.0, 0), (1.5, 3.0, 2.5, 2)]
)
async def test_body_reads_take_whichever_deadline_comes_first(
    autojump_clock: trio.testing.MockClock,
    scopes_made: list[float],
    read: float,
    caller: float,
    stopped_at: float,
    body_scopes: int,
) -> None:
    """Two bytes at 1 s, then silence: the caller's deadline, or ``read`` after the last bytes."""

    pool = PooledTransport(max_connections=1)
    timeout = httpx.Timeout(5.0, read=read)
    async with server(stalls) as url, httpx.AsyncClient(transport=pool, timeout=timeout) as http:
        async with http.stream("GET", url + "/") as response:
            start = trio.current_time()
            made = len(scopes_made)
            with trio.move_on_after(caller), contextlib.suppress(httpx.ReadTimeout):
                await response.aread()
            assert trio.current_time() - start == stopped_at
            assert len(scopes_made) - made == body_scopes  # one per read that could time out
        assert pool.open_connections == 0


async def test_a_connect_that_never_settles_times_out_at_the_connect_timeout(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connect still "in progress": ConnectTimeout exactly ``connect`` seconds on, slot freed."""

    class UnderWay(socket.socket):
        def connect(self, address: object) -> None:
            raise BlockingIOError(errno.EINPROGRESS, "Operation now in progress")

        def getpeername(self) -> object:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")

    async def never(sock: object) -> None:
        await anyio.sleep_forever()

    monkeypatch.setattr(socket, "socket", UnderWay)
    monkeypatch.setattr(anyio, "wait_writable", never)
    pool = PooledTransport(max_connections=1)
    timeout = httpx.Timeout(30.0, connect=4.0)
    async with httpx.AsyncClient(transport=pool, timeout=timeout) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.get("http://10.255.255.1:9/")
        assert trio.current_time() == 4.0
        assert pool.open_connections == 0
