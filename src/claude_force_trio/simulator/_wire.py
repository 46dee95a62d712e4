"""The JSON bodies and server-sent events the simulator sends, shaped like the API's.

Pure functions, so the shapes can be checked against the OpenAPI description
without a server. Every nullable field the ``Message`` schema lists as
required is present (``stop_details``, ``container``, ``citations``, ...),
because strict clients and the schema tests expect them.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ._promptcache import CacheUsage
from ._replies import Reply

__all__ = [
    "block_events",
    "content_of",
    "error_body",
    "message_end_events",
    "message_object",
    "new_id",
    "sse",
    "stream_error_event",
    "stream_start_events",
    "stream_stop_events",
    "text_delta_event",
    "usage_object",
]


def new_id(prefix: str) -> str:
    """A fresh id like the API's (``req_…``, ``msg_…``): a prefix and 24 random characters."""
    return f"{prefix}_sim{secrets.token_hex(12)}"


def _dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def error_body(error_type: str, message: str, request_id: str) -> bytes:
    """``{"type":"error","error":{"type":…,"message":…},"request_id":"req_…"}``."""
    return _dumps(
        {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": request_id,
        }
    )


def usage_object(cache: CacheUsage, output_tokens: int) -> dict[str, Any]:
    """The ``usage`` object of a ``Message``."""
    return {
        "input_tokens": cache.input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache.cache_creation_input_tokens,
        "cache_read_input_tokens": cache.cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.ephemeral_5m_input_tokens,
            "ephemeral_1h_input_tokens": cache.ephemeral_1h_input_tokens,
        },
        "inference_geo": None,
        "output_tokens_details": None,
        "server_tool_use": None,
        "service_tier": "standard",
    }


def message_object(
    msg_id: str, model: str, reply: Reply | None, usage: dict[str, Any]
) -> dict[str, Any]:
    """A ``Message``; with ``reply=None`` the empty one that opens a stream."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "content": [] if reply is None else content_of(reply),
        "model": model,
        "stop_reason": None if reply is None else reply.stop_reason,
        "stop_sequence": None if reply is None else reply.stop_sequence,
        "stop_details": None,
        "usage": usage,
        "container": None,
    }


def content_of(reply: Reply) -> list[dict[str, Any]]:
    """The ``content`` list of a reply: its blocks, or the one text block of the plain path."""
    if reply.blocks is not None:
        return [dict(block) for block in reply.blocks]
    return [{"type": "text", "text": reply.text, "citations": None}]


def sse(event: str, data: object) -> bytes:
    """One server-sent event: ``event: NAME`` and a single-line JSON ``data``."""
    return b"event: " + event.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def stream_start_events(message: dict[str, Any]) -> bytes:
    """message_start, content_block_start and ping, sent together at the first token."""
    return (
        sse("message_start", {"type": "message_start", "message": message})
        + sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": "", "citations": None},
            },
        )
        + sse("ping", {"type": "ping"})
    )


def text_delta_event(text: str) -> bytes:
    """One content_block_delta carrying a text_delta."""
    return sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
    )


def _empty_start(block: dict[str, Any]) -> dict[str, Any]:
    """A block as ``content_block_start`` announces it: its text, thinking or input still empty."""
    kind = block["type"]
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if kind == "tool_use":
        return {**block, "input": {}}
    return {**block, "text": ""}


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return sse(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


def _pieces(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def block_events(
    index: int, block: dict[str, Any], chunks: list[str]
) -> tuple[bytes, list[bytes], bytes]:
    """(content_block_start, its deltas, content_block_stop) for one content block.

    Text arrives as ``text_delta`` chunks, thinking as ``thinking_delta`` chunks and one
    ``signature_delta``, a tool call's input as ``input_json_delta`` pieces of its JSON.
    ``chunks`` is how the text or thinking is split (``text_chunks``).
    """
    start = sse(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": _empty_start(block)},
    )
    kind = block["type"]
    if kind == "thinking":
        deltas = [_delta(index, {"type": "thinking_delta", "thinking": c}) for c in chunks]
        deltas.append(_delta(index, {"type": "signature_delta", "signature": block["signature"]}))
    elif kind == "tool_use":
        raw = json.dumps(block["input"], separators=(",", ":"), ensure_ascii=False)
        deltas = [_delta(index, {"type": "input_json_delta", "partial_json": p})
                  for p in _pieces(raw, 3)]  # fmt: skip
    else:
        deltas = [_delta(index, {"type": "text_delta", "text": c}) for c in chunks]
    stop = sse("content_block_stop", {"type": "content_block_stop", "index": index})
    return start, deltas, stop


def message_end_events(reply: Reply, usage: dict[str, Any]) -> bytes:
    """message_delta (stop reason, final usage) and message_stop."""
    delta_usage = {
        "input_tokens": usage["input_tokens"],
        "output_tokens": reply.output_tokens,
        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
        "output_tokens_details": None,
        "server_tool_use": None,
    }
    delta = {
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "stop_details": None,
        "container": None,
    }
    return sse(
        "message_delta", {"type": "message_delta", "delta": delta, "usage": delta_usage}
    ) + sse("message_stop", {"type": "message_stop"})


def stream_stop_events(reply: Reply, usage: dict[str, Any]) -> bytes:
    """content_block_stop of the one text block, then :func:`message_end_events`."""
    stop = sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    return stop + message_end_events(reply, usage)


def stream_error_event(error_type: str, message: str, request_id: str) -> bytes:
    """The ``event: error`` the API sends when a stream fails after it started."""
    return sse(
        "error",
        {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": request_id,
        },
    )
