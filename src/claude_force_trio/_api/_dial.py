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

import ipaddress
import os
import socket

import anyio
import anyio.abc

__all__ = ["open_tcp"]


async def open_tcp(host: str, port: int) -> anyio.abc.SocketStream:
    """A connected TCP stream to ``host:port``, with Nagle's algorithm off (as anyio's).

    Raises:
        OSError: the connect failed (its errno kept, so local exhaustion stays recognisable).
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return await anyio.connect_tcp(host, port)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect((host, port))
        except BlockingIOError:  # under way; to loopback it has settled already, mostly
            while not _settled(sock):
                await anyio.wait_writable(sock)  # writable once it has settled, either way
        return await anyio.abc.SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise


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
