"""Reading a Messages answer from a server-sent-event stream.

:func:`read_stream` feeds the SSE decoder's events to a :class:`StreamAssembly`,
which builds the message one event at a time, and hands text deltas to the
caller as they arrive. Events it does not know (``ping``,
``content_block_stop``, deltas other than ``text_delta``, event types added
later) are ignored, as the API's versioning policy asks of clients.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Any, NoReturn

import anyio
import httpx

from .._errors import APIConnectionError, APIResponseError, StreamError
from .._types import MessageResult
from ._redact import SHORT_LIMIT, Redactor
from ._sse import EventTooLargeError, SSEDecoder
from ._wire import clean_text, kept_headers, merge_usage, opt_str, usage_from_counts

__all__ = ["StreamAssembly", "abandon", "read_stream"]

TextCallback = Callable[[str], object]


async def read_stream(
    response: httpx.Response,
    on_text: TextCallback | None,
    start: float,
    redact: Redactor,
    transport_error: Callable[[httpx.HTTPError], NoReturn],
) -> MessageResult:
    """Read an SSE answer to the end and return the message it spelled.

    Args:
        response: a 2xx ``text/event-stream`` response, its body unread.
        on_text: called with each text delta as it arrives.
        start: when the request was sent (``anyio.current_time()``).
        redact: scrubs the server's text.
        transport_error: maps an httpx failure while reading onto our errors.
    """
    headers = kept_headers(response, redact)
    request_id = headers.get("request-id")
    assembly = StreamAssembly(request_id, redact)
    decoder = SSEDecoder()
    chunks = response.aiter_bytes()
    try:
        async for chunk in chunks:
            for event in decoder.feed(chunk):
                text = assembly.handle(event.event, event.data)
                if text is not None and on_text is not None:
                    on_text(text)  # outside handle(): its errors are the caller's
    except httpx.HTTPError as exc:
        transport_error(exc)
    except EventTooLargeError as exc:
        await abandon(chunks)
        raise APIResponseError(f"stream carried {exc}; connection abandoned") from exc
    except BaseException:
        await abandon(chunks)
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
        usage=usage_from_counts(assembly.usage),
        stop_sequence=assembly.stop_sequence,
        request_id=request_id,
        headers=headers,
        elapsed_s=anyio.current_time() - start,
        ttft_s=None if ttft is None else ttft - start,
    )


async def abandon(chunks: AsyncIterator[bytes]) -> None:
    """Stop reading a stream we are leaving early, unwinding every generator layer.

    ``aiter_bytes`` sits on four nested async generators (httpx, httpcore).
    Closing the outer one leaves the inner ones suspended, and trio warns about
    each when it is garbage collected. Pulling once more inside an already
    cancelled scope makes the innermost read raise ``Cancelled``, which
    unwinds every layer; httpcore then closes the connection. Chunks still
    buffered are discarded on the way; a finished iterator returns at once.
    """
    with anyio.CancelScope() as scope, suppress(Exception):
        scope.cancel()
        async for _ in chunks:
            pass  # an error here must not replace the one we are leaving with


class StreamAssembly:
    """Builds a message from Messages stream events, one event at a time."""

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
                merge_usage(self.usage, message.get("usage"))
                self.started = True
            elif kind == "message_delta":
                delta = data.get("delta") or {}
                if "stop_reason" in delta:
                    self.stop_reason = opt_str(delta["stop_reason"])
                if "stop_sequence" in delta:
                    self.stop_sequence = opt_str(delta["stop_sequence"])
                merge_usage(self.usage, data.get("usage"))
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
        body_id = opt_str(data.get("request_id"))
        raise StreamError(
            self.redact(opt_str(error.get("type")) or "unknown", SHORT_LIMIT),
            self.redact(opt_str(error.get("message")) or ""),
            self.redact(body_id, SHORT_LIMIT) if body_id else self.request_id,
        )

    def _text(self, chunk: object) -> str:
        if not isinstance(chunk, str):
            raise TypeError("text must be a string")
        if self.first_text_at is None:
            self.first_text_at = anyio.current_time()
        chunk = clean_text(chunk)
        self.parts.append(chunk)
        return chunk
