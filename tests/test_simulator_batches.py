"""The simulator's Message Batches routes, driven by the official SDK over loopback HTTP.

Most tests run the simulator in the test's own trio run under ``MockClock``, so
a batch's processing time is virtual: the clock is jumped past a batch's end
and the exact times are asserted. One test drives the sync SDK against the
threaded simulator (real time, zero latency).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from claude_force_trio.simulator import (
    BatchFaultPlan,
    Simulator,
    SimulatorConfig,
    open_simulator,
    run_simulator_in_thread,
)
from claude_force_trio.simulator._batches import _chunks

anthropic = pytest.importorskip("anthropic")

KEY = "test-key"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
MODEL = "claude-sonnet-4-5"
ROUTE = "/v1/messages/batches"


def params(task: str, **extra: Any) -> dict[str, Any]:
    """A small ``/v1/messages`` body for one batch entry."""
    return {
        "model": MODEL,
        "max_tokens": 300,
        "system": "# batch-reviewer\nYou review.",
        "messages": [{"role": "user", "content": task}],
        **extra,
    }


def entries(*tasks: str) -> list[dict[str, Any]]:
    """Batch entries ``r0``, ``r1``… with one task each."""
    return [{"custom_id": f"r{i}", "params": params(t)} for i, t in enumerate(tasks)]


@asynccontextmanager
async def serving(**config: Any) -> AsyncIterator[tuple[Simulator, Any, httpx.AsyncClient]]:
    """A zero-latency simulator, an AsyncAnthropic client and a raw httpx client for it."""
    async with (
        open_simulator(ttft_ms=0, tokens_per_s=0, **config) as sim,
        anthropic.AsyncAnthropic(base_url=sim.url, api_key=KEY, max_retries=0) as sdk,
        httpx.AsyncClient(base_url=sim.url, headers=HEADERS, timeout=30) as raw,
    ):
        yield sim, sdk, raw


def seconds(later: Any, earlier: Any) -> float:
    """The seconds between two datetimes."""
    return float((later - earlier).total_seconds())


async def test_lifecycle_in_virtual_time(mock_clock: trio.testing.MockClock) -> None:
    """Create is in progress, ends exactly batch_latency_s × scale later, then has results."""
    async with serving(batch_latency_s=4.0, latency_scale=0.5) as (sim, sdk, _):
        created = await sdk.messages.batches.create(requests=entries("one", "two", "three"))
        assert created.id.startswith("msgbatch_")
        assert created.type == "message_batch"
        assert created.processing_status == "in_progress"
        assert created.request_counts.processing == 3
        assert created.request_counts.succeeded == 0
        assert created.results_url is None
        assert created.ended_at is created.cancel_initiated_at is created.archived_at is None
        assert seconds(created.expires_at, created.created_at) == pytest.approx(86400)
        with pytest.raises(anthropic.AnthropicError, match="results_url"):
            await sdk.messages.batches.results(created.id)
        mock_clock.jump(1.999)
        assert (await sdk.messages.batches.retrieve(created.id)).processing_status == "in_progress"
        mock_clock.jump(0.001)
        ended = await sdk.messages.batches.retrieve(created.id)
        assert ended.processing_status == "ended"
        assert seconds(ended.ended_at, ended.created_at) == pytest.approx(2.0, abs=1e-5)
        assert ended.results_url == f"{sim.url}{ROUTE}/{created.id}/results"
        counts = ended.request_counts
        assert (counts.processing, counts.succeeded, counts.errored) == (0, 3, 0)
        lines = [line async for line in await sdk.messages.batches.results(created.id)]
        assert [line.custom_id for line in lines] == ["r0", "r1", "r2"]
        assert all(line.result.type == "succeeded" for line in lines)
        assert "Task: two" in lines[1].result.message.content[0].text


async def test_outputs_equal_v1_messages(mock_clock: trio.testing.MockClock) -> None:
    """Each succeeded entry carries the content, stop reason and usage /v1/messages gives."""
    schema = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
    tool = {"name": "read_file", "description": "Read", "input_schema": schema}
    bodies = [
        params("Review the retry loop in client.py"),
        params("Use read_file on setup.py", tools=[tool]),
        params("Summarise [sim:max_tokens]"),
        params("Answer briefly", stop_sequences=["Findings"]),
    ]
    async with serving(batch_latency_s=1.0) as (_, sdk, _raw):
        batch = await sdk.messages.batches.create(
            requests=[{"custom_id": f"e{i}", "params": b} for i, b in enumerate(bodies)]
        )
        live = [await sdk.messages.create(**b) for b in bodies]
        mock_clock.jump(1.0)
        results = {
            r.custom_id: r.result async for r in await sdk.messages.batches.results(batch.id)
        }
    for i, message in enumerate(live):
        got = results[f"e{i}"].message
        assert got.id.startswith("msg_")
        assert got.id != message.id
        assert [b.model_dump() for b in got.content] == [b.model_dump() for b in message.content]
        assert (got.stop_reason, got.stop_sequence) == (message.stop_reason, message.stop_sequence)
        assert got.usage == message.usage
    assert results["e1"].message.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([*entries("a", "b"), {"custom_id": "r0", "params": params("c")}],
         "requests.2.custom_id: custom_id 'r0' is already used by requests.0"),
        ([{"custom_id": "bad id!", "params": params("a")}],
         "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"),
        ([{"custom_id": "x" * 65, "params": params("a")}], "requests.0.custom_id: String should"),
        ([{"custom_id": "a", "params": params("a")},
          {"custom_id": "b", "params": {**params("b"), "max_tokens": 0}}],
         "requests.1.params.max_tokens: Input should be an integer greater than or equal to 1"),
        ([{"custom_id": "a", "params": {k: v for k, v in params("a").items() if k != "model"}}],
         "requests.0.params.model: Field required"),
        ([{"custom_id": "a", "params": params("a", model="claude-nope")}],
         "requests.0.params.model: claude-nope"),
        ([{"custom_id": "a", "params": params("a", messages=[{"role": "user", "content": ""}])}],
         "requests.0.params.messages.0: all messages must have non-empty content"),
        ([{"custom_id": "a", "params": params("a", stream=True)}],
         "requests.0.params.stream: streaming is not supported"),
        ([{"custom_id": "a", "params": params("a"), "extra": 1}],
         "requests.0.extra: Extra inputs are not permitted"),
        ([{"custom_id": "a"}], "requests.0.params: Field required"),
        ([], "requests: List should have at least 1 item"),
        (entries("a", "b", "c", "d"), "requests: List should have at most 3 items"),
    ],
)  # fmt: skip
async def test_invalid_create_is_refused_whole(
    mock_clock: trio.testing.MockClock, requests: list[Any], message: str
) -> None:
    """An invalid entry refuses the whole create with 400 naming its path; no batch is made."""
    async with serving(batch_max_requests=3) as (sim, sdk, _):
        with pytest.raises(anthropic.BadRequestError) as info:
            await sdk.messages.batches.create(requests=requests)
        assert info.value.status_code == 400
        assert info.value.body["error"]["type"] == "invalid_request_error"
        assert info.value.body["error"]["message"].startswith(message)
        (record,) = sim.requests
        assert (record.method, record.path, record.status) == ("POST", ROUTE, 400)
        assert sim.stats().batches == 0


async def test_envelope_limits_and_checks(mock_clock: trio.testing.MockClock) -> None:
    """100,000 entries at most by default, bodies over batch_max_bytes get 413, auth comes first."""
    async with serving() as (_, _sdk, raw):
        response = await raw.post(ROUTE, json={"requests": [{}] * 100_001})
        assert response.status_code == 400
        assert response.json()["error"]["message"] == (
            "requests: List should have at most 100000 items after validation, not 100001"
        )
        assert (await raw.post(ROUTE, json={"requests": entries("a"), "x": 1})).json()["error"][
            "message"
        ] == "x: Extra inputs are not permitted"
        assert (await raw.post(ROUTE, content=b"{not json")).status_code == 400
        no_key = await raw.get(ROUTE, headers={"x-api-key": ""})
        assert no_key.status_code == 401
        unversioned = raw.build_request("GET", ROUTE)
        del unversioned.headers["anthropic-version"]
        assert (await raw.send(unversioned)).status_code == 400
    async with serving(batch_max_bytes=2_000) as (_, _sdk, raw):
        big = await raw.post(ROUTE, json={"requests": entries("x" * 3_000)})
        assert big.status_code == 413
        assert (await raw.post(ROUTE, json={"requests": entries("small")})).status_code == 200


async def test_entry_faults_from_markers(mock_clock: trio.testing.MockClock) -> None:
    """[sim:batch_*] markers give errored (api/invalid), expired and canceled entries."""
    tasks = ("fine", "a [sim:batch_errored]", "b [sim:batch_invalid]", "c [sim:batch_expired]",
             "d [sim:batch_canceled]")  # fmt: skip
    async with serving(batch_latency_s=1.0) as (_, sdk, raw):
        batch = await sdk.messages.batches.create(requests=entries(*tasks))
        mock_clock.jump(1.0)
        ended = await sdk.messages.batches.retrieve(batch.id)
        counts = ended.request_counts
        assert (counts.succeeded, counts.errored, counts.expired, counts.canceled) == (1, 2, 1, 1)
        lines = [r async for r in await sdk.messages.batches.results(batch.id)]
        raw_lines = (await raw.get(f"{ROUTE}/{batch.id}/results")).text.splitlines()
    assert [r.result.type for r in lines] == [
        "succeeded", "errored", "errored", "expired", "canceled"]  # fmt: skip
    assert lines[1].result.error.error.type == "api_error"
    assert lines[2].result.error.error.type == "invalid_request_error"
    assert json.loads(raw_lines[1])["result"] == {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {"type": "api_error", "message": "Internal server error"},
            "request_id": None,
        },
    }
    assert json.loads(raw_lines[3]) == {"custom_id": "r3", "result": {"type": "expired"}}


async def test_seeded_entry_faults_are_reproducible(mock_clock: trio.testing.MockClock) -> None:
    """batch_faults fails a seeded share of entries: the same ones per seed and batch ordinal."""
    plan = BatchFaultPlan.parse("errored:0.3, expired:0.1")
    tasks = [f"task {i}" for i in range(60)]

    async def outcomes(seed: int) -> list[list[str]]:
        out = []
        async with serving(batch_latency_s=0, batch_faults=plan, seed=seed) as (_, sdk, _raw):
            for _ in range(2):
                batch = await sdk.messages.batches.create(requests=entries(*tasks))
                out.append(
                    [r.result.type async for r in await sdk.messages.batches.results(batch.id)]
                )
        return out

    first, second = await outcomes(7)
    assert (first, second) == tuple(await outcomes(7))
    assert first != second  # a resubmitted entry draws afresh in a later batch
    assert first != (await outcomes(8))[0]
    assert 8 <= first.count("errored") <= 30
    assert 1 <= first.count("expired") <= 15
    assert set(first) == {"succeeded", "errored", "expired"}
    assert str(plan) == "errored:0.3,expired:0.1"
    refused = [("boom:0.1", "unknown"), ("errored:2", "between 0 and 1"),
               ("errored:0.6,expired:0.6", "add up"), ("errored", "KIND:PROBABILITY"),
               ("errored:x", "KIND:PROBABILITY"), ("errored:0.1,errored:0.1", "twice")]  # fmt: skip
    for spec, why in refused:
        with pytest.raises(ValueError, match=why):
            BatchFaultPlan.parse(spec)


async def test_cancel(mock_clock: trio.testing.MockClock) -> None:
    """Cancel: canceling for a tenth of the span, then ended; unfinished entries are canceled."""
    async with serving(batch_latency_s=2.0) as (_, sdk, raw):
        batch = await sdk.messages.batches.create(requests=entries("a", "b", "c", "d"))
        mock_clock.jump(0.5)  # entry 0 finishes at 0.5 s, the others later
        canceling = await sdk.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling"
        assert seconds(canceling.cancel_initiated_at, canceling.created_at) == pytest.approx(0.5)
        assert canceling.request_counts.processing == 4
        again = await sdk.messages.batches.cancel(batch.id)
        assert again.cancel_initiated_at == canceling.cancel_initiated_at
        mock_clock.jump(0.2)
        ended = await sdk.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert seconds(ended.ended_at, ended.created_at) == pytest.approx(0.7, abs=1e-5)
        assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (1, 3)
        types = [r.result.type async for r in await sdk.messages.batches.results(batch.id)]
        assert types == ["succeeded", "canceled", "canceled", "canceled"]
        unchanged = await sdk.messages.batches.cancel(batch.id)
        assert unchanged.ended_at == ended.ended_at
        assert (await raw.post(f"{ROUTE}/msgbatch_nope/cancel")).status_code == 404


async def test_expiry_after_24_hours(mock_clock: trio.testing.MockClock) -> None:
    """Entries still processing 24 h after creation expire; the batch ends at expires_at."""
    async with serving(batch_latency_s=48 * 3600.0) as (_, sdk, _raw):
        batch = await sdk.messages.batches.create(requests=entries("a", "b", "c", "d"))
        mock_clock.jump(24 * 3600.0)
        ended = await sdk.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert ended.ended_at == ended.expires_at
        types = [r.result.type async for r in await sdk.messages.batches.results(batch.id)]
    assert types == ["succeeded", "succeeded", "expired", "expired"]


async def test_list_pagination(mock_clock: trio.testing.MockClock) -> None:
    """List is newest first with limit, after_id/before_id, has_more, first_id and last_id."""
    async with serving(batch_latency_s=1.0) as (_, sdk, raw):
        ids = [(await sdk.messages.batches.create(requests=entries(f"t{i}"))).id for i in range(5)]
        newest = ids[::-1]
        page = await sdk.messages.batches.list(limit=2)
        assert [b.id for b in page.data] == newest[:2]
        assert (page.has_more, page.first_id, page.last_id) == (True, newest[0], newest[1])
        assert [b.id async for b in await sdk.messages.batches.list(limit=2)] == newest
        last = await sdk.messages.batches.list(limit=2, after_id=newest[3])
        assert ([b.id for b in last.data], last.has_more) == ([newest[4]], False)
        before = await sdk.messages.batches.list(limit=2, before_id=newest[4])
        assert ([b.id for b in before.data], before.has_more) == (newest[2:4], True)
        assert [b.id for b in (await sdk.messages.batches.list()).data] == newest
        mock_clock.jump(1.0)
        assert {b.processing_status for b in (await sdk.messages.batches.list()).data} == {"ended"}
        for query in ("limit=0", "limit=1001", "limit=x", "after_id=msgbatch_nope"):
            response = await raw.get(f"{ROUTE}?{query}")
            assert response.status_code == 400, query
            assert response.json()["error"]["message"].split(":")[0] in ("limit", "after_id")


async def test_delete_and_unknown_ids(mock_clock: trio.testing.MockClock) -> None:
    """Delete refuses a batch in progress, removes an ended one; unknown ids are 404."""
    async with serving(batch_latency_s=1.0) as (sim, sdk, raw):
        batch = await sdk.messages.batches.create(requests=entries("a"))
        with pytest.raises(anthropic.BadRequestError, match="still processing"):
            await sdk.messages.batches.delete(batch.id)
        early = await raw.get(f"{ROUTE}/{batch.id}/results")
        assert early.status_code == 400
        assert "has not ended" in early.json()["error"]["message"]
        mock_clock.jump(1.0)
        deleted = await sdk.messages.batches.delete(batch.id)
        assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
        with pytest.raises(anthropic.NotFoundError):
            await sdk.messages.batches.retrieve(batch.id)
        for method, path in (("GET", f"/{batch.id}/results"), ("DELETE", f"/{batch.id}"),
                             ("GET", f"/{batch.id}/nope"), ("PUT", "")):  # fmt: skip
            response = await raw.request(method, ROUTE + path)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"]["type"] == "not_found_error"
        logged = [(r.method, r.path, r.status) for r in sim.requests]
    assert logged[:3] == [("POST", ROUTE, 200), ("DELETE", f"{ROUTE}/{batch.id}", 400),
                          ("GET", f"{ROUTE}/{batch.id}/results", 400)]  # fmt: skip
    assert all(r.request_id.startswith("req_") for r in sim.requests)


async def test_thousand_entries_stream_in_chunks(mock_clock: trio.testing.MockClock) -> None:
    """1,000 entries: one batch at the simulator, results streamed chunked, parsed by the SDK."""
    tasks = [f"Review module number {i} for retry bugs" for i in range(1000)]
    async with serving(batch_latency_s=1.0) as (sim, sdk, raw):
        batch = await sdk.messages.batches.create(requests=entries(*tasks))
        mock_clock.jump(1.0)
        ids = [r.custom_id async for r in await sdk.messages.batches.results(batch.id)]
        async with raw.stream("GET", f"{ROUTE}/{batch.id}/results") as response:
            assert response.headers["content-type"] == "application/x-jsonl"
            assert response.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in response.headers
            lines = [line async for line in response.aiter_lines() if line]
        stats = sim.stats()
    assert ids == [f"r{i}" for i in range(1000)]
    assert len(lines) == 1000
    assert (stats.batches, stats.batch_requests) == (1, 1000)
    assert not [r for r in sim.requests if r.path == "/v1/messages"]
    results = [json.loads(line) for line in lines]
    pieces = list(_chunks(results))
    assert len(pieces) > 4
    assert max(len(p) for p in pieces) < 64 * 1024 + max(len(line) for line in lines) + 1
    assert b"".join(pieces).decode().splitlines() == lines


def test_sync_sdk_against_the_threaded_simulator() -> None:
    """The sync SDK: a zero-latency batch has ended by its first poll and its results parse."""
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0, batch_latency_s=0, api_key=KEY) as sim:
        client = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0)
        with client:
            batch = client.messages.batches.create(requests=entries("a", "b"))
            assert batch.processing_status == "in_progress"
            assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
            types = [r.result.type for r in client.messages.batches.results(batch.id)]
        assert types == ["succeeded", "succeeded"]
        assert (sim.stats().batches, sim.stats().batch_requests) == (1, 2)


def test_batch_settings_are_checked() -> None:
    """Negative latencies and non-positive limits are refused when the config is built."""
    bad: list[dict[str, Any]] = [
        {"batch_latency_s": -1.0}, {"batch_max_requests": 0}, {"batch_max_bytes": 0}]  # fmt: skip
    for setting in bad:
        with pytest.raises(ValueError, match=next(iter(setting))):
            SimulatorConfig(**setting)
    assert SimulatorConfig().batch_max_bytes == 256 * 1024 * 1024
