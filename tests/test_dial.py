"""Opening a connection's TCP stream: an IP address directly, a host name through anyio.

On trio and on asyncio. The direct path must behave as ``anyio.connect_tcp``
does where the pool can tell: a usable stream with Nagle off, and a refused or
impossible connect raised as an ``OSError`` with its errno and no socket left open.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from claude_force_trio._api._dial import open_tcp

from .net_support import closed_port

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def echo_server(host: str) -> AsyncIterator[int]:
    """Echo one message per connection on ``host``; yield the port."""
    listener = await anyio.create_tcp_listener(local_host=host)
    port: int = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def echo(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.send(await stream.receive())

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, echo)
        yield port
        group.cancel_scope.cancel()


@asynccontextmanager
async def dialled(host: str, port: int) -> AsyncIterator[anyio.abc.SocketStream]:
    """``open_tcp``'s stream, closed after; the socket it hands back is the stream's own."""
    stream, sock = await open_tcp(host, port)
    async with stream:
        assert sock.fileno() == stream.extra(anyio.abc.SocketAttribute.raw_socket).fileno()
        yield stream


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        pytest.param(
            "::1", marks=pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
        ),
    ],
)
async def test_an_address_connects_without_anyios_race(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_race(*args: object, **kwargs: object) -> None:
        raise AssertionError("an IP address needs no happy eyeballs")

    monkeypatch.setattr(anyio, "connect_tcp", no_race)
    async with echo_server(host) as port, dialled(host, port) as stream:
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert stream.extra(anyio.abc.SocketAttribute.remote_port) == port
        await stream.send(b"ping")
        assert await stream.receive() == b"ping"


async def test_a_host_name_goes_through_anyios_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, int]] = []
    connect = anyio.connect_tcp

    async def spy(host: str, port: int) -> anyio.abc.SocketStream:
        asked.append((host, port))
        return await connect(host, port)

    monkeypatch.setattr(anyio, "connect_tcp", spy)
    async with echo_server("127.0.0.1") as port, dialled("localhost", port) as stream:
        await stream.send(b"ping")
        assert await stream.receive() == b"ping"
    assert asked == [("localhost", port)]


async def test_a_refused_connect_keeps_its_errno_and_leaves_no_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = closed_port()
    made: list[socket.socket] = []
    real = socket.socket

    def tracked(*args: int) -> socket.socket:
        made.append(real(*args))
        return made[-1]

    monkeypatch.setattr(socket, "socket", tracked)
    with pytest.raises(ConnectionRefusedError) as info:
        await open_tcp("127.0.0.1", port)
    assert info.value.errno == errno.ECONNREFUSED
    assert [sock.fileno() for sock in made] == [-1]  # closed


async def test_a_socket_the_os_refuses_is_raised_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """EMFILE at ``socket()`` reaches the pool unchanged (it tells local exhaustion apart)."""

    def exhausted(*args: int) -> socket.socket:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(socket, "socket", exhausted)
    with pytest.raises(OSError, match="Too many open files") as info:
        await open_tcp("127.0.0.1", 1)
    assert info.value.errno == errno.EMFILE


async def test_a_connect_not_settled_at_once_waits_until_writable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """To loopback a connect has settled when ``connect`` returns; elsewhere it is waited for."""
    waits: list[socket.socket] = []
    wait_writable = anyio.wait_writable

    class NotYet(socket.socket):
        """Reports "not connected yet" once, as a connect to a distant host would."""

        asked = 0

        def getpeername(self) -> object:
            NotYet.asked += 1
            if NotYet.asked == 1:
                raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
            return super().getpeername()

    async def spy(sock: socket.socket) -> None:
        waits.append(sock)
        await wait_writable(sock)

    async with echo_server("127.0.0.1") as port:
        monkeypatch.setattr(socket, "socket", NotYet)
        monkeypatch.setattr(anyio, "wait_writable", spy)
        async with dialled("127.0.0.1", port) as stream:
            await stream.send(b"ping")
            assert await stream.receive() == b"ping"
    assert len(waits) == 1


@pytest.fixture
def under_way(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[socket.socket]]:
    """Call it (once the event loop runs): from then on every socket made reports "in
    progress" and never settles; the list it returns holds them."""
    made: list[socket.socket] = []

    class UnderWay(socket.socket):
        """A connect that reports "in progress" (one to loopback may settle at once)."""

        def connect(self, address: object) -> None:
            raise BlockingIOError(errno.EINPROGRESS, "Operation now in progress")

    def tracked(*args: int) -> socket.socket:
        made.append(UnderWay(*args))
        return made[-1]

    async def never(*args: object, **kwargs: object) -> None:
        await anyio.sleep_forever()

    def arm() -> list[socket.socket]:
        monkeypatch.setattr(socket, "socket", tracked)
        monkeypatch.setattr(anyio, "wait_writable", never)
        monkeypatch.setattr(anyio, "connect_tcp", never)  # a name: anyio's connect, never done
        return made

    return arm


async def test_a_cancelled_connect_closes_its_socket(
    under_way: Callable[[], list[socket.socket]],
) -> None:
    made = under_way()
    with anyio.move_on_after(0.01) as scope:
        await open_tcp("127.0.0.1", 1)
    assert scope.cancelled_caught
    assert [sock.fileno() for sock in made] == [-1]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_connect_past_its_deadline_times_out_and_closes_its_socket(
    host: str, under_way: Callable[[], list[socket.socket]]
) -> None:
    """Never settled by the deadline: ``TimeoutError``, and no socket left open."""
    made = under_way()
    with pytest.raises(TimeoutError):
        await open_tcp(host, 1, deadline=anyio.current_time() + 0.01)
    assert [sock.fileno() for sock in made] == ([-1] if host == "127.0.0.1" else [])
