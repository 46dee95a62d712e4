"""One HTTP/1.1 connection of the pool, spoken with h11 directly.

Why not httpcore's ``AsyncHTTPConnection`` (what the pool used before): it is
built to be shared, so every request takes two locks (each a trip through the
scheduler, behind every other busy task), enters a cancel scope per read and
write, traces each phase and passes through three stream layers. The pool in
``_transport`` lends a connection to one request at a time, so none of that is
needed here: an h11 state machine and a stream, nothing else. A call costs
about a fifth less client CPU (``benchmarks/throughput.py``, BENCHMARKS.md).

What stays other people's work: h11 parses and checks every byte of HTTP/1.1
(it is what httpcore uses), and the sockets and TLS are anyio's streams
(``TLSStream``; ``_dial.open_tcp`` connects), on trio or asyncio alike. Each connect, read
and write has its own deadline (httpx's ``Timeout``); one cancel scope covers a
request's writes and the reads of its reply's head, its deadline moved each
time, and none is entered when the caller's deadline comes first (``_deadlines``).
Errors leave as httpx's exception types, each chained to its cause, so
``_local.local_failure`` still finds the OS error inside.

A request goes out in one write (head and body joined; a body over 64 KiB is
streamed after the head): on loopback each ``send`` is a kernel round of its
own and a scheduling point.
"""

# httpx's Timeout is one deadline per phase (connect, read, write), passed down as arguments:
# ruff: noqa: ASYNC109

from __future__ import annotations

import select
import time
from collections.abc import AsyncIterable, Mapping
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import h11
import httpx
from anyio.streams.tls import TLSStream

from ._deadlines import UNSCOPED, caller_first, deadline_after
from ._dial import open_tcp

if TYPE_CHECKING:
    import socket
    import ssl

__all__ = ["Body", "H11Connection", "transport_error"]

#: Bytes asked of the socket per read (httpcore's figure).
READ_BYTES = 64 * 1024
#: A request body up to this size is sent in the same write as its head.
JOIN_BYTES = 64 * 1024
#: The largest response head h11 accepts (httpcore's figure).
MAX_HEAD_BYTES = 100 * 1024

_NEW, _ACTIVE, _IDLE, _BROKEN, _CLOSED = range(5)

_Timeouts = Mapping[str, float | None]


def transport_error(exc: BaseException) -> httpx.TransportError | None:
    """The httpx error for an h11 one (or ``exc``, if httpx's already), else ``None``."""
    if isinstance(exc, httpx.TransportError):
        return exc
    if isinstance(exc, h11.RemoteProtocolError):
        return httpx.RemoteProtocolError(str(exc) or "protocol error from the server")
    if isinstance(exc, h11.LocalProtocolError):
        return httpx.LocalProtocolError(str(exc) or "protocol error in the request")
    return None


class H11Connection:
    """An HTTP/1.1 connection to one origin, used by one request at a time.

    Opened by its first request; after a response read to its end it is idle
    and can carry the next one, unless the server asked to close. The pool
    must not lend it to two requests at once (nothing here guards that).

    Args:
        scheme: ``b"http"`` or ``b"https"``.
        host: the host to connect to (and, for https, to verify).
        port: its port.
        ssl_context: for https.
        keepalive_expiry_s: an idle connection older than this has expired.
    """

    __slots__ = (
        "_closed_by_server",
        "_expire_at",
        "_expiry",
        "_h11",
        "_head",
        "_host",
        "_port",
        "_scope",
        "_socket",
        "_ssl",
        "_state",
        "_stream",
        "_writing",
    )

    def __init__(
        self,
        scheme: bytes,
        host: bytes,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        keepalive_expiry_s: float,
    ) -> None:
        if scheme == b"https" and ssl_context is None:
            raise ValueError("an https connection needs an ssl_context")
        self._host = host.decode("ascii")
        self._port = port
        self._ssl = ssl_context if scheme == b"https" else None
        self._expiry = keepalive_expiry_s
        self._expire_at = 0.0
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._stream: anyio.abc.ByteStream | None = None
        self._socket: socket.socket | None = None
        self._state = _NEW
        self._scope: anyio.CancelScope | None = None  # the exchange's, if it needs one
        self._head = False  # a request's writes, or its reply's head, under way
        self._writing = False
        self._closed_by_server = False

    # -- what the pool asks -----------------------------------------------------

    def is_idle(self) -> bool:
        """Open, between requests."""
        return self._state == _IDLE

    def is_closed(self) -> bool:
        """Closed for good."""
        return self._state == _CLOSED

    def idle_too_long(self) -> bool:
        """Idle past its keep-alive: ``has_expired`` without asking the socket (a system call)."""
        return self._state == _IDLE and time.monotonic() >= self._expire_at

    def has_expired(self) -> bool:
        """Idle past its keep-alive, or closed (or written to) by the server meanwhile."""
        if self._state != _IDLE:
            return False
        return self.idle_too_long() or (self._socket is not None and _readable(self._socket))

    async def aclose(self) -> None:
        """Close the socket (the caller shields this from cancellation)."""
        self._state = _CLOSED
        stream, self._stream, self._socket = self._stream, None, None
        if stream is not None:
            await stream.aclose()

    # -- one exchange -----------------------------------------------------------

    async def send(self, request: httpx.Request) -> tuple[h11.Response, Body]:
        """Send ``request`` (connecting first if new); return the response head and its body.

        The request's writes and the reads of the reply's head share one cancel
        scope, its deadline moved to each one's timeout from now (the phase under
        way names the timeout that fired). None is entered when the caller's own
        deadline comes first however the exchange goes: see :func:`~._deadlines.caller_first`.

        Raises:
            httpx.TransportError: a subclass per failure, chained to its cause;
                the connection is then unusable (the pool drops it).
            RuntimeError: the connection is busy or closed (a pool bug).
        """
        if self._state not in (_NEW, _IDLE):
            raise RuntimeError("this connection is busy or closed")
        was_new = self._state == _NEW
        self._state = _ACTIVE
        timeouts: _Timeouts = request.extensions.get("timeout", {})
        write, read = timeouts.get("write"), timeouts.get("read")
        scope = None if caller_first(write, read) else anyio.CancelScope()
        try:
            if was_new:
                await self._connect(timeouts.get("connect"))
            with scope or UNSCOPED:
                self._scope, self._head = scope, True
                try:
                    await self._write_request(request, write)
                    while not isinstance(event := await self._event(read), h11.Response):
                        pass  # an InformationalResponse (1xx) precedes the real one
                    return event, Body(self, read)
                except h11.LocalProtocolError as exc:  # a request h11 will not write
                    raise transport_error(exc) or exc from exc
                finally:
                    self._scope, self._head = None, False
            if self._writing:  # only the exchange's own scope, past its deadline, gets here
                raise httpx.WriteTimeout("the request could not be written in time")
            raise httpx.ReadTimeout("the server sent nothing in time")
        except BaseException:
            self._state = _BROKEN
            raise

    async def _connect(self, timeout: float | None) -> None:
        deadline = deadline_after(timeout)
        where = f"{self._host}:{self._port}"
        stream: anyio.abc.ByteStream
        try:
            stream, self._socket = await open_tcp(self._host, self._port, deadline=deadline)
        except TimeoutError:  # an OSError too: before the next clause
            raise httpx.ConnectTimeout(f"connect to {where} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"{exc} ({where})") from exc
        if (tls := self._ssl) is not None:
            with anyio.CancelScope(deadline=deadline) as scope:  # the handshake is the connect's
                try:
                    stream = await TLSStream.wrap(
                        stream, hostname=self._host, ssl_context=tls, standard_compatible=False
                    )
                except BaseException as exc:
                    await anyio.aclose_forcefully(stream)
                    if isinstance(exc, Exception) and not isinstance(
                        exc, anyio.get_cancelled_exc_class()
                    ):
                        raise httpx.ConnectError(f"TLS handshake failed: {exc}") from exc
                    raise
            if scope.cancelled_caught:
                raise httpx.ConnectTimeout(f"connect to {where} timed out")
        self._stream = stream

    async def _write_request(self, request: httpx.Request, timeout: float | None) -> None:
        h = self._h11
        start = h11.Request(
            method=request.method, target=request.url.raw_path, headers=request.headers.raw
        )
        head = h.send(start) or b""
        content = _known_content(request)
        if content is not None and len(content) <= JOIN_BYTES:
            data = (h.send(h11.Data(data=content)) or b"") if content else b""
            await self._write(head + data + (h.send(h11.EndOfMessage()) or b""), timeout)
            return
        await self._write(head, timeout)
        if content is not None:
            await self._write(h.send(h11.Data(data=content)) or b"", timeout)
        else:
            if not isinstance(request.stream, AsyncIterable):
                raise TypeError("an async transport needs an async request body")
            await self._write_stream(request.stream, timeout)
        await self._write(h.send(h11.EndOfMessage()) or b"", timeout)

    async def _write_stream(self, stream: AsyncIterable[bytes], timeout: float | None) -> None:
        """A body httpx does not hold (an async generator), piece by piece; closed after."""
        h = self._h11
        pieces = aiter(stream)
        try:
            async for chunk in pieces:
                if chunk:
                    await self._write(h.send(h11.Data(data=chunk)) or b"", timeout)
        finally:
            close = getattr(pieces, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()

    async def _write(self, data: bytes, timeout: float | None) -> None:
        assert self._stream is not None
        if self._scope is not None:
            self._scope.deadline = deadline_after(timeout)
        self._writing = True
        try:
            await self._stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise httpx.WriteError(_io_error(exc, "write")) from exc

    async def _read_timed(self, stream: anyio.abc.ByteStream, timeout: float | None) -> bytes:
        """A read of the body under a deadline of its own (the caller's is later)."""
        with anyio.CancelScope(deadline=deadline_after(timeout)):
            return await stream.receive(READ_BYTES)
        raise httpx.ReadTimeout("the server sent nothing in time")

    async def _event(self, timeout: float | None) -> h11.Event | type[h11.PAUSED | h11.NEED_DATA]:
        """The next event from the server, reading as needed."""
        h = self._h11
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:  # bytes that are not HTTP/1.1
                raise transport_error(exc) or exc from exc
            if event is not h11.NEED_DATA:
                if isinstance(event, h11.ConnectionClosed):  # pragma: no cover - only after an end
                    raise httpx.RemoteProtocolError("the server closed the connection early")
                return event
            stream = self._stream
            assert stream is not None
            try:
                if self._head:  # within the exchange's scope, if it has one
                    if self._scope is not None:
                        self._scope.deadline = deadline_after(timeout)
                        self._writing = False
                    data = await stream.receive(READ_BYTES)
                elif caller_first(timeout):
                    data = await stream.receive(READ_BYTES)
                else:
                    data = await self._read_timed(stream, timeout)
            except anyio.EndOfStream:
                data = b""
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise httpx.ReadError(_io_error(exc, "read")) from exc
            if not data:
                if h.their_state is h11.SEND_RESPONSE:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    )
                self._closed_by_server = True  # a body that ends at the close (h11 may keep it)
            h.receive_data(data)

    def _finished(self) -> None:
        """The body was read to its end: reusable if both sides agree to keep it open."""
        h = self._h11
        if h.our_state is h11.DONE and h.their_state is h11.DONE and not self._closed_by_server:
            h.start_next_cycle()
            self._expire_at = time.monotonic() + self._expiry
            self._state = _IDLE
        else:
            self._state = _BROKEN

    def _abandoned(self) -> None:
        if self._state == _ACTIVE:
            self._state = _BROKEN


class Body:
    """A response body, read chunk by chunk; the end or a close settles its connection.

    Read to its end, the connection becomes idle (or unusable, if the server
    asked to close); closed early, it is unusable. Errors leave as httpx's.
    """

    __slots__ = ("_connection", "_done", "_timeout")

    def __init__(self, connection: H11Connection, timeout: float | None) -> None:
        self._connection = connection
        self._timeout = timeout
        self._done = False

    def __aiter__(self) -> Body:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        connection = self._connection
        try:
            while True:
                event = await connection._event(self._timeout)
                if isinstance(event, h11.Data):
                    return bytes(event.data)
                if isinstance(event, h11.EndOfMessage):
                    break
        except BaseException:
            self._done = True
            connection._abandoned()
            raise
        self._done = True
        connection._finished()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop reading: a body not read to its end leaves its connection unusable."""
        if not self._done:
            self._done = True
            self._connection._abandoned()


def _io_error(exc: BaseException, doing: str) -> str:
    """A short message for a broken stream, naming the OS error underneath when there is one."""
    cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return f"{doing} failed: {cause.strerror}"
    how = "closed" if isinstance(exc, anyio.ClosedResourceError) else "broken"
    return f"{doing} failed: the connection was {how}"


def _readable(sock: socket.socket) -> bool:
    """Whether an idle socket has something to read: the server closed it, or wrote out of turn."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])  # pragma: no cover - Windows
    except (OSError, ValueError):
        return True  # a socket that cannot be asked is not one to reuse


def _known_content(request: httpx.Request) -> bytes | None:
    """The body as bytes when httpx already holds it (bytes, JSON, forms), else ``None``."""
    try:
        return request.content
    except httpx.RequestNotRead:
        return None
