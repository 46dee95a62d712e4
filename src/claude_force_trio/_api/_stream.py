"""Reading a Messages answer from a server-sent-event stream.

:func:`read_stream` feeds the SSE decoder's events to a :class:`StreamAssembly`,
which builds the message one event at a time, and hands text deltas to the
caller as they arrive. It also rebuilds every content block (a tool loop sends
them back): ``text_delta``, ``thinking_delta``, ``signature_delta`` and
``citations_delta`` fill their block, and the ``input_json_delta`` pieces of a
``tool_use`` block are joined and parsed once, when the message is complete.
Events it does not know (``ping``, ``content_block_stop``, delta and event
types added later) are ignored, as the API's versioning policy asks of clients.
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

__all__ = ["StreamAssembly", "abandon", "body_chunks", "read_stream"]

TextCallback = Callable[[str], object]

#: The block field each kind of delta extends: (delta type, its key, the block's key).
_PIECES = {
    "text_delta": ("text", "text"),
    "thinking_delta": ("thinking", "thinking"),
    "signature_delta": ("signature", "signature"),
    "input_json_delta": ("partial_json", "input"),
}
#: The kind of block a delta belongs to, for a delta whose block never started.
_IMPLIED = {"text": "text", "thinking": "thinking", "signature": "thinking", "input": "tool_use"}


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
    chunks = body_chunks(response)
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
        content=assembly.content(),
    )


def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """A response body's bytes: as they came when not content-coded, else decoded by httpx.

    Why not always ``aiter_bytes``: it stacks two async generators, a decoder
    and a re-chunker on the stream, about 4% of a call's CPU
    (``benchmarks/throughput.py``), for a body the server did not encode (the
    simulator's, an event stream's, and most of the API's).
    """
    stream = response.stream
    if "content-encoding" in response.headers or not isinstance(stream, httpx.AsyncByteStream):
        return response.aiter_bytes()
    return aiter(stream)


async def abandon(chunks: AsyncIterator[bytes]) -> None:
    """Stop reading a stream we are leaving early, unwinding every generator layer.

    ``aiter_bytes`` (a content-coded body's) sits on nested async generators (httpx's).
    Closing the outer one leaves the inner ones suspended, and trio warns about
    each when it is garbage collected. Pulling once more inside an already
    cancelled scope makes the innermost read raise ``Cancelled``, which
    unwinds every layer; the pool then drops the connection. Chunks still
    buffered are discarded on the way; a finished iterator returns at once.
    """
    with anyio.CancelScope() as scope, suppress(Exception):
        scope.cancel()
        async for _ in chunks:
            pass  # an error here must not replace the one we are leaving with


class StreamAssembly:
    """Builds a message from Messages stream events, one event at a time."""

    __slots__ = (
        "blocks",
        "first_text_at",
        "id",
        "model",
        "parts",
        "pieces",
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
        self.blocks: dict[int, dict[str, Any]] = {}
        self.pieces: dict[tuple[int, str], list[str]] = {}

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
                return self._delta(data.get("index"), data["delta"])
            if kind == "content_block_start":
                return self._start_block(data.get("index"), data["content_block"])
            if kind == "message_start":
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

    def _index(self, index: object) -> int:
        """The block an event is about: its ``index``, else the latest block (lenient)."""
        if isinstance(index, int) and not isinstance(index, bool):
            return index
        return max(self.blocks, default=0)

    def _start_block(self, index: object, block: Any) -> str | None:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise TypeError("content_block must be an object with a string type")
        at = self._index(index)
        self.blocks[at] = dict(block)
        for key in ("text", "thinking"):
            if isinstance(block.get(key), str) and block[key]:
                self._piece(at, key, block[key])
        if block["type"] == "text" and block.get("text"):
            return self._text(block["text"])
        return None

    def _delta(self, index: object, delta: Any) -> str | None:
        kind = delta.get("type")
        at = self._index(index)
        if kind == "citations_delta":
            block = self._block(at, "text")
            if not isinstance(block.get("citations"), list):
                block["citations"] = []  # a start block says ``citations: null``
            block["citations"].append(delta["citation"])
            return None
        fills = _PIECES.get(kind)
        if fills is None:
            return None  # a delta type added later
        source, target = fills
        piece = delta[source]
        if kind == "text_delta":
            piece = self._text(piece)
        elif not isinstance(piece, str):
            raise TypeError(f"{source} must be a string")
        self._block(at, target)
        self._piece(at, target, piece)
        return piece if kind == "text_delta" else None

    def _block(self, at: int, target: str) -> dict[str, Any]:
        """Block ``at``; one of the kind ``target`` implies, if it never started."""
        block = self.blocks.get(at)
        if block is None:
            block = self.blocks[at] = {"type": _IMPLIED[target]}
        return block

    def _piece(self, at: int, target: str, piece: str) -> None:
        pieces = self.pieces.get((at, target))
        if pieces is None:
            self.pieces[(at, target)] = [piece]
        else:
            pieces.append(piece)

    def content(self) -> tuple[dict[str, Any], ...]:
        """Every block, in index order, its pieces joined (a tool's input parsed).

        A reply cut at ``max_tokens`` may end inside a tool's input: that block
        keeps the input it started with (the step fails it as truncated anyway).

        Raises:
            APIResponseError: a complete reply's tool input is not one JSON object.
        """
        for (at, target), pieces in self.pieces.items():
            joined = "".join(pieces)
            if target != "input":
                self.blocks[at][target] = joined
            elif joined:
                try:
                    value = json.loads(joined)
                except ValueError:
                    value = None
                if isinstance(value, dict):
                    self.blocks[at]["input"] = value
                elif self.stop_reason != "max_tokens":
                    raise APIResponseError("stream sent a tool input that is not a JSON object")
        self.pieces.clear()
        return tuple(self.blocks[at] for at in sorted(self.blocks))

    def _text(self, chunk: object) -> str:
        if not isinstance(chunk, str):
            raise TypeError("text must be a string")
        if self.first_text_at is None:
            self.first_text_at = anyio.current_time()
        chunk = clean_text(chunk)
        self.parts.append(chunk)
        return chunk
