"""HTTP/1.1 plumbing for one accepted connection: h11 over an anyio byte stream.

Kept apart from the request logic so the server speaks plain methods
(``read_request``, ``respond``, ``start_stream`` / ``send_chunk`` / ``end_stream``,
``reset``) and never touches h11 states. Writes are coalesced into one
``send`` per response (or per SSE batch) because every extra small segment
costs a syscall and, without TCP_NODELAY, a delayed-ACK stall of ~40 ms.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus

import anyio
import h11
from anyio.abc import ByteStream, SocketAttribute

__all__ = ["BadHttpRequest", "HttpConnection", "HttpRequest"]

MAX_BODY_BYTES = 32 * 1024 * 1024  # the API's request size limit
_RECEIVE_BYTES = 64 * 1024
Headers = Sequence[tuple[str, str]]


class BadHttpRequest(Exception):
    """The client sent something that is not valid HTTP/1.1, or a body that is too large."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request: method, path without query string, lower-cased headers, body, query."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str = ""


def _reason(status: int) -> bytes:
    if status == 529:
        return b"Overloaded"
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class HttpConnection:
    """A server-side HTTP/1.1 connection that can serve many requests (keep-alive)."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self._h11 = h11.Connection(h11.SERVER)
        # anyio already sets TCP_NODELAY on accepted TCP streams; set it again so that
        # a change of default can never bring back the 40 ms Nagle/delayed-ACK stall.
        self._socket: socket.socket | None = stream.extra(SocketAttribute.raw_socket, None)
        self._setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _setsockopt(self, level: int, option: int, value: int | bytes) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # not a TCP socket, or already dead
                self._socket.setsockopt(level, option, value)

    async def _next_event(self) -> object:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise BadHttpRequest(
                    exc.error_status_hint, f"Malformed HTTP request: {exc}"
                ) from exc
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.stream.receive(_RECEIVE_BYTES)
            except anyio.EndOfStream:
                data = b""  # how h11 is told the client closed its side
            self._h11.receive_data(data)

    async def read_request(
        self, body_limit: Callable[[str], int] | None = None
    ) -> HttpRequest | None:
        """The next request, or ``None`` when the client closed the connection between requests.

        Args:
            body_limit: given the request path, the largest body allowed for it;
                32 MiB for every target when ``None``.

        Raises:
            BadHttpRequest: malformed HTTP or a body over the limit (answer it, then close).
            anyio.BrokenResourceError: the client went away mid-request.
        """
        event = await self._next_event()
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):  # pragma: no cover - h11 guarantees a Request
            raise BadHttpRequest(400, "Malformed HTTP request")
        target = event.target.decode("latin-1")
        limit = MAX_BODY_BYTES if body_limit is None else body_limit(target.partition("?")[0])
        body = bytearray()
        while True:
            part = await self._next_event()
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > limit:
                    raise BadHttpRequest(413, "Request exceeds the maximum allowed size")
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                raise anyio.BrokenResourceError("client closed the connection mid-request")
        headers = {name.decode("latin-1").lower(): v.decode("latin-1") for name, v in event.headers}
        path, _, query = target.partition("?")
        return HttpRequest(event.method.decode("ascii"), path, headers, bytes(body), query)

    @property
    def can_respond(self) -> bool:
        """Whether a response can still be started on this connection."""
        return self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    async def respond(self, status: int, headers: Headers, body: bytes) -> None:
        """Send a whole response with a Content-Length, in one write."""
        head = [*headers, ("content-length", str(len(body)))]
        data = self._h11.send(
            h11.Response(status_code=status, headers=head, reason=_reason(status))
        )
        data = (data or b"") + (self._h11.send(h11.Data(data=body)) or b"")
        data += self._h11.send(h11.EndOfMessage()) or b""
        await self.stream.send(data)

    async def start_stream(self, status: int, headers: Headers) -> None:
        """Send the head of a chunked response (server-sent events follow)."""
        data = self._h11.send(
            h11.Response(status_code=status, headers=list(headers), reason=_reason(status))
        )
        await self.stream.send(data or b"")

    async def send_chunk(self, payload: bytes) -> None:
        """Send one chunk of a streaming response."""
        await self.stream.send(self._h11.send(h11.Data(data=payload)) or b"")

    async def end_stream(self) -> None:
        """Finish a streaming response so the connection can be reused."""
        await self.stream.send(self._h11.send(h11.EndOfMessage()) or b"")

    def next_cycle(self) -> bool:
        """Prepare for the next request on this connection; ``False`` if it must close."""
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            return True
        return False

    async def reset(self) -> None:
        """Abort with a TCP RST: SO_LINGER with a zero timeout makes close() send one."""
        self._setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()

    async def wait_until_gone(self) -> None:
        """Read and discard until the client closes the connection (the ``stall`` fault)."""
        with contextlib.suppress(
            anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError
        ):
            while True:
                await self.stream.receive(_RECEIVE_BYTES)

    async def aclose(self) -> None:
        """Close the socket; safe to call more than once."""
        await self.stream.aclose()
