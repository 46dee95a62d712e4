"""A loop's calls through the real response cache, and content blocks end to end.

Each call of a step's loop is cached on its own (a changed tool result is a
different key); a step with a side-effect tool reads and writes nothing; the
content blocks a loop sends back survive the cache, the JSON reader and the
SSE assembly (input_json_delta, thinking_delta, signature_delta).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from claude_force_trio._api._client import MessagesClient
from claude_force_trio._api._redact import Redactor
from claude_force_trio._api._stream import StreamAssembly
from claude_force_trio._cache._disk import DiskCache
from claude_force_trio._cache._entry import CachedResponse, cache_key
from claude_force_trio._cache._layer import CacheLayer
from claude_force_trio._cache._policy import CachePolicy, ResponseCache
from claude_force_trio._types import Usage

from .step_loop_support import ScriptedLayer, SleepTool, box, make_step, reply, text, use

pytestmark = pytest.mark.anyio


@pytest.fixture
async def disk(tmp_path: Path) -> AsyncIterator[DiskCache]:
    """A DiskCache in a temporary directory."""
    cache = await DiskCache.open(tmp_path / "cache")
    yield cache
    await cache.aclose()


def loop_script() -> ScriptedLayer:
    """A tool turn, then the answer."""
    return ScriptedLayer(reply(use("read", "t1", n=1), stop="tool_use"), reply(text("done")))


async def test_each_call_is_cached_and_a_changed_tool_result_misses(disk: DiskCache) -> None:
    """A repeat is served turn by turn; a different tool result makes only the next turn miss."""
    cache = ResponseCache(disk, CachePolicy())
    first = loop_script()
    live = await make_step(CacheLayer(first, cache), tools=box(SleepTool("read"))).run()
    assert (live.cached, len(first.calls)) == (False, 2)
    again = ScriptedLayer()
    served = await make_step(CacheLayer(again, cache), tools=box(SleepTool("read"))).run()
    assert (served.status, served.output, served.cached) == ("succeeded", "done", True)
    assert again.calls == []
    assert served.turns == 2
    assert (served.saved_usd or 0.0) > 0
    changed = ScriptedLayer(reply(text("other")))
    tool = SleepTool("read", answer="a different file")
    result = await make_step(CacheLayer(changed, cache), tools=box(tool)).run()
    assert (result.output, result.cached, len(changed.calls)) == ("other", False, 1)


async def test_a_side_effect_tool_stores_nothing(disk: DiskCache) -> None:
    """A step with a side-effect tool: every call goes down, no entry is read or written."""
    cache = ResponseCache(disk, CachePolicy())
    for _ in range(2):
        layer = loop_script()
        tool = SleepTool("read", side_effects=True)
        result = await make_step(CacheLayer(layer, cache), tools=box(tool)).run()
        assert (result.cached, len(layer.calls)) == (False, 2)
        for body in layer.bodies:
            assert await disk.get(cache_key(body)) is None
    assert (cache.hits, cache.misses) == (0, 0)


def test_cache_entries_keep_content_blocks() -> None:
    """An entry round-trips every block; an entry written before blocks were kept reads as text."""
    blocks = (
        {"type": "thinking", "thinking": "hm", "signature": "c2ln"},
        {"type": "text", "text": "Reading."},
        {"type": "tool_use", "id": "t1", "name": "read", "input": {"path": "a.py"}},
    )
    message = reply(*blocks, stop="tool_use")
    stored = CachedResponse.from_message(message, 1.0).to_json("k")
    back = CachedResponse.from_json(stored, "k").to_message()
    assert back.content == blocks
    assert back.stop_reason == "tool_use"
    old = json.loads(stored)
    del old["content"]
    legacy = CachedResponse.from_json(json.dumps(old).encode(), "k")
    assert legacy.content == ({"type": "text", "text": "Reading."},)
    old["content"] = [{"no": "type"}]
    with pytest.raises(ValueError, match="content"):
        CachedResponse.from_json(json.dumps(old).encode(), "k")


async def test_json_replies_keep_their_blocks() -> None:
    """A JSON Messages reply's content comes back block for block, text made printable."""
    content: list[dict[str, Any]] = [
        {"type": "thinking", "thinking": "hm", "signature": "c2ln"},
        {"type": "text", "text": "bad \ud800 char", "citations": None},
        {"type": "tool_use", "id": "t1", "name": "read", "input": {"path": "a.py"}},
    ]
    payload = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 7},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, text=json.dumps(payload), headers={"content-type": "application/json"}
        )

    async with MessagesClient(
        base_url="https://api.test/", api_key="k", transport=httpx.MockTransport(handler)
    ) as client:
        result = await client.create(
            {"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": []}
        )
    assert result.content == (content[0], {**content[1], "text": "bad \ufffd char"}, content[2])
    assert result.text == "bad \ufffd char"
    assert result.usage == Usage(5, 7)


def started(index: int, **block: Any) -> tuple[str, str]:
    """A content_block_start event."""
    data = {"type": "content_block_start", "index": index, "content_block": block}
    return "content_block_start", json.dumps(data)


def delta(index: int, **piece: Any) -> tuple[str, str]:
    """A content_block_delta event."""
    data = {"type": "content_block_delta", "index": index, "delta": piece}
    return "content_block_delta", json.dumps(data)


def event(name: str, **data: Any) -> tuple[str, str]:
    """Any other event, its type its name."""
    return name, json.dumps({"type": name, **data})


async def test_stream_assembles_thinking_signature_and_tool_input() -> None:
    """thinking_delta, signature_delta and input_json_delta pieces make whole blocks."""
    start = {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 3}}
    stream = [
        event("message_start", message=start),
        started(0, type="thinking", thinking="", signature=""),
        delta(0, type="thinking_delta", thinking="Let me "),
        delta(0, type="thinking_delta", thinking="look."),
        delta(0, type="signature_delta", signature="c2lnbmF0dXJl"),
        event("content_block_stop", index=0),
        started(1, type="text", text="", citations=None),
        delta(1, type="text_delta", text="Reading."),
        started(2, type="tool_use", id="t1", name="read", input={}),
        delta(2, type="input_json_delta", partial_json='{"pa'),
        delta(2, type="input_json_delta", partial_json='th": "a.py"}'),
        event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 9}),
        event("message_stop"),
    ]
    assembly = StreamAssembly(None, Redactor(None))
    texts = [assembly.handle(name, data) for name, data in stream]
    assert [t for t in texts if t] == ["Reading."]
    assert assembly.content() == (
        {"type": "thinking", "thinking": "Let me look.", "signature": "c2lnbmF0dXJl"},
        {"type": "text", "text": "Reading.", "citations": None},
        {"type": "tool_use", "id": "t1", "name": "read", "input": {"path": "a.py"}},
    )
