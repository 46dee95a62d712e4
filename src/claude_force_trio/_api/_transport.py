"""The HTTP transport under ``MessagesClient``: a connection pool with O(1) bookkeeping per request.

Why our own pool (issue 9, item 8; figures in ``benchmarks/throughput.py``):
httpcore 1.0's ``AsyncConnectionPool`` (httpx's) re-examines every connection
for every queued request on each pool event, O(connections × requests); at
256 requests in flight that was ~76% of the client's time, and at 1024 it
starved the event loop until connect timeouts fired. httpcore2's rewrite is
O(connections + requests) per event, which is still quadratic over a batch:
each event probes every idle socket, and at 1024 it falls to ~120 calls/s.
Small sharded pools flatten the curve but pay for the extra layer on every call.

So the pool here keeps, per origin, a stack of idle connections: a request
takes the most recently used one (checked for keep-alive expiry and for a
server-side close) or opens a new one, and gives it back when its response
is closed. A semaphore bounds requests in flight by ``max_connections``, and a
connection is opened only when none is idle, so open connections never exceed
it either. Each event also looks at the *oldest* idle connection and closes it
once expired, so connections a burst opened do not linger. The HTTP/1.1 work
itself is ``_connection.H11Connection``: h11 over anyio's streams, one write
per request. A connect timeout on a fresh connection to loopback, or while
this thread was busy, is raised as ``_local.StalledConnect``: a stall of ours,
not the server's.

:func:`open_transport` builds the transport for one API root, honouring
``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY`` through
``urllib.request``; a proxied root goes through httpx's own
``AsyncHTTPTransport`` (and so its pool: the limit of this design).
"""

# httpx's transport interface takes timeouts as arguments:
# ruff: noqa: ASYNC109

from __future__ import annotations

import ipaddress
import logging
import math
import time
import urllib.request
from collections import deque
from typing import TYPE_CHECKING

import anyio
import httpx

from .._errors import ConfigError
from ._connection import Body, H11Connection
from ._local import StalledConnect

if TYPE_CHECKING:
    import ssl

__all__ = ["PooledTransport", "is_loopback", "open_transport"]

#: A connect that timed out while this thread spent at least this share of the
#: wait on the CPU timed out because the loop was too busy to look at it.
_BUSY_SHARE = 0.5
_KEEPALIVE_EXPIRY_S = 5.0
_DEFAULT_PORTS = {b"http": 80, b"https": 443}

#: ``-vv`` shows each exchange (method, URL without credentials, status): never a header.
log = logging.getLogger("claude_force_trio.http")

_Key = tuple[bytes, bytes, int]  # an origin: scheme, host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _PooledStream(httpx.AsyncByteStream):
    """A response body that gives its connection back to the pool when closed."""

    __slots__ = ("_body", "_connection", "_key", "_pool")

    def __init__(
        self, body: Body, pool: PooledTransport, connection: H11Connection, key: _Key
    ) -> None:
        self._body = body
        self._pool: PooledTransport | None = pool
        self._connection = connection
        self._key = key

    def __aiter__(self) -> Body:  # an iterator, not a generator: one object fewer per call
        return self._body

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await self._body.aclose()
        finally:
            try:
                await pool._give_back(self._connection, self._key)
            finally:
                pool._slots.release()


class PooledTransport(httpx.AsyncBaseTransport):
    """An HTTP/1.1 connection pool whose cost per request does not grow with its size.

    Args:
        max_connections: requests in flight at most; open connections never exceed it.
        ssl_context: for ``https`` origins (default: httpx's, which honours
            ``SSL_CERT_FILE``/``SSL_CERT_DIR``), made on first use.
        keepalive_expiry_s: an idle connection older than this is closed, not reused.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_expiry_s: float = _KEEPALIVE_EXPIRY_S,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._max = max_connections
        self._slots = anyio.Semaphore(max_connections)
        self._ssl_context = ssl_context
        self._expiry = keepalive_expiry_s
        self._idle: dict[_Key, deque[H11Connection]] = {}
        self._open = 0  # connections made and not yet dropped, idle or busy
        self._closed = False

    @property
    def max_connections(self) -> int:
        """Requests in flight at most."""
        return self._max

    @property
    def open_connections(self) -> int:
        """Connections open now (or being opened), idle or busy."""
        return self._open

    @property
    def idle_connections(self) -> int:
        """Connections open now and waiting for a request."""
        return sum(len(stack) for stack in self._idle.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on an idle connection (or a new one) and return the response.

        On failure the connection is dropped (and its slot freed).
        """
        if self._closed:
            raise RuntimeError("this transport has been closed")
        await self._acquire(request.extensions.get("timeout", {}).get("pool"))
        try:
            url = request.url
            key = (url.raw_scheme, url.raw_host, url.port or _DEFAULT_PORTS.get(url.raw_scheme, 0))
            connection, fresh = await self._checkout(key)
            started, cpu = (time.perf_counter(), time.thread_time()) if fresh else (0.0, 0.0)
            try:
                head, body = await connection.send(request)
            except BaseException as exc:
                await self._drop(connection)
                if (
                    fresh
                    and isinstance(exc, httpx.ConnectTimeout)
                    and (is_loopback(url.host) or _was_busy(started, cpu))
                ):
                    raise StalledConnect(str(exc)) from exc
                raise
        except BaseException:
            self._slots.release()
            raise
        if log.isEnabledFor(logging.DEBUG):
            where = url.copy_with(username=None, password=None, query=None)
            how = "new connection" if fresh else "kept-alive connection"
            log.debug("%s %s -> %d (%s)", request.method, where, head.status_code, how)
        return httpx.Response(
            status_code=head.status_code,
            headers=head.headers.raw_items(),
            stream=_PooledStream(body, self, connection, key),
            extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        """Close every idle connection; busy ones close when their responses do."""
        self._closed = True
        stacks, self._idle = self._idle, {}
        for stack in stacks.values():
            while stack:
                await self._drop(stack.pop())

    # -- internals --------------------------------------------------------------

    async def _acquire(self, timeout: float | None) -> None:
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            with anyio.move_on_after(math.inf if timeout is None else timeout):
                await self._slots.acquire()
                return
            raise httpx.PoolTimeout(
                f"no connection free within {timeout:g} s ({self._max} in use)"
            ) from None

    async def _checkout(self, key: _Key) -> tuple[H11Connection, bool]:
        """The warmest idle connection to ``key``'s origin still usable, or a new one (``True``)."""
        stack = self._idle.get(key)
        while stack:
            connection = stack.pop()
            if not connection.has_expired():
                return connection, False
            await self._drop(connection)
        if self._open >= self._max:
            await self._evict_other(key)
        self._open += 1
        scheme, host, port = key
        tls = self._tls() if scheme == b"https" else None
        return H11Connection(
            scheme, host, port, ssl_context=tls, keepalive_expiry_s=self._expiry
        ), True

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
            self._ssl_context.set_alpn_protocols(["http/1.1"])
        return self._ssl_context

    async def _give_back(self, connection: H11Connection, key: _Key) -> None:
        """Put a connection back as idle after its exchange, or drop it if it is not reusable.

        Also closes the oldest idle connection of the origin once it has expired,
        so that connections a burst opened do not stay open forever.
        """
        if self._closed or not connection.is_idle():
            await self._drop(connection)
            return
        stack = self._idle.setdefault(key, deque())
        stack.append(connection)
        oldest = stack[0]  # by time only: asking its socket is left to a checkout
        if oldest is not connection and oldest.idle_too_long():
            stack.popleft()
            await self._drop(oldest)

    async def _drop(self, connection: H11Connection) -> None:
        self._open -= 1
        if not connection.is_closed():
            with anyio.CancelScope(shield=True):
                await connection.aclose()

    async def _evict_other(self, key: _Key) -> None:
        """Close an idle connection to another origin so a new one stays within the limit."""
        for other, stack in self._idle.items():
            if other != key and stack:
                await self._drop(stack.popleft())
                return


def _was_busy(started: float, cpu: float) -> bool:
    wall = time.perf_counter() - started
    return wall > 0 and (time.thread_time() - cpu) >= _BUSY_SHARE * wall


def open_transport(
    base_url: str, *, max_connections: int, keepalive_expiry_s: float = _KEEPALIVE_EXPIRY_S
) -> httpx.AsyncBaseTransport:
    """The transport for an API root: the pool above, or httpx's own through a proxy.

    The proxy comes from the environment as ``urllib.request`` reads it
    (``https_proxy``/``http_proxy`` for the root's scheme, else ``all_proxy``;
    ``no_proxy`` exempts hosts), resolved once, since a client talks to one root.

    Raises:
        ConfigError: the proxy variable is not a usable proxy URL (names the variable).
    """
    url = httpx.URL(base_url)
    found = _proxy_for(url)
    if found is None:
        return PooledTransport(
            max_connections=max_connections, keepalive_expiry_s=keepalive_expiry_s
        )
    variable, proxy_url = found
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=keepalive_expiry_s,
    )
    try:
        return httpx.AsyncHTTPTransport(proxy=httpx.Proxy(proxy_url), limits=limits)
    except (ValueError, TypeError, ImportError, httpx.InvalidURL) as exc:
        raise ConfigError(variable, f"cannot use proxy {_shown(proxy_url)}: {exc}") from None


def _proxy_for(url: httpx.URL) -> tuple[str, str] | None:
    """``(variable, proxy URL)`` for ``url`` from the environment, or ``None`` to go direct."""
    proxies = urllib.request.getproxies()
    for name in (url.scheme, "all"):
        proxy = proxies.get(name)
        if proxy:
            break
    else:
        return None
    host = url.host if url.port is None else f"{url.host}:{url.port}"
    if urllib.request.proxy_bypass(host):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy  # as curl and httpx read a bare host:port
    return f"{name.upper()}_PROXY", proxy


def _shown(proxy_url: str) -> str:
    """A proxy URL without its password, for an error message."""
    try:
        parsed = httpx.URL(proxy_url)
    except httpx.InvalidURL:
        return "(unparseable URL)"
    return str(parsed.copy_with(password=None)) if parsed.password else str(parsed)
