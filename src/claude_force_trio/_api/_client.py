"""``MessagesClient``: one attempt at ``POST /v1/messages`` over a shared httpx pool.

This is the edge of the library: httpx, JSON and SSE stop here. Everything
that goes wrong on the wire is mapped once, in this module, onto the tree in
``_errors`` and chained with ``raise ... from exc``:

* non-2xx → :func:`~claude_force_trio._errors.status_error` with the API's
  ``error.type``, ``error.message`` and ``request_id``;
* ``httpx.TimeoutException`` → :class:`APITimeoutError`;
* any other ``httpx.TransportError`` → :class:`APIConnectionError`;
* a 2xx body we cannot read → :class:`APIResponseError`;
* an SSE ``error`` event → :class:`StreamError`; an SSE stream that ends
  without ``message_stop`` → :class:`APIConnectionError`;
* a body over :data:`MAX_BODY_BYTES` or an SSE event over
  :data:`~claude_force_trio._sse.MAX_EVENT_SIZE` → :class:`APIResponseError`,
  the connection abandoned, so a hostile server cannot make us buffer without end.

Every text a server sent that we keep (error messages and types, non-JSON
bodies, request ids and the other kept headers, message ids and models) goes
through one :class:`~claude_force_trio._redact.Redactor` here, once: the key and
any run of 8 of its characters scrubbed, one line, capped at 500 characters
(issue 9). The answer's own text is passed on untouched: it is what was asked for.

``create`` is deliberately a single attempt: retries, the circuit breaker and
the rate limiter wrap it from outside, so this module stays the seam where a
test or a different transport plugs in.

Per-call cost matters (the engine may make thousands of calls), so headers,
URLs, timeouts and the transport are resolved once in ``__init__``; each call
builds one ``httpx.Request`` and hands it straight to the pooled transport,
skipping the URL/header/cookie merging, auth and redirect machinery that
``AsyncClient.post`` redoes on every call and that this API never needs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import suppress
from importlib import metadata
from types import TracebackType
from typing import Any, Literal, NoReturn, Self

import httpx
import trio

from .._errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    StreamError,
    status_error,
)
from .._types import MessageResult, Usage
from ._local import local_failure
from ._redact import SHORT_LIMIT, Redactor
from ._sse import EventTooLargeError, SSEDecoder
from ._transport import open_transport

__all__ = ["MAX_BODY_BYTES", "MessagesClient"]

#: The most (decoded) bytes a non-streamed response body may have: a Message
#: is rarely over 1 MB, and gzip must not let a few kilobytes unpack into gigabytes.
MAX_BODY_BYTES = 32 * 1024 * 1024

#: Response headers worth keeping: what the retry layer and the rate limiter read.
_KEPT_HEADERS = frozenset({"request-id", "retry-after", "retry-after-ms", "x-should-retry"})
_RATELIMIT_PREFIX = "anthropic-ratelimit-"

#: Fields of a Messages body that ``count_tokens`` rejects as unknown, so callers
#: may count the very body they are about to send. A deny-list rather than an
#: allow-list so fields added to both endpoints later pass through.
_NOT_FOR_COUNT = frozenset(
    {
        "max_tokens",
        "stream",
        "temperature",
        "top_k",
        "top_p",
        "stop_sequences",
        "metadata",
        "service_tier",
        "container",
        "inference_geo",
    }
)

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _package_version() -> str:
    try:
        return metadata.version("claude-force-trio")
    except metadata.PackageNotFoundError:
        return "0"


def _build_headers(
    *, api_key: str | None, auth: str, version: str, user_agent: str | None, accept: str
) -> httpx.Headers:
    """Build the request headers once, so no call pays for them again."""
    headers = {
        "anthropic-version": version,
        "content-type": "application/json",
        "accept": accept,
        "user-agent": user_agent or f"claude-force-trio/{_package_version()}",
    }
    if accept == "application/json":
        headers["accept-encoding"] = "gzip, deflate"
    else:
        # A compressed event stream can sit in a proxy's or zlib's buffer;
        # events must reach on_text as soon as they are sent.
        headers["accept-encoding"] = "identity"
    if api_key:
        if auth == "bearer":
            headers["authorization"] = f"Bearer {api_key}"
        else:
            headers["x-api-key"] = api_key
    return httpx.Headers(headers)


def _kept_headers(response: httpx.Response, redact: Redactor) -> dict[str, str]:
    """The response headers worth keeping, their values scrubbed: a proxy may echo the key."""
    kept: dict[str, str] = {}
    for name, value in response.headers.multi_items():  # names come lower-cased
        if name in _KEPT_HEADERS or name.startswith(_RATELIMIT_PREFIX):
            kept[name] = redact(value, SHORT_LIMIT)
    return kept


def _merge_usage(usage: dict[str, int], data: object) -> None:
    """Fold an API ``usage`` object into ``usage``.

    ``message_delta`` counts are cumulative for the whole message (not
    increments) and fields may be null or absent, so each present integer
    replaces the earlier one and the rest are left alone.
    """
    if not isinstance(data, dict):
        return
    for name in _USAGE_FIELDS:
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            usage[name] = value


def _usage(counts: Mapping[str, int]) -> Usage:
    return Usage(
        counts.get("input_tokens", 0),
        counts.get("output_tokens", 0),
        counts.get("cache_creation_input_tokens", 0),
        counts.get("cache_read_input_tokens", 0),
    )


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


class MessagesClient:
    """A Messages API client: JSON and streaming, one attempt per call.

    One instance owns one ``httpx.AsyncClient`` and thus one connection pool;
    share it across all the calls of an engine. HTTP/1.1 only.

    Args:
        base_url: API root such as ``https://api.anthropic.com`` or a
            simulator's ``sim.url``; a trailing slash is ignored.
        api_key: sent as ``x-api-key`` (or ``Authorization: Bearer`` when
            ``auth="bearer"``); ``None`` sends no credentials.
        auth: the header style; the official 2.x SDK uses ``"bearer"``.
        version: the ``anthropic-version`` header.
        connect_timeout_s: limit for opening a connection.
        read_timeout_s: limit between two reads (for a stream: between
            events), and for writing the body and waiting for a pooled
            connection.
        max_connections: pool size: requests in flight (and open connections)
            at most; more wait for a free connection up to the pool timeout.
        transport: an httpx transport to use instead of the network one
            (``httpx.MockTransport`` in tests); ``max_connections`` then does
            not apply.
        user_agent: overrides ``claude-force-trio/<version>``.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        auth: Literal["x-api-key", "bearer"] = "x-api-key",
        version: str = "2023-06-01",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 600.0,
        max_connections: int = 10,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str | None = None,
    ) -> None:
        if auth not in ("x-api-key", "bearer"):
            raise ValueError(f"auth must be 'x-api-key' or 'bearer', not {auth!r}")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._base_url = base_url.rstrip("/")
        self._auth = auth
        self._version = version
        self._max_connections = max_connections
        # Kept only to scrub it from error text we build; never printed.
        self._secret = api_key or None
        self._messages_url = httpx.URL(self._base_url + "/v1/messages")
        self._count_url = httpx.URL(self._base_url + "/v1/messages/count_tokens")
        self._json_headers = _build_headers(
            api_key=api_key,
            auth=auth,
            version=version,
            user_agent=user_agent,
            accept="application/json",
        )
        self._sse_headers = _build_headers(
            api_key=api_key,
            auth=auth,
            version=version,
            user_agent=user_agent,
            accept="text/event-stream",
        )
        timeout = httpx.Timeout(
            connect=connect_timeout_s,
            read=read_timeout_s,
            write=read_timeout_s,
            pool=read_timeout_s,
        )
        self._extensions = {"timeout": timeout.as_dict()}
        # Calls go straight to a transport built here (the pool of ``_transport``,
        # or httpx's own through a proxy from the environment), through its public
        # ``handle_async_request``: AsyncClient.send would add auth, redirect,
        # cookie and event-hook handling that this API never uses, at ~15% of a
        # loopback call's time (benchmarks/overhead.py). The AsyncClient around it
        # only owns it (closing it) and serves callers who want plain httpx.
        if transport is None:
            transport = open_transport(self._base_url, max_connections=max_connections)
        self._transport = transport
        self._http = httpx.AsyncClient(timeout=timeout, transport=self._transport, trust_env=False)
        self._closed = False
        self._redact = Redactor(self._secret)

    @property
    def base_url(self) -> str:
        """The API root this client calls, without a trailing slash."""
        return self._base_url

    @property
    def max_connections(self) -> int:
        """The pool size; the engine bounds in-flight calls by it."""
        return self._max_connections

    def __repr__(self) -> str:
        # Never the key, not even masked: a repr ends up in logs.
        return (
            f"MessagesClient(base_url={self._base_url!r}, auth={self._auth!r}, "
            f"version={self._version!r})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._closed = True
        await self._http.aclose()

    async def create(
        self,
        body: Mapping[str, Any],
        *,
        on_text: Callable[[str], object] | None = None,
    ) -> MessageResult:
        """Send one Messages request and return the complete answer.

        It streams (``stream: true``, SSE) when ``body["stream"]`` is true or
        ``on_text`` is given, and otherwise asks for one JSON message. Either
        way the result is the same assembled :class:`MessageResult`. This is a
        single attempt: nothing is retried here.

        Args:
            body: the request body (``model``, ``max_tokens``, ``messages``…),
                sent as given apart from ``stream``.
            on_text: called with each text delta as it arrives, in order;
                forces streaming. Exceptions it raises propagate.

        Returns:
            The message: text blocks joined, usage, stop reason, request id,
            kept response headers, elapsed time and (streamed) time to first
            token, both on ``trio.current_time()``.

        Raises:
            APIStatusError: a subclass per status (``RateLimitError``…).
            APITimeoutError: the connect, read, write or pool timeout passed.
            APIConnectionError: no (complete) response: refused, reset, a
                protocol error, or a stream that ended before ``message_stop``.
            APIResponseError: a 2xx answer we cannot parse.
            StreamError: the stream carried an ``error`` event.
        """
        if on_text is not None or body.get("stream"):
            if body.get("stream") is not True:
                body = {**body, "stream": True}
            return await self._create_streaming(body, on_text)
        start = trio.current_time()
        response = await self._send(self._messages_url, self._json_headers, body)
        content = await self._read_body(response)
        if not response.is_success:
            self._raise_status(response, content)
        return self._parse_message(response, content, start)

    async def count_tokens(self, body: Mapping[str, Any]) -> int:
        """Count the input tokens of a Messages body without creating a message.

        Fields that only ``create`` accepts (``max_tokens``, ``stream``,
        sampling parameters…) are dropped, so the body about to be sent can be
        counted as it is.

        Args:
            body: a Messages body (``model``, ``messages``, ``system``, ``tools``…).

        Returns:
            ``input_tokens`` as the API reports it.

        Raises:
            APIStatusError: a subclass per status.
            APITimeoutError: a timeout passed.
            APIConnectionError: no response.
            APIResponseError: a 2xx answer without an integer ``input_tokens``.
        """
        if not _NOT_FOR_COUNT.isdisjoint(body):
            body = {k: v for k, v in body.items() if k not in _NOT_FOR_COUNT}
        response = await self._send(self._count_url, self._json_headers, body)
        content = await self._read_body(response)
        if not response.is_success:
            self._raise_status(response, content)
        try:
            count = json.loads(content)["input_tokens"]
        except (ValueError, KeyError, TypeError) as exc:
            raise APIResponseError("malformed count_tokens response") from exc
        if not isinstance(count, int) or isinstance(count, bool):
            raise APIResponseError("malformed count_tokens response: input_tokens not an integer")
        return count

    # -- the wire ---------------------------------------------------------------

    async def _send(
        self, url: httpx.URL, headers: httpx.Headers, body: Mapping[str, Any]
    ) -> httpx.Response:
        """Send one request; return the response with its body still to be read."""
        if self._closed:
            raise RuntimeError("this MessagesClient has been closed")
        request = httpx.Request(
            "POST", url, headers=headers, content=_dumps(body), extensions=self._extensions
        )
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.HTTPError as exc:
            local = local_failure(exc)  # this machine's fault, not the server's: see _transport
            if local is not None:
                raise local from exc
            self._raise_transport(exc)
        return response

    async def _read_body(self, response: httpx.Response) -> bytes:
        """Read a whole body, at most :data:`MAX_BODY_BYTES` of it, and close the response.

        Read to the end, the connection goes back to the pool; left early (too
        large, an error, a cancel), it is closed.
        """
        chunks = response.aiter_bytes()
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise APIResponseError(
                        f"response body larger than {MAX_BODY_BYTES:,} bytes; connection abandoned"
                    )
                parts.append(chunk)
        except httpx.HTTPError as exc:
            self._raise_transport(exc)
        except BaseException:
            await _abandon(chunks)
            raise
        finally:
            await response.aclose()
        return b"".join(parts)

    def _raise_transport(self, exc: httpx.HTTPError) -> NoReturn:
        """Map an httpx failure onto our tree; the text names the failure, never headers."""
        detail = self._redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if isinstance(exc, httpx.TimeoutException):
            raise APITimeoutError(f"timed out: {detail}") from exc
        if isinstance(exc, httpx.DecodingError):
            raise APIResponseError(f"undecodable response body: {detail}") from exc
        raise APIConnectionError(f"connection error: {detail}") from exc

    def _raise_status(self, response: httpx.Response, content: bytes) -> NoReturn:
        headers = _kept_headers(response, self._redact)
        request_id = headers.get("request-id")
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            error = data["error"]
            error_type = self._redact(_opt_str(error.get("type")) or "unknown", SHORT_LIMIT)
            message = _opt_str(error.get("message")) or ""
            if body_id := _opt_str(data.get("request_id")):
                request_id = self._redact(body_id, SHORT_LIMIT)
        else:
            # Not the API's error shape (a proxy's HTML page, say): show its start,
            # scrubbed whole before it is cut, so no piece of a key survives the cut.
            error_type = "unknown"
            message = content.decode("utf-8", "replace")
        raise status_error(
            response.status_code,
            error_type,
            self._redact(message),
            request_id=request_id,
            headers=headers,
        )

    # -- JSON ---------------------------------------------------------------------

    def _parse_message(
        self, response: httpx.Response, content: bytes, start: float
    ) -> MessageResult:
        try:
            data = json.loads(content)
            msg_id = data["id"]
            model = data["model"]
            blocks = data["content"]
            if not (isinstance(msg_id, str) and isinstance(model, str)):
                raise TypeError("id and model must be strings")
            text = "".join(block["text"] for block in blocks if block.get("type") == "text")
            usage = Usage.from_api(data.get("usage"))
            stop_reason = _opt_str(data.get("stop_reason"))
            stop_sequence = _opt_str(data.get("stop_sequence"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise APIResponseError(
                self._redact(f"malformed Messages response ({type(exc).__name__}: {exc})")
            ) from exc
        headers = _kept_headers(response, self._redact)
        return MessageResult(
            id=self._redact(msg_id, SHORT_LIMIT),
            model=self._redact(model, SHORT_LIMIT),
            text=text,
            stop_reason=stop_reason,
            usage=usage,
            stop_sequence=stop_sequence,
            request_id=headers.get("request-id"),
            headers=headers,
            elapsed_s=trio.current_time() - start,
        )

    # -- SSE ----------------------------------------------------------------------

    async def _create_streaming(
        self, body: Mapping[str, Any], on_text: Callable[[str], object] | None
    ) -> MessageResult:
        start = trio.current_time()
        response = await self._send(self._messages_url, self._sse_headers, body)
        if not response.is_success:
            self._raise_status(response, await self._read_body(response))
        if response.headers.get("content-type", "").startswith("application/json"):
            # A server (or proxy) that ignored stream: true: the message is the
            # answer, and a streaming caller gets its text as one chunk.
            result = self._parse_message(response, await self._read_body(response), start)
            if on_text is not None and result.text:
                on_text(result.text)
            return result
        try:
            return await self._read_stream(response, on_text, start)
        finally:
            await response.aclose()

    async def _read_stream(
        self,
        response: httpx.Response,
        on_text: Callable[[str], object] | None,
        start: float,
    ) -> MessageResult:
        headers = _kept_headers(response, self._redact)
        request_id = headers.get("request-id")
        assembly = _StreamAssembly(request_id, self._redact)
        decoder = SSEDecoder()
        chunks = response.aiter_bytes()
        try:
            async for chunk in chunks:
                for event in decoder.feed(chunk):
                    text = assembly.handle(event.event, event.data)
                    if text is not None and on_text is not None:
                        on_text(text)  # outside handle(): its errors are the caller's
        except httpx.HTTPError as exc:
            self._raise_transport(exc)
        except EventTooLargeError as exc:
            await _abandon(chunks)
            raise APIResponseError(f"stream carried {exc}; connection abandoned") from exc
        except BaseException:
            await _abandon(chunks)
            raise
        for event in decoder.close():
            text = assembly.handle(event.event, event.data)
            if text is not None and on_text is not None:
                on_text(text)
        if not assembly.stopped:
            raise APIConnectionError("stream ended before message_stop")
        ttft = assembly.first_text_at
        return MessageResult(
            id=assembly.id,
            model=assembly.model,
            text="".join(assembly.parts),
            stop_reason=assembly.stop_reason,
            usage=_usage(assembly.usage),
            stop_sequence=assembly.stop_sequence,
            request_id=request_id,
            headers=headers,
            elapsed_s=trio.current_time() - start,
            ttft_s=None if ttft is None else ttft - start,
        )


async def _abandon(chunks: AsyncIterator[bytes]) -> None:
    """Stop reading a stream we are leaving early, unwinding every generator layer.

    ``aiter_bytes`` sits on four nested async generators (httpx, httpcore).
    Closing the outer one leaves the inner ones suspended, and trio warns about
    each when it is garbage collected. Pulling once more inside an already
    cancelled scope makes the innermost read raise ``Cancelled``, which
    unwinds every layer; httpcore then closes the connection. Chunks still
    buffered are discarded on the way; a finished iterator returns at once.
    """
    with trio.CancelScope() as scope, suppress(Exception):
        scope.cancel()
        async for _ in chunks:
            pass  # an error here must not replace the one we are leaving with


class _StreamAssembly:
    """Builds a message from Messages stream events, one event at a time.

    Events it does not know (``ping``, ``content_block_stop``, deltas other
    than ``text_delta``, event types added later) are ignored, as the API's
    versioning policy asks of clients.
    """

    __slots__ = (
        "first_text_at",
        "id",
        "model",
        "parts",
        "redact",
        "request_id",
        "started",
        "stop_reason",
        "stop_sequence",
        "stopped",
        "usage",
    )

    def __init__(self, request_id: str | None, redact: Redactor) -> None:
        self.request_id = request_id
        self.redact = redact
        self.id = ""
        self.model = ""
        self.parts: list[str] = []
        self.usage: dict[str, int] = {}
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.first_text_at: float | None = None
        self.started = False
        self.stopped = False

    def handle(self, event: str, raw: str) -> str | None:
        """Apply one event; return the text it added, if any."""
        if self.stopped or event == "ping":
            return None  # nothing after message_stop counts; pings carry nothing
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise APIResponseError(self.redact(f"stream event {event!r} is not JSON")) from exc
        if not isinstance(data, dict):
            raise APIResponseError(self.redact(f"stream event {event!r} is not a JSON object"))
        kind = event if event != "message" else data.get("type")
        try:
            if kind == "content_block_delta":
                delta = data["delta"]
                if delta.get("type") == "text_delta":
                    return self._text(delta["text"])
            elif kind == "content_block_start":
                block = data["content_block"]
                if block.get("type") == "text" and block.get("text"):
                    return self._text(block["text"])
            elif kind == "message_start":
                message = data["message"]
                msg_id, model = message["id"], message["model"]
                if not (isinstance(msg_id, str) and isinstance(model, str)):
                    raise TypeError("id and model must be strings")
                self.id = self.redact(msg_id, SHORT_LIMIT)
                self.model = self.redact(model, SHORT_LIMIT)
                _merge_usage(self.usage, message.get("usage"))
                self.started = True
            elif kind == "message_delta":
                delta = data.get("delta") or {}
                if "stop_reason" in delta:
                    self.stop_reason = _opt_str(delta["stop_reason"])
                if "stop_sequence" in delta:
                    self.stop_sequence = _opt_str(delta["stop_sequence"])
                _merge_usage(self.usage, data.get("usage"))
            elif kind == "message_stop":
                if not self.started:
                    raise APIResponseError("stream sent message_stop without message_start")
                self.stopped = True
            elif kind == "error":
                self._raise_error(data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise APIResponseError(
                self.redact(f"malformed stream event {kind!r} ({type(exc).__name__}: {exc})")
            ) from exc
        return None

    def _raise_error(self, data: dict[str, Any]) -> NoReturn:
        """Raise the ``error`` event as a StreamError, its server text scrubbed and capped."""
        error = data.get("error")
        if not isinstance(error, dict):
            error = {}
        body_id = _opt_str(data.get("request_id"))
        raise StreamError(
            self.redact(_opt_str(error.get("type")) or "unknown", SHORT_LIMIT),
            self.redact(_opt_str(error.get("message")) or ""),
            self.redact(body_id, SHORT_LIMIT) if body_id else self.request_id,
        )

    def _text(self, chunk: object) -> str:
        if not isinstance(chunk, str):
            raise TypeError("text must be a string")
        if self.first_text_at is None:
            self.first_text_at = trio.current_time()
        self.parts.append(chunk)
        return chunk
