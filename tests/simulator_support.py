"""Helpers shared by the simulator's test modules: request bodies, headers, parsers, checks.

Kept apart from the tests so the module that runs on both backends and the
trio-only timing module (which needs ``MockClock``) use the same bodies.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from claude_force_trio.simulator import Simulator, open_simulator

KEY = "fake-key-test-SECRET-0123456789abcdef"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 400,
    "system": "# code-reviewer\nYou review code.",
    "messages": [
        {"role": "user", "content": "Review the retry loop in client.py\nDetails follow."}
    ],
}
COUNT_BODY = {k: v for k, v in BODY.items() if k != "max_tokens"}
NO_TIMEOUT = httpx.Timeout(None)


async def post(client: httpx.AsyncClient, body: Mapping[str, Any], **kw: Any) -> httpx.Response:
    """POST a Messages body."""
    return await client.post("/v1/messages", json=body, **kw)


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body into (event, data) pairs."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def with_system(system: object, task: str = "Do the thing", **extra: Any) -> dict[str, Any]:
    """BODY with another system prompt and task."""
    return {**BODY, "system": system, "messages": [{"role": "user", "content": task}], **extra}


def cached_body(
    chars: int, *, model: str = "claude-sonnet-4-5", ttl: str | None = None
) -> dict[str, Any]:
    """A body whose system prompt ends in a cache breakpoint after ``chars`` characters."""
    control: dict[str, str] = {"type": "ephemeral"} | ({"ttl": ttl} if ttl else {})
    system = [
        {"type": "text", "text": "# big-agent\n" + "a" * (chars - 12)},
        {"type": "text", "text": "b" * 400, "cache_control": control},
    ]
    return {**BODY, "model": model, "system": system}


def usage_of(response: httpx.Response) -> tuple[int, int, int]:
    """(input, cache creation, cache read) tokens."""
    u = response.json()["usage"]
    return u["input_tokens"], u["cache_creation_input_tokens"], u["cache_read_input_tokens"]


def assert_error(response: httpx.Response, status: int, error_type: str) -> str:
    """Check an API error response and return its message."""
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["request-id"]
    assert body["request_id"].startswith("req_")
    return str(body["error"]["message"])


def raw_request(body: Mapping[str, Any], *, path: str = "/v1/messages") -> bytes:
    """A whole HTTP/1.1 POST written by hand, for tests that speak to the socket directly."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\n"
        f"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    ).encode()
    return head + payload


def host_port(url: str) -> tuple[str, int]:
    """``http://127.0.0.1:PORT`` → ``("127.0.0.1", PORT)``."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A zero-latency simulator on loopback."""
    async with open_simulator(ttft_ms=0, tokens_per_s=0) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for ``sim`` with valid headers."""
    async with httpx.AsyncClient(base_url=sim.url, headers=HEADERS, timeout=NO_TIMEOUT) as c:
        yield c
