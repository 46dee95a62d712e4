"""The pool's HTTP/1.1 connection (h11 over anyio streams), against servers of a few lines.

Each server here is raw bytes on a loopback socket, so a test can answer in
pieces, chunked, with ``Connection: close``, early 1xx replies, garbage, or not
at all. The module runs on trio and on asyncio (the connection is written on
anyio); the timing tests run on trio's virtual clock and assert exact times.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest
import trustme

from claude_force_trio._api._connection import H11Connection, transport_error
from claude_force_trio._api._transport import PooledTransport

pytestmark = pytest.mark.anyio

Handler = Callable[[anyio.abc.ByteStream], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
LIMIT_S = 10.0


@asynccontextmanager
async def server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serve ``handler`` on a loopback port (TLS with ``tls``) and yield the base URL."""
    listener: anyio.abc.Listener[anyio.abc.ByteStream] = await anyio.create_tcp_listener(
        local_host="127.0.0.1"
    )
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    if tls is not None:
        from anyio.streams.tls import TLSListener

        listener = TLSListener(listener, tls, standard_compatible=False)

    async def guarded(stream: anyio.abc.ByteStream) -> None:
        # the client leaving is what some tests are about
        async with stream:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.EndOfStream, ssl.SSLError):
                await handler(stream)

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, guarded)
        try:
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        finally:
            group.cancel_scope.cancel()


async def read_request(stream: anyio.abc.ByteStream) -> bytes:
    """One request's head and its ``content-length`` body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += await stream.receive()
    return head + b"\r\n\r\n" + body


def keep_answering(*replies: bytes) -> Handler:
    """A handler that answers each request on a connection with the next reply, in turn."""

    async def handle(stream: anyio.abc.ByteStream) -> None:
        for reply in replies:
            await read_request(stream)
            await stream.send(reply)
        await anyio.sleep_forever()

    return handle


def answer_then_close(reply: bytes) -> Handler:
    """A handler that reads one request, sends ``reply`` (perhaps nothing) and closes."""

    async def handle(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)
        if reply:
            await stream.send(reply)

    return handle


async def test_chunked_reply_in_pieces_is_read_whole_and_the_connection_reused() -> None:
    """A chunked body sent a byte at a time arrives whole; the connection carries the next call."""
    body = b'{"a": 1}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"

    async def handle(stream: anyio.abc.ByteStream) -> None:
        for _ in range(2):
            await read_request(stream)
            for byte in head + chunked:
                await stream.send(bytes([byte]))
        await anyio.sleep_forever()

    pool = PooledTransport(max_connections=2)
    with anyio.fail_after(LIMIT_S):
        async with server(handle) as url, httpx.AsyncClient(transport=pool) as http:
            for _ in range(2):
                response = await http.get(url + "/")
                assert response.json() == {"a": 1}
            assert (pool.open_connections, pool.idle_connections) == (1, 1)


async def test_connection_close_reply_is_not_reused() -> None:
    """A reply that says ``Connection: close`` leaves nothing idle; the next call dials again."""
    closing = OK.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n")
    accepted = 0

    async def handle(stream: anyio.abc.ByteStream) -> None:
        nonlocal accepted
        accepted += 1
        await read_request(stream)
        await stream.send(closing)

    pool = PooledTransport(max_connections=2)
    with anyio.fail_after(LIMIT_S):
        async with server(handle) as url, httpx.AsyncClient(transport=pool) as http:
            for _ in range(2):
                assert (await http.get(url + "/")).json() == {}
                assert (pool.open_connections, pool.idle_connections) == (0, 0)
    assert accepted == 2


async def test_informational_reply_is_skipped() -> None:
    """A ``100 Continue`` before the answer is passed over."""
    pool = PooledTransport(max_connections=1)
    with anyio.fail_after(LIMIT_S):
        async with (
            server(keep_answering(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)) as url,
            httpx.AsyncClient(transport=pool) as http,
        ):
            response = await http.post(url + "/", content=b"x")
            assert (response.status_code, response.json()) == (200, {})
            assert response.http_version == "HTTP/1.1"
            assert response.reason_phrase == "OK"


async def test_a_large_body_is_streamed_after_the_head_and_arrives_whole() -> None:
    """A body over the join size goes out in pieces after the head; the server gets every byte."""
    received: list[bytes] = []

    async def handle(stream: anyio.abc.ByteStream) -> None:
        for _ in range(2):
            received.append(await read_request(stream))
            await stream.send(OK)
        await anyio.sleep_forever()

    payload = bytes(range(256)) * 1024  # 256 KiB

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 50_000):
            yield payload[start : start + 50_000]
        yield b""  # an empty piece is skipped, not sent as the end

    pool = PooledTransport(max_connections=1)
    with anyio.fail_after(LIMIT_S):
        async with server(handle) as url, httpx.AsyncClient(transport=pool) as http:
            sized = {"content-length": str(len(payload))}
            assert (await http.post(url + "/", content=payload)).json() == {}
            assert (await http.post(url + "/", content=pieces(), headers=sized)).json() == {}
    assert [r.endswith(payload) for r in received] == [True, True]


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        pytest.param(answer_then_close(b""), "without sending a response", id="gone-before-reply"),
        pytest.param(
            answer_then_close(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}"),
            None,
            id="body-cut-short",
        ),
        pytest.param(keep_answering(b"SMTP ready\r\n\r\n"), None, id="not-http"),
    ],
)
async def test_a_misbehaving_server_is_a_remote_protocol_error(
    handler: Handler, says: str | None
) -> None:
    """No reply, a body shorter than its content-length, bytes that are not HTTP (h11's verdict):
    each fails as httpx's RemoteProtocolError, and the connection is not pooled."""
    pool = PooledTransport(max_connections=1)
    with anyio.fail_after(LIMIT_S):
        async with server(handler) as url, httpx.AsyncClient(transport=pool) as http:
            with pytest.raises(httpx.RemoteProtocolError, match=says):
                await http.get(url + "/")
            assert pool.open_connections == 0


async def test_body_ended_by_close_is_read_whole_and_the_connection_dropped() -> None:
    """A reply with neither length nor chunks ends when the server closes: read, then not reused."""

    unframed = answer_then_close(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{}")
    pool = PooledTransport(max_connections=1)
    with anyio.fail_after(LIMIT_S):
        async with server(unframed) as url, httpx.AsyncClient(transport=pool) as http:
            assert (await http.get(url + "/")).json() == {}
            assert pool.open_connections == 0


async def test_server_gone_while_the_body_is_sent_is_a_write_error() -> None:
    """A server closing without reading: a large body fails as WriteError naming the OS error."""

    async def rude(stream: anyio.abc.ByteStream) -> None:
        await stream.aclose()

    pool = PooledTransport(max_connections=1)
    with anyio.fail_after(LIMIT_S):
        async with server(rude) as url, httpx.AsyncClient(transport=pool) as http:
            with pytest.raises(httpx.WriteError, match="write failed: "):
                await http.post(url + "/", content=b"x" * (32 * 1024 * 1024))
            assert pool.open_connections == 0


async def test_a_sync_body_is_refused() -> None:
    """An async transport cannot send a body only a sync iterator can give."""
    pool = PooledTransport(max_connections=1)
    request = httpx.Request("POST", "http://127.0.0.1:9/", content=iter([b"x"]))
    with anyio.fail_after(LIMIT_S):
        async with server(keep_answering(OK)) as url:
            request.url = httpx.URL(url + "/")
            with pytest.raises(TypeError, match="async request body"):
                await pool.handle_async_request(request)
    assert pool.open_connections == 0


async def test_body_left_early_drops_the_connection() -> None:
    """A response closed before its body is read leaves its connection unusable: it is closed."""
    big = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 1000
    pool = PooledTransport(max_connections=1)
    with anyio.fail_after(LIMIT_S):
        async with server(keep_answering(big)) as url, httpx.AsyncClient(transport=pool) as http:
            async with http.stream("GET", url + "/") as response:
                assert response.status_code == 200  # the head is in; the body is left unread
            assert (pool.open_connections, pool.idle_connections) == (0, 0)


async def test_tls_with_keep_alive() -> None:
    """https through anyio's TLS: verified against the server's CA, then the connection reused."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    pool = PooledTransport(max_connections=2, ssl_context=client_context)
    with anyio.fail_after(LIMIT_S):
        async with (
            server(keep_answering(OK, OK), tls=server_context) as url,
            httpx.AsyncClient(transport=pool) as http,
        ):
            for _ in range(2):
                assert (await http.get(url + "/")).json() == {}
            assert (pool.open_connections, pool.idle_connections) == (1, 1)
    assert client_context.get_ca_certs()  # the pool used the context it was given


async def test_untrusted_certificate_is_a_connect_error() -> None:
    """A server whose certificate the client does not trust fails as ConnectError."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_context)
    pool = PooledTransport(max_connections=1, ssl_context=ssl.create_default_context())
    with anyio.fail_after(LIMIT_S):
        async with (
            server(keep_answering(OK), tls=server_context) as url,
            httpx.AsyncClient(transport=pool) as http,
        ):
            with pytest.raises(httpx.ConnectError, match="TLS handshake failed"):
                await http.get(url + "/")
            assert pool.open_connections == 0


# -- the connection alone ---------------------------------------------------------


def test_https_needs_a_context() -> None:
    """An https connection without an SSL context is refused at once."""
    with pytest.raises(ValueError, match="ssl_context"):
        H11Connection(b"https", b"example.com", 443, ssl_context=None, keepalive_expiry_s=5)


async def test_a_busy_connection_refuses_a_second_request() -> None:
    """Lent twice at once (a pool bug), the connection says so instead of mixing replies."""

    async def slow(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)
        await stream.send(OK)
        await anyio.sleep_forever()

    with anyio.fail_after(LIMIT_S):
        async with server(slow) as url:
            host = url.removeprefix("http://").split(":")
            connection = H11Connection(
                b"http", host[0].encode(), int(host[1]), ssl_context=None, keepalive_expiry_s=5
            )
            request = httpx.Request("GET", url + "/")
            _, body = await connection.send(request)
            with pytest.raises(RuntimeError, match="busy"):
                await connection.send(request)
            assert [chunk async for chunk in body] == [b"{}"]
            assert [chunk async for chunk in body] == []  # a finished body stays finished
            assert connection.is_idle()
            assert not connection.has_expired()
            await connection.aclose()
            assert connection.is_closed()
            assert not connection.has_expired()


def test_transport_error_maps_h11_and_passes_the_rest() -> None:
    """h11's errors become httpx's; an httpx error is itself; anything else is not ours."""
    import h11

    remote = transport_error(h11.RemoteProtocolError("bad", 400))
    local = transport_error(h11.LocalProtocolError(""))
    assert isinstance(remote, httpx.RemoteProtocolError)
    assert str(remote) == "bad"
    assert isinstance(local, httpx.LocalProtocolError)
    assert str(local)
    same = httpx.ReadError("x")
    assert transport_error(same) is same
    assert transport_error(ValueError("x")) is None
