"""Opening a connection's TCP stream: straight to an IP address, happy eyeballs for a name.

Why not ``anyio.connect_tcp`` every time: given an IP address it has nothing to
race, yet it still opens a task group, starts a task and waits on an event for
each connect, ~155 µs of CPU against ~30 µs here (1,024 connects to loopback,
BENCHMARKS.md). A run at 1,024 in flight opens that many connections at once,
and spent a tenth of its CPU there. A connect to loopback has settled by the
time ``connect`` returns "in progress", so it is asked first and waited for
only if it has not (a park and a wake-up saved, ~10 µs). A host name
still goes through ``connect_tcp``, which resolves it and races its addresses
(RFC 8305): that is where the choice matters, and where a connect is rare next
to the TLS handshake that follows it.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import anyio
import anyio.abc

__all__ = ["open_tcp"]

T = TypeVar("T")


async def open_tcp(
    host: str, port: int, *, deadline: float = math.inf
) -> tuple[anyio.abc.SocketStream, socket.socket]:
    """A connected TCP stream to ``host:port`` (Nagle's algorithm off, as anyio's), and its socket.

    The socket comes along because asking the stream for it costs more than
    the rest of a loopback connect. Only a connect that has not settled at once
    waits, so only it is put under ``deadline`` (a cancel scope, ~10 µs, that a
    connect to loopback never needs).

    Raises:
        TimeoutError: not connected by ``deadline`` (on ``anyio.current_time()``'s clock).
        OSError: the connect failed (its errno kept, so local exhaustion stays recognisable).
    """
    family = _family(host)
    if family is None:
        stream = await _by(deadline, anyio.connect_tcp(host, port))
        return stream, stream.extra(anyio.abc.SocketAttribute.raw_socket)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect((host, port))
        except BlockingIOError:  # under way; to loopback it has settled already, mostly
            if not _settled(sock):
                await _by(deadline, _connected(sock))
        return await anyio.abc.SocketStream.from_socket(sock), sock
    except BaseException:
        sock.close()
        raise


@functools.lru_cache(maxsize=64)
def _family(host: str) -> socket.AddressFamily | None:
    """The address family of an IP address, ``None`` for a host name (a pool has few hosts)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


async def _by(deadline: float, connect: Coroutine[Any, Any, T]) -> T:
    """``await connect``, or ``TimeoutError`` once ``deadline`` has passed."""
    with anyio.CancelScope(deadline=deadline):
        return await connect
    raise TimeoutError("connect timed out")


async def _connected(sock: socket.socket) -> None:
    """Wait until a connect under way has settled (raises its error if it failed)."""
    while True:
        await anyio.wait_writable(sock)  # writable once it has settled, either way
        if _settled(sock):
            return


def _settled(sock: socket.socket) -> bool:
    """Whether a connect under way has finished: ``True`` once connected.

    Raises:
        OSError: it failed (``SO_ERROR``, e.g. refused).
    """
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))
    try:
        sock.getpeername()
    except OSError:  # not connected yet
        return False
    return True
