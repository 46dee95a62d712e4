"""Tests of the Messages API simulator over real loopback HTTP (httpx against anyio + h11).

Every async test here runs on both backends, trio and asyncio: the simulator is
written against anyio and must serve either. Tests that need exact virtual
times (trio's ``MockClock``) live in ``test_simulator_timing.py``; starting,
stopping and the package's surface in ``test_simulator_serving.py``.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

import anyio
import httpx
import pytest

from claude_force_trio.simulator import (
    Fault,
    FaultPlan,
    Simulator,
    SimulatorConfig,
    agent_name,
    open_simulator,
    task_line,
)

from .openapi_schema import require_spec, validate
from .simulator_support import (
    BODY,
    COUNT_BODY,
    HEADERS,
    KEY,
    NO_TIMEOUT,
    assert_error,
    cached_body,
    host_port,
    post,
    sse_events,
    usage_of,
    with_system,
)
from .simulator_support import client as client  # the shared fixtures
from .simulator_support import sim as sim

pytestmark = pytest.mark.anyio


# -- replies ---------------------------------------------------------------------------------


async def test_json_reply_shape_and_determinism(client: httpx.AsyncClient) -> None:
    """A JSON reply is a full Message, names the agent, echoes the task, and repeats exactly."""
    first, second = await post(client, BODY), await post(client, BODY)
    assert first.status_code == second.status_code == 200
    msg = first.json()
    assert msg["id"].startswith("msg_")
    assert msg["type"] == "message"
    assert msg["role"] == "assistant"
    assert msg["model"] == BODY["model"]
    assert msg["stop_reason"] == "end_turn"
    text = msg["content"][0]["text"]
    assert text == second.json()["content"][0]["text"]
    assert "Agent: code-reviewer" in text
    assert "Task: Review the retry loop in client.py\n" in text
    assert 30 <= msg["usage"]["output_tokens"] <= 250
    assert msg["usage"]["output_tokens"] == max(1, -(-len(text) // 4))
    assert first.headers["request-id"].startswith("req_")
    assert first.headers["request-id"] != second.headers["request-id"]


async def test_different_prompts_differ(client: httpx.AsyncClient) -> None:
    """Different tasks, systems or models give different texts."""
    bodies = [
        with_system("You are a tester.", "task one"),
        with_system("You are a tester.", "task two"),
        with_system("You are a linter.", "task one"),
        {**with_system("You are a tester.", "task one"), "model": "claude-haiku-4-5"},
    ]
    texts = [(await post(client, b)).json()["content"][0]["text"] for b in bodies]
    assert len(set(texts)) == len(texts)


def test_agent_name_and_task_line() -> None:
    """The agent comes from a heading, else a "You are" line; the task is cut at ~120 chars."""
    assert agent_name("intro\n# Security Scanner\n# other") == "Security Scanner"
    blocks = [{"type": "text", "text": "You are the QA lead."}]
    assert agent_name(blocks) == "the QA lead"
    assert agent_name(None) == agent_name("plain prompt") == "assistant"
    long = "x" * 300
    assert task_line([{"role": "user", "content": f"\n  {long}\nrest"}]) == "x" * 119 + "…"
    blocks_msg = [{"role": "user", "content": [{"type": "text", "text": "first\nsecond"}]}]
    assert task_line([*blocks_msg, {"role": "assistant", "content": "ok"}]) == "first"


async def test_max_tokens_truncates(client: httpx.AsyncClient) -> None:
    """max_tokens cuts the text to that many tokens with stop_reason max_tokens."""
    msg = (await post(client, {**BODY, "max_tokens": 5})).json()
    assert msg["stop_reason"] == "max_tokens"
    assert msg["stop_sequence"] is None
    assert msg["usage"]["output_tokens"] == 5
    assert len(msg["content"][0]["text"]) == 20


async def test_stop_sequences(client: httpx.AsyncClient) -> None:
    """A stop sequence ends the text before it, with stop_reason stop_sequence."""
    msg = (await post(client, {**BODY, "stop_sequences": ["zzz", "Findings:"]})).json()
    assert msg["stop_reason"] == "stop_sequence"
    assert msg["stop_sequence"] == "Findings:"
    assert msg["content"][0]["text"].endswith("client.py\n\n")


async def test_streaming_event_sequence(client: httpx.AsyncClient) -> None:
    """SSE has the API's full event sequence, and its text and usage equal the JSON reply's."""
    plain = (await post(client, BODY)).json()
    response = await post(client, {**BODY, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    deltas = [data["delta"]["text"] for name, data in events if name == "content_block_delta"]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert names[3:-3] == ["content_block_delta"] * len(deltas)
    assert len(deltas) > 3
    assert "".join(deltas) == plain["content"][0]["text"]
    _, message_delta = events[-2]
    assert message_delta["delta"]["stop_reason"] == plain["stop_reason"]
    assert message_delta["usage"]["output_tokens"] == plain["usage"]["output_tokens"]
    assert events[0][1]["message"]["usage"]["input_tokens"] == plain["usage"]["input_tokens"]


async def test_count_tokens(client: httpx.AsyncClient) -> None:
    """count_tokens returns the input tokens a create call is billed for."""
    counted = await client.post("/v1/messages/count_tokens", json=COUNT_BODY)
    assert counted.status_code == 200
    created = (await post(client, BODY)).json()
    assert counted.json() == {"input_tokens": created["usage"]["input_tokens"]}
    extra = await client.post("/v1/messages/count_tokens", json={**BODY})
    assert extra.status_code == 400
    assert extra.json()["error"]["message"] == "max_tokens: Extra inputs are not permitted"


# -- prompt caching -------------------------------------------------------------------------


async def test_prompt_cache_minimum_length(client: httpx.AsyncClient) -> None:
    """A prefix under the model's minimum (1024; 4096 for Haiku 4.5) is never cached."""
    short = cached_body(2000)
    for _ in range(2):
        assert usage_of(await post(client, short))[1:] == (0, 0)
    haiku = cached_body(8000, model="claude-haiku-4-5")
    assert usage_of(await post(client, haiku))[1:] == (0, 0)
    assert usage_of(await post(client, cached_body(8000)))[1] == 2100
    assert usage_of(await post(client, cached_body(17000, model="claude-haiku-4-5")))[1] > 4096


async def test_prompt_cache_message_breakpoint(client: httpx.AsyncClient) -> None:
    """A breakpoint on a message block caches system + messages up to it; then it is read."""
    content = [{"type": "text", "text": "c" * 6000, "cache_control": {"type": "ephemeral"}}]
    body = {**BODY, "messages": [{"role": "user", "content": content}]}
    _, created, _ = usage_of(await post(client, body))
    assert created >= 1500
    assert usage_of(await post(client, body))[1:] == (0, created)


# -- latency model ------------------------------------------------------------------------------


def test_latency_fn_none_falls_back_to_model() -> None:
    """latency_fn returning None uses the model; zero TTFT and speed mean zero latency."""
    config = SimulatorConfig(ttft_ms=500, tokens_per_s=100, latency_fn=lambda body: None)
    assert config.latency(BODY, 50) == pytest.approx((0.5, 1.0))
    assert SimulatorConfig(ttft_ms=0, tokens_per_s=0).latency(BODY, 50) == (0.0, 0.0)
    with pytest.raises(ValueError, match="ttft_ms"):
        SimulatorConfig(ttft_ms=-1)


# -- checks and errors ------------------------------------------------------------------------


async def test_auth_missing_and_wrong_key_never_echoed() -> None:
    """No key gives 401; with api_key set, a wrong key gives 401 and is echoed nowhere."""
    async with (
        open_simulator(ttft_ms=0, tokens_per_s=0, api_key=KEY) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        version = {"anthropic-version": "2023-06-01"}
        assert_error(await post(client, BODY, headers=version), 401, "authentication_error")
        wrong = "fake-key-WRONG-key-9999"
        for auth in ({"x-api-key": wrong}, {"authorization": f"Bearer {wrong}"}):
            response = await post(client, BODY, headers={**version, **auth})
            assert_error(response, 401, "authentication_error")
            everything = response.text + repr(response.headers.multi_items())
            assert wrong not in everything
            assert KEY not in everything
        bearer = {**version, "authorization": f"Bearer {KEY}"}
        assert (await post(client, BODY, headers=bearer)).status_code == 200
    assert all(KEY not in repr(r) and wrong not in repr(r) for r in sim.requests)


async def test_anthropic_version(client: httpx.AsyncClient) -> None:
    """A missing or unknown anthropic-version is a 400; both known versions work."""
    bad = await post(client, BODY, headers={"anthropic-version": "2020-01-01"})
    assert "anthropic-version" in assert_error(bad, 400, "invalid_request_error")
    other = await post(client, BODY, headers={"anthropic-version": "2026-10-21"})
    assert other.status_code == 200
    async with httpx.AsyncClient(base_url=str(client.base_url)) as bare:
        missing = await post(bare, BODY, headers={"x-api-key": "k"})
    assert_error(missing, 400, "invalid_request_error")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"frobnicate": 1}, "frobnicate: Extra inputs are not permitted"),
        ({"max_tokens": 0}, "max_tokens: Input should be"),
        ({"max_tokens": None}, "max_tokens: Input should be"),
        ({"model": 3}, "model: Input should be a valid string"),
        ({"messages": []}, "messages: List should have at least 1 item"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages.0.role:"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages.0.content.0.text",
        ),
        ({"temperature": 1.5}, "temperature:"),
        ({"system": [{"type": "text", "text": "x", "cache_control": {"type": "x"}}]}, "system.0"),
        ({"stream": "yes"}, "stream:"),
    ],
)
async def test_body_shape_errors(
    client: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    """Body shape errors are 400 invalid_request_error naming the field."""
    response = await post(client, {**BODY, **change})
    assert assert_error(response, 400, "invalid_request_error").startswith(message)


async def test_missing_fields_and_bad_json(client: httpx.AsyncClient) -> None:
    """A missing required field, malformed JSON and a non-object body are 400s."""
    no_model = {k: v for k, v in BODY.items() if k != "model"}
    assert assert_error(await post(client, no_model), 400, "invalid_request_error") == (
        "model: Field required"
    )
    bad = await client.post("/v1/messages", content=b"{not json")
    assert "parsing the body" in assert_error(bad, 400, "invalid_request_error")
    assert_error(await client.post("/v1/messages", json=[1]), 400, "invalid_request_error")


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    """Unknown paths and methods give 404 not_found_error."""
    assert_error(await client.post("/v1/nothing", json=BODY), 404, "not_found_error")
    assert_error(await client.get("/v1/messages"), 404, "not_found_error")


async def test_malformed_http_is_400_and_server_survives(sim: Simulator) -> None:
    """Garbage on the wire gets a 400 and a closed connection; the server keeps serving."""
    async with await anyio.connect_tcp(*host_port(sim.url)) as stream:
        await stream.send(b"NOT HTTP AT ALL\r\n\r\n")
        data = b""
        with contextlib.suppress(anyio.EndOfStream):  # the server closes after answering
            while True:
                data += await stream.receive()
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b'"invalid_request_error"' in data
    async with httpx.AsyncClient(base_url=sim.url, headers=HEADERS) as client:
        assert (await post(client, BODY)).status_code == 200


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        ("429", 429, "rate_limit_error"),
        ("529", 529, "overloaded_error"),
        ("500", 500, "api_error"),
        ("503", 503, "api_error"),
        ("408", 408, "timeout_error"),
    ],
)
async def test_scripted_status_faults(
    sim: Simulator, client: httpx.AsyncClient, kind: str, status: int, error_type: str
) -> None:
    """Each scripted HTTP fault answers once with its status; the next request succeeds."""
    sim.script(kind)
    assert_error(await post(client, BODY), status, error_type)
    assert (await post(client, BODY)).status_code == 200
    assert [(r.status, r.fault) for r in sim.requests] == [(status, kind), (200, None)]


async def test_fault_options(sim: Simulator, client: httpx.AsyncClient) -> None:
    """429 defaults to retry-after 1 / 1000 ms; options and extra headers pass through."""
    sim.script(
        "429",
        Fault("429", retry_after=2.5),
        Fault("429", retry_after_ms=1500),
        None,
        Fault("500", headers={"x-should-retry": "false"}, message="boom"),
    )
    default, seconds, millis, ok, extra = [await post(client, BODY) for _ in range(5)]
    assert (default.headers["retry-after"], default.headers["retry-after-ms"]) == ("1", "1000")
    assert seconds.headers["retry-after"] == "2.5"
    assert "retry-after-ms" not in seconds.headers
    assert millis.headers["retry-after-ms"] == "1500"
    assert "retry-after" not in millis.headers
    assert ok.status_code == 200
    assert assert_error(extra, 500, "api_error") == "boom"
    assert extra.headers["x-should-retry"] == "false"


async def test_reset_fault(sim: Simulator, client: httpx.AsyncClient) -> None:
    """reset aborts the connection (a transport error); the next request gets a new one."""
    sim.script("reset")
    with pytest.raises(httpx.TransportError):
        await post(client, BODY)
    assert (await post(client, BODY)).status_code == 200
    assert [(r.status, r.fault) for r in sim.requests] == [(None, "reset"), (200, None)]


async def test_stream_error_fault(sim: Simulator, client: httpx.AsyncClient) -> None:
    """stream_error sends some deltas then an error event and no message_stop; JSON gets 529."""
    sim.script("stream_error", "stream_error")
    events = sse_events((await post(client, {**BODY, "stream": True})).text)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert "content_block_delta" in names
    assert "message_stop" not in names
    assert events[-1][0] == "error"
    assert events[-1][1]["type"] == "error"
    assert events[-1][1]["error"]["type"] == "overloaded_error"
    assert_error(await post(client, BODY), 529, "overloaded_error")
    assert (await post(client, {**BODY, "stream": True})).text.endswith(
        'data: {"type":"message_stop"}\n\n'
    )


def test_fault_plan_parse_and_errors() -> None:
    """Specs parse; bad ones raise ValueError naming the problem."""
    plan = FaultPlan.parse(" 429:0.1, 529:0.05,reset:0.02 ,stall:0.01,stream_error:0.02")
    assert dict(plan.rates) == {
        "429": 0.1, "529": 0.05, "reset": 0.02, "stall": 0.01, "stream_error": 0.02,
    }  # fmt: skip
    assert FaultPlan.parse(str(plan)) == plan
    assert FaultPlan.parse("").rates == ()
    for spec, match in [
        ("429", "KIND:PROBABILITY"),
        ("teapot:0.1", "unknown fault kind 'teapot'"),
        ("429:x", "not a number"),
        ("429:1.5", "between 0 and 1"),
        ("429:0.6,500:0.6", "add up to"),
        ("429:0.1,429:0.1", "twice"),
    ]:
        with pytest.raises(ValueError, match=match):
            FaultPlan.parse(spec)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("418")


def test_fault_plan_is_reproducible() -> None:
    """The same seed draws the same faults; a different seed draws others."""
    plan = FaultPlan.parse("429:0.2,500:0.2,reset:0.1")

    def draws(seed: int) -> list[str | None]:
        rng = random.Random(seed)
        return [f.kind if (f := plan.draw(rng)) else None for _ in range(200)]

    assert draws(7) == draws(7) != draws(8)
    assert 20 <= draws(7).count("429") <= 60


async def test_seeded_plan_over_http() -> None:
    """Two simulators with the same seed fail the same requests in the same way."""
    plan = FaultPlan.parse("429:0.25,500:0.25")

    async def statuses(seed: int) -> list[int]:
        async with (
            open_simulator(ttft_ms=0, tokens_per_s=0, faults=plan, seed=seed) as sim,
            httpx.AsyncClient(base_url=sim.url, headers=HEADERS) as client,
        ):
            return [(await post(client, BODY)).status_code for _ in range(30)]

    first = await statuses(3)
    assert first == await statuses(3)
    assert {200, 429, 500} == set(first)


# -- concurrency and the log ------------------------------------------------------------------


async def test_150_concurrent_requests_over_a_pool_of_100(sim: Simulator) -> None:
    """150 concurrent requests through one client with 100 pooled connections all succeed."""
    # 150 keeps 50 requests waiting for a pooled connection; more would mostly time
    # httpx's own pool, whose bookkeeping grows with the square of the waiting requests.
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    results: list[int] = []
    async with httpx.AsyncClient(
        base_url=sim.url, headers=HEADERS, limits=limits, timeout=NO_TIMEOUT
    ) as client:

        async def one(i: int) -> None:
            body = {**BODY, "messages": [{"role": "user", "content": f"task {i}"}]}
            results.append((await post(client, body)).status_code)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for i in range(150):
                    group.start_soon(one, i)
    assert results == [200] * 150
    assert sim.stats().by_status == {200: 150}


async def test_request_log(sim: Simulator, client: httpx.AsyncClient) -> None:
    """Each request is recorded with its body, usage and request id, but never its key."""
    ok = await post(client, {**BODY, "stream": True})
    await client.post("/v1/messages/count_tokens", json=COUNT_BODY)
    await post(client, {**BODY, "bogus": 1})
    stream_rec, count_rec, bad_rec = sim.requests
    assert [r.seq for r in sim.requests] == [1, 2, 3]
    assert stream_rec.request_id == ok.headers["request-id"]
    assert (stream_rec.method, stream_rec.path, stream_rec.status) == ("POST", "/v1/messages", 200)
    assert stream_rec.stream
    assert stream_rec.model == BODY["model"]
    assert stream_rec.fault is None
    assert stream_rec.body == {**BODY, "stream": True}
    assert stream_rec.usage is not None
    assert stream_rec.usage["output_tokens"] > 0
    assert stream_rec.started_at <= stream_rec.finished_at
    assert count_rec.path == "/v1/messages/count_tokens"
    assert count_rec.usage
    assert (bad_rec.status, bad_rec.error_type) == (400, "invalid_request_error")
    assert KEY not in repr(sim.requests)
    stats = sim.stats()
    assert stats.requests == 3
    assert stats.by_status == {200: 2, 400: 1}
    assert stats.output_tokens == stream_rec.usage["output_tokens"]
    sim.clear_log()
    assert sim.requests == []


# -- OpenAPI conformance ----------------------------------------------------------------------


async def test_responses_match_openapi(sim: Simulator, client: httpx.AsyncClient) -> None:
    """Messages, stream events, count_tokens and errors validate against the API's schemas."""
    require_spec()
    validate(BODY, "CreateMessageParams")
    validate((await post(client, cached_body(8000))).json(), "Message")
    validate((await post(client, {**BODY, "max_tokens": 3})).json(), "Message")
    for name, data in sse_events((await post(client, {**BODY, "stream": True})).text):
        if name != "ping":
            validate(data, "MessageStreamEvent")
    counted = await client.post("/v1/messages/count_tokens", json=COUNT_BODY)
    validate(counted.json(), "CountMessageTokensResponse")
    sim.script("429", "529", "stream_error")
    for _ in range(2):
        validate((await post(client, BODY)).json(), "ErrorResponse")
    events = sse_events((await post(client, {**BODY, "stream": True})).text)
    validate(events[-1][1], "ErrorResponse")
    validate((await post(client, {**BODY, "x": 1})).json(), "ErrorResponse")
    validate((await client.get("/nowhere")).json(), "ErrorResponse")
