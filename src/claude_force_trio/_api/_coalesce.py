"""A network backend that sends each HTTP/1.1 request in one write.

httpcore writes a request's head, its body and its (empty) end in three
writes. On loopback each ``send`` costs a kernel round of its own, and each
write is a scheduling point at which hundreds of busy tasks go ahead, so one
send per request saves ~15% of a call (``benchmarks/overhead.py``). The pool in
``_transport`` opens its connections through :class:`CoalescingBackend`.
"""

# httpcore's network interfaces take timeouts as arguments:
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpcore
import sniffio

if TYPE_CHECKING:
    import ssl

__all__ = ["CoalescingBackend"]

#: Held-back writes are sent once they reach this size, without waiting for a read.
_FLUSH_BYTES = 64 * 1024


class _CoalescingStream(httpcore.AsyncNetworkStream):
    """A network stream that holds writes back until the next read, then sends them at once.

    httpcore writes a request's head, its body and its (empty) end in three
    writes; on loopback each ``send`` costs a kernel round of its own, and each
    write is a scheduling point at which hundreds of busy tasks go ahead. One
    send per request saves ~15% of a call (benchmarks/overhead.py). An HTTP/1.1
    client always reads after writing a request, so nothing waits forever;
    writes past :data:`_FLUSH_BYTES` go out at once so a large body is not held.
    """

    __slots__ = ("_inner", "_pending", "_size", "_timeout")

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._pending: list[bytes] = []
        self._size = 0
        self._timeout: float | None = None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._pending.append(buffer)
        self._size += len(buffer)
        self._timeout = timeout
        if self._size >= _FLUSH_BYTES:
            await self._flush()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._pending:
            await self._flush()
        return await self._inner.read(max_bytes, timeout)

    async def _flush(self) -> None:
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        await self._inner.write(data, self._timeout)

    async def aclose(self) -> None:
        self._pending.clear()  # an abandoned request is not sent
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._pending:
            await self._flush()
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _CoalescingStream(inner)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class CoalescingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's backend for the running loop (trio or asyncio), each stream coalescing."""

    def __init__(self) -> None:
        self._trio = httpcore.TrioBackend()
        self._anyio = httpcore.AnyIOBackend()

    def _inner(self) -> httpcore.AsyncNetworkBackend:
        # trio's own backend is the shortest path under trio; anyio's serves asyncio.
        return self._trio if sniffio.current_async_library() == "trio" else self._anyio

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner().connect_tcp(host, port, timeout, local_address, socket_options)
        return _CoalescingStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner().connect_unix_socket(path, timeout, socket_options)
        return _CoalescingStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner().sleep(seconds)
