"""The simulator's timing in trio's virtual time: latency model, TTLs, rate limits, stalls.

trio-only on purpose: these tests pin exact virtual times with
``MockClock(autojump_threshold=0)`` (pytest-trio's ``autojump_clock`` and
``mock_clock``). The simulator reads ``anyio.current_time()`` and sleeps with
``anyio.sleep``, which under trio follow that clock. Everything else about the
simulator is tested on both backends in ``test_simulator.py``.
"""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
import trio
import trio.testing

from claude_force_trio.simulator import SimulatorConfig, open_simulator

from .simulator_support import (
    BODY,
    HEADERS,
    NO_TIMEOUT,
    assert_error,
    cached_body,
    host_port,
    post,
    raw_request,
    usage_of,
)


async def test_prompt_cache_create_read_expire(mock_clock: trio.testing.MockClock) -> None:
    """A breakpoint prefix is written, read within the 5-minute TTL (refreshed), then expires."""
    body = cached_body(8000)
    prefix = (8000 + 400) // 4
    async with (
        open_simulator(ttft_ms=0, tokens_per_s=0) as sim,
        httpx.AsyncClient(base_url=sim.url, headers=HEADERS, timeout=NO_TIMEOUT) as client,
    ):
        first = usage_of(await post(client, body))
        assert first[1:] == (prefix, 0)
        assert first[0] > 0
        mock_clock.jump(299)
        assert usage_of(await post(client, body)) == (first[0], 0, prefix)
        mock_clock.jump(299)  # the hit above refreshed the TTL
        assert usage_of(await post(client, body)) == (first[0], 0, prefix)
        mock_clock.jump(301)
        assert usage_of(await post(client, body)) == first
        hour = cached_body(9000, ttl="1h")
        split = (await post(client, hour)).json()["usage"]
        assert split["cache_creation"] == {
            "ephemeral_5m_input_tokens": 0,
            "ephemeral_1h_input_tokens": (9000 + 400) // 4,
        }
        mock_clock.jump(3000)
        assert usage_of(await post(client, hour))[2] == (9000 + 400) // 4


async def test_latency_model_json(autojump_clock: trio.testing.MockClock) -> None:
    """A JSON reply takes TTFT + output tokens / tokens_per_s, scaled, in virtual time."""
    async with (
        open_simulator(ttft_ms=400, tokens_per_s=100, latency_scale=2) as sim,
        httpx.AsyncClient(base_url=sim.url, headers=HEADERS, timeout=NO_TIMEOUT) as c,
    ):
        start = trio.current_time()
        msg = (await post(c, BODY)).json()
    elapsed = trio.current_time() - start
    assert elapsed == pytest.approx(2 * (0.4 + msg["usage"]["output_tokens"] / 100))


async def test_latency_fn_streaming(autojump_clock: trio.testing.MockClock) -> None:
    """latency_fn fixes the total; a stream's first delta follows TTFT and the last ends on time."""
    config = SimulatorConfig(ttft_ms=400, tokens_per_s=150, latency_fn=lambda body: 3.0)
    async with (
        open_simulator(config) as sim,
        httpx.AsyncClient(base_url=sim.url, headers=HEADERS, timeout=NO_TIMEOUT) as c,
    ):
        start = trio.current_time()
        times: list[float] = []
        async with c.stream("POST", "/v1/messages", json={**BODY, "stream": True}) as r:
            async for line in r.aiter_lines():
                if line == "event: content_block_delta":
                    times.append(trio.current_time() - start)
    assert len(times) > 3
    assert 0.4 < times[0] < 1.0
    assert times[-1] == pytest.approx(3.0)
    (record,) = sim.requests
    assert record.finished_at - record.started_at == pytest.approx(3.0)


async def test_client_leaving_mid_stream_is_harmless(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A client that disconnects mid-stream leaves a record and a working server."""
    async with open_simulator(latency_fn=lambda body: 10.0) as sim:
        host, port = host_port(sim.url)
        stream = await trio.open_tcp_stream(host, port)
        await stream.send_all(raw_request({**BODY, "stream": True}))
        assert (await stream.receive_some()).startswith(b"HTTP/1.1 200 ")
        await stream.aclose()
        while not sim.requests:  # virtual time: the server notices on its next write
            await trio.sleep(1)
        assert sim.requests[0].status == 200
        assert trio.current_time() < 10
        sim.clear_log()
        async with httpx.AsyncClient(base_url=sim.url, headers=HEADERS, timeout=NO_TIMEOUT) as c:
            assert (await post(c, BODY)).status_code == 200
        assert [r.status for r in sim.requests] == [200]


async def test_stall_fault(autojump_clock: trio.testing.MockClock) -> None:
    """stall never answers: the client's read timeout fires (virtual time), then it is logged."""
    async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
        sim.script("stall")
        async with httpx.AsyncClient(base_url=sim.url, headers=HEADERS, timeout=30) as client:
            start = trio.current_time()
            with pytest.raises(httpx.ReadTimeout):
                await post(client, BODY)
            assert trio.current_time() - start == pytest.approx(30)
        with trio.fail_after(5):
            while not sim.requests:
                await trio.sleep(0.01)
    assert [(r.status, r.fault) for r in sim.requests] == [(None, "stall")]


async def test_rate_limit_headers_and_429(mock_clock: trio.testing.MockClock) -> None:
    """With rpm=180 the bucket holds 3: remaining counts down, then 429; it refills with time."""
    async with (
        open_simulator(ttft_ms=0, tokens_per_s=0, rpm=180, tpm=600_000) as sim,
        httpx.AsyncClient(base_url=sim.url, headers=HEADERS) as client,
    ):
        responses = [await post(client, BODY) for _ in range(4)]
        remaining = [r.headers["anthropic-ratelimit-requests-remaining"] for r in responses]
        assert remaining == ["2", "1", "0", "0"]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        limited = responses[-1]
        assert_error(limited, 429, "rate_limit_error")
        assert limited.headers["retry-after"] == "1"
        assert limited.headers["retry-after-ms"] == "334"
        head = responses[0].headers
        assert head["anthropic-ratelimit-requests-limit"] == "180"
        assert int(head["anthropic-ratelimit-input-tokens-remaining"]) < 10_000
        assert head["anthropic-ratelimit-tokens-limit"] == "600000"
        reset = datetime.fromisoformat(head["anthropic-ratelimit-requests-reset"])
        assert reset.utcoffset() is not None
        mock_clock.jump(1 / 3)
        assert (await post(client, BODY)).status_code == 200
    assert [r.status for r in sim.requests] == [200, 200, 200, 429, 200]
