"""The pool's HTTP/1.1 connection on trio's virtual clock: read and write deadlines, exactly.

Apart from ``test_connection`` because those tests run on both of anyio's
backends, and only trio (through pytest-trio) gives ``MockClock``.
"""

from __future__ import annotations

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


async def test_body_read_timeout_fires_at_its_exact_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A head, part of the body, then silence: ReadTimeout ``read`` seconds after the last bytes."""

    async def stalls(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)
        await stream.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
        await anyio.sleep(1.0)
        await stream.send(b"{}")
        await anyio.sleep_forever()

    pool = PooledTransport(max_connections=1)
    timeout = httpx.Timeout(5.0, read=2.5)
    async with server(stalls) as url, httpx.AsyncClient(transport=pool, timeout=timeout) as http:
        async with http.stream("GET", url + "/") as response:
            start = trio.current_time()
            with pytest.raises(httpx.ReadTimeout):
                await response.aread()
            assert trio.current_time() - start == 1.0 + 2.5
        assert pool.open_connections == 0
