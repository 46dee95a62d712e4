"""Sending a successful reply: one JSON ``Message``, or the SSE event sequence, on time.

All waiting is ``anyio.sleep``, which under trio is ``trio.sleep``: in-process
under ``trio.testing.MockClock`` a reply "takes" its modelled latency in virtual
time and costs nothing real. A stream sends its head at once (the SDK returns
from ``messages.stream`` on the headers), the first events after the time to
first token, and spreads the text deltas evenly over the rest of the latency.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anyio

from ._faults import FAULT_KINDS, Fault
from ._http import HttpConnection
from ._replies import Reply, text_chunks
from ._wire import (
    block_events,
    message_end_events,
    message_object,
    sse,
    stream_error_event,
    stream_start_events,
    stream_stop_events,
    text_delta_event,
)

__all__ = ["send_message", "stream_message"]


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await anyio.sleep(seconds)


async def send_message(
    http: HttpConnection,
    headers: Sequence[tuple[str, str]],
    message: dict[str, Any],
    total_s: float,
) -> None:
    """Wait the whole latency, then send the ``Message`` as JSON."""
    await _sleep(total_s)
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    await http.respond(200, [*headers, ("content-type", "application/json")], body)


async def stream_message(
    http: HttpConnection,
    headers: Sequence[tuple[str, str]],
    msg_id: str,
    model: str,
    reply: Reply,
    usage: dict[str, Any],
    latency: tuple[float, float],
    *,
    request_id: str,
    fail: Fault | None = None,
) -> None:
    """Stream ``reply`` as server-sent events over ``latency`` = (ttft, total) seconds.

    With ``fail`` (a ``stream_error`` fault) about half the deltas are sent, then an
    ``event: error`` and no ``message_stop``; the HTTP response itself ends cleanly.
    """
    ttft, total = latency
    sse_headers = [
        *headers,
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-cache"),
    ]
    await http.start_stream(200, sse_headers)
    await _sleep(ttft)
    start_usage = {**usage, "output_tokens": 1}
    if reply.blocks is not None:
        head = message_object(msg_id, model, None, start_usage)
        await _stream_blocks(http, head, reply, usage, total - ttft, request_id, fail)
        return
    await http.send_chunk(stream_start_events(message_object(msg_id, model, None, start_usage)))
    chunks = text_chunks(reply.text)
    step = max(0.0, total - ttft) / len(chunks)
    if fail is not None:
        for chunk in chunks[: max(1, len(chunks) // 2)]:
            await _sleep(step)
            await http.send_chunk(text_delta_event(chunk))
        await _send_stream_error(http, fail, request_id)
        return
    if step > 0:
        for chunk in chunks:
            await _sleep(step)
            await http.send_chunk(text_delta_event(chunk))
        await http.send_chunk(stream_stop_events(reply, usage))
    else:  # nothing to wait for: still separate events, but one write instead of dozens
        events = b"".join(text_delta_event(chunk) for chunk in chunks)
        await http.send_chunk(events + stream_stop_events(reply, usage))
    await http.end_stream()


async def _send_stream_error(http: HttpConnection, fail: Fault, request_id: str) -> None:
    """The ``event: error`` of a ``stream_error`` fault, then the end of the HTTP response."""
    _, error_type, default_message = FAULT_KINDS["stream_error"] or (529, "", "")
    message = fail.message or default_message
    await http.send_chunk(stream_error_event(error_type, message, request_id))
    await http.end_stream()


def _block_pieces(reply: Reply) -> list[bytes]:
    """Every block's events, grouped so each piece is one delta (with its block's start/stop)."""
    pieces: list[bytes] = []
    for index, block in enumerate(reply.blocks or ()):
        chunks = text_chunks(str(block.get("text") or block.get("thinking") or ""))
        start, deltas, stop = block_events(index, block, chunks)
        pieces.append(start + deltas[0])
        pieces.extend(deltas[1:])
        pieces[-1] += stop
    return pieces


async def _stream_blocks(
    http: HttpConnection, head: dict[str, Any], reply: Reply, usage: dict[str, Any],
    generation_s: float, request_id: str, fail: Fault | None,
) -> None:  # fmt: skip
    """Stream a reply of several blocks (thinking, text, tool_use), deltas spread evenly."""
    await http.send_chunk(
        sse("message_start", {"type": "message_start", "message": head})
        + sse("ping", {"type": "ping"})
    )
    pieces = _block_pieces(reply)
    step = max(0.0, generation_s) / len(pieces)
    if fail is not None:
        for piece in pieces[: max(1, len(pieces) // 2)]:
            await _sleep(step)
            await http.send_chunk(piece)
        await _send_stream_error(http, fail, request_id)
        return
    if step > 0:
        for piece in pieces:
            await _sleep(step)
            await http.send_chunk(piece)
        await http.send_chunk(message_end_events(reply, usage))
    else:
        await http.send_chunk(b"".join(pieces) + message_end_events(reply, usage))
    await http.end_stream()
