"""``MessagesClient``: one attempt at ``POST /v1/messages`` over a shared connection pool.

This is the edge of the library: httpx, JSON and SSE stop here (the stream is
read by ``_stream``, the wire format is ``_wire``). Everything that goes wrong
on the wire is mapped once, here, onto the tree in ``_errors`` and chained with
``raise ... from exc``: a non-2xx answer → the :class:`APIStatusError` subclass
for its status, with the API's ``error.type``, ``error.message`` and
``request_id``; a timeout → :class:`APITimeoutError`; another transport
failure → :class:`APIConnectionError` (or :class:`LocalResourceError` when this
machine ran short); a 2xx body we cannot read, or one over
:data:`MAX_BODY_BYTES` → :class:`APIResponseError`; an SSE ``error`` event →
:class:`StreamError`.

Every text a server sent that we keep goes through one
:class:`~claude_force_trio._api._redact.Redactor`, once: the key and any run of
8 of its characters scrubbed, one line, capped at 500 characters. The answer's
own text is passed on as sent (lone surrogates made printable).

``create`` is deliberately a single attempt: retries, the breaker and the
limiter are the layer above (``send`` is this client's face as the bottom layer
of the call stack). Per-call cost matters, so headers, URLs, timeouts and the
transport are resolved once in ``__init__``; each call builds one
``httpx.Request`` and hands it to the pooled transport through its public
``handle_async_request``, skipping the merging, auth and redirect machinery of
``AsyncClient.send`` that this API never needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Self

import anyio
import httpx

from .._errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
)
from .._types import MessageResult, Usage
from ._local import local_failure
from ._redact import SHORT_LIMIT, Redactor
from ._stream import abandon, body_chunks, read_stream
from ._transport import open_transport
from ._wire import (
    MAX_BODY_BYTES,
    NOT_FOR_COUNT,
    build_headers,
    content_blocks,
    json_post,
    kept_headers,
    opt_str,
    raise_status,
)

if TYPE_CHECKING:
    from .._call import Call, CallObserver

__all__ = ["MAX_BODY_BYTES", "MessagesClient"]


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
        headers = partial(
            build_headers,
            host=self._messages_url.netloc,
            api_key=api_key,
            auth=auth,
            version=version,
            user_agent=user_agent,
        )
        self._json_headers = headers(accept="application/json")
        self._sse_headers = headers(accept="text/event-stream")
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
            token, both on ``anyio.current_time()``.

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
        start = anyio.current_time()
        try:  # ``_send`` inline: one frame less for every call waiting on its answer
            response = await self._transport.handle_async_request(
                self._post(self._messages_url, self._json_headers, body)
            )
        except httpx.HTTPError as exc:
            self._raise_sending(exc)
        content = await self._read_body(response)
        if not response.is_success:
            raise_status(response, content, self._redact)
        return self._parse_message(response, content, start)

    def send(self, call: Call, observer: CallObserver) -> Coroutine[Any, Any, MessageResult]:
        """The bottom of the call stack: one attempt at ``call`` (the ``Layer`` protocol).

        A streaming call's text goes to ``observer.text`` as it arrives. It is
        ``create``'s coroutine as it is (see ``Layer``).
        """
        return self.create(call.body, on_text=observer.text if call.stream else None)

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
        if not NOT_FOR_COUNT.isdisjoint(body):
            body = {k: v for k, v in body.items() if k not in NOT_FOR_COUNT}
        response = await self._send(self._count_url, self._json_headers, body)
        content = await self._read_body(response)
        if not response.is_success:
            raise_status(response, content, self._redact)
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
        try:
            return await self._transport.handle_async_request(self._post(url, headers, body))
        except httpx.HTTPError as exc:
            self._raise_sending(exc)

    def _post(
        self, url: httpx.URL, headers: httpx.Headers, body: Mapping[str, Any]
    ) -> httpx.Request:
        if self._closed:
            raise RuntimeError("this MessagesClient has been closed")
        return json_post(url, headers, body, self._extensions)

    def _raise_sending(self, exc: httpx.HTTPError) -> NoReturn:
        """A request that got no response: this machine's fault (see ``_transport``) or not."""
        local = local_failure(exc)
        if local is not None:
            raise local from exc
        self._raise_transport(exc)

    async def _read_body(self, response: httpx.Response) -> bytes:
        """Read a whole body, at most :data:`MAX_BODY_BYTES` of it, and close the response.

        Read to the end, the connection goes back to the pool; left early (too
        large, an error, a cancel), it is closed.
        """
        chunks = body_chunks(response)
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
            await abandon(chunks)
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
            kept = content_blocks(blocks)
            text = "".join(block["text"] for block in kept if block["type"] == "text")
            usage = Usage.from_api(data.get("usage"))
            stop_reason = opt_str(data.get("stop_reason"))
            stop_sequence = opt_str(data.get("stop_sequence"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise APIResponseError(
                self._redact(f"malformed Messages response ({type(exc).__name__}: {exc})")
            ) from exc
        headers = kept_headers(response, self._redact)
        return MessageResult(
            id=self._redact(msg_id, SHORT_LIMIT),
            model=self._redact(model, SHORT_LIMIT),
            text=text,
            stop_reason=stop_reason,
            usage=usage,
            stop_sequence=stop_sequence,
            request_id=headers.get("request-id"),
            headers=headers,
            elapsed_s=anyio.current_time() - start,
            content=kept,
        )

    # -- SSE ----------------------------------------------------------------------

    async def _create_streaming(
        self, body: Mapping[str, Any], on_text: Callable[[str], object] | None
    ) -> MessageResult:
        start = anyio.current_time()
        response = await self._send(self._messages_url, self._sse_headers, body)
        if not response.is_success:
            raise_status(response, await self._read_body(response), self._redact)
        if response.headers.get("content-type", "").startswith("application/json"):
            # A server (or proxy) that ignored stream: true: the message is the
            # answer, and a streaming caller gets its text as one chunk.
            result = self._parse_message(response, await self._read_body(response), start)
            if on_text is not None and result.text:
                on_text(result.text)
            return result
        try:
            return await read_stream(response, on_text, start, self._redact, self._raise_transport)
        finally:
            await response.aclose()
