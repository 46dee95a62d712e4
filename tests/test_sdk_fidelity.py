"""Fidelity: the official ``anthropic`` SDK parses every simulator answer, errors included.

Most tests are sync: the simulator runs on its own thread
(``run_simulator_in_thread``) and each test drives the SDK's AsyncAnthropic with
``asyncio.run``, or its sync client directly, as a program that is not async
would. One test shares a single asyncio loop between AsyncAnthropic and
``open_simulator``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from claude_force_trio.simulator import (
    Fault,
    SimulatorHandle,
    open_simulator,
    run_simulator_in_thread,
)

anthropic = pytest.importorskip("anthropic")

KEY = "test-key"
T = TypeVar("T")
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 300,
    "system": [{"type": "text", "text": "# release-manager\nYou plan releases."}],
    "messages": [{"role": "user", "content": "Plan the 1.2 release"}],
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    """One zero-latency simulator on a background thread, accepting only ``test-key``."""
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0, api_key=KEY) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _fresh_log(sim: SimulatorHandle) -> None:
    """Each test starts with an empty request log."""
    sim.clear_log()


def run(sim: SimulatorHandle, call: Callable[[Any], Awaitable[T]], *, key: str = KEY) -> T:
    """Run ``call(client)`` with a fresh AsyncAnthropic client under asyncio."""

    async def main() -> T:
        client = anthropic.AsyncAnthropic(base_url=sim.url, api_key=key, max_retries=0)
        async with client:
            return await call(client)

    return asyncio.run(main())


def test_create(sim: SimulatorHandle) -> None:
    """messages.create parses into a Message with text, stop reason and usage."""
    message = run(sim, lambda c: c.messages.create(**BODY))
    assert message.id.startswith("msg_")
    assert message.role == "assistant"
    assert message.stop_reason == "end_turn"
    text = message.content[0].text
    assert "Agent: release-manager" in text
    assert "Task: Plan the 1.2 release" in text
    assert message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens == 0
    (record,) = sim.requests
    assert record.status == 200
    assert record.body == BODY


def test_stream(sim: SimulatorHandle) -> None:
    """messages.stream yields text deltas and a final message equal to create's."""

    async def call(client: Any) -> tuple[list[str], Any, Any]:
        plain = await client.messages.create(**BODY)
        async with client.messages.stream(**BODY) as stream:
            chunks = [chunk async for chunk in stream.text_stream]
            final = await stream.get_final_message()
        return chunks, final, plain

    chunks, final, plain = run(sim, call)
    assert len(chunks) > 1
    assert "".join(chunks) == final.content[0].text == plain.content[0].text
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert final.stop_reason == plain.stop_reason
    assert sim.requests[-1].stream


def test_count_tokens(sim: SimulatorHandle) -> None:
    """messages.count_tokens parses and agrees with create's input tokens."""
    body = {k: v for k, v in BODY.items() if k != "max_tokens"}
    counted = run(sim, lambda c: c.messages.count_tokens(**body))
    created = run(sim, lambda c: c.messages.create(**BODY))
    assert counted.input_tokens == created.usage.input_tokens > 0


@pytest.mark.parametrize(
    ("kind", "error_class"),
    [
        ("429", "RateLimitError"),
        ("529", "OverloadedError"),
        ("500", "InternalServerError"),
        ("503", "InternalServerError"),
    ],
)
def test_status_faults_map_to_sdk_errors(sim: SimulatorHandle, kind: str, error_class: str) -> None:
    """Scripted faults raise the SDK's own error classes with the request id."""
    sim.script(kind)
    with pytest.raises(getattr(anthropic, error_class)) as info:
        run(sim, lambda c: c.messages.create(**BODY))
    assert info.value.status_code == int(kind)
    assert info.value.request_id == sim.requests[-1].request_id


def test_retry_after_is_honoured_by_sdk_retries(sim: SimulatorHandle) -> None:
    """With retries on, the SDK retries a 429 (retry-after-ms 1) and then succeeds."""
    sim.script(Fault("429", retry_after_ms=1))

    async def call(client: Any) -> Any:
        return await client.with_options(max_retries=1).messages.create(**BODY)

    assert run(sim, call).content[0].text
    assert [r.status for r in sim.requests] == [429, 200]


def test_auth_and_bad_request_errors(sim: SimulatorHandle) -> None:
    """A wrong key raises AuthenticationError without the key; an unknown field BadRequestError."""
    wrong = "fake-key-WRONG-0000"
    with pytest.raises(anthropic.AuthenticationError) as auth:
        run(sim, lambda c: c.messages.create(**BODY), key=wrong)
    assert wrong not in str(auth.value)
    assert KEY not in str(auth.value)
    with pytest.raises(anthropic.BadRequestError) as bad:
        run(sim, lambda c: c.messages.create(**BODY, extra_body={"frobnicate": 1}))
    assert "frobnicate: Extra inputs are not permitted" in str(bad.value)


def test_mid_stream_error_raises(sim: SimulatorHandle) -> None:
    """A stream_error fault raises from the SDK stream after some text arrived."""
    sim.script("stream_error")
    seen: list[str] = []

    async def call(client: Any) -> None:
        async with client.messages.stream(**BODY) as stream:
            async for chunk in stream.text_stream:
                seen.append(chunk)

    with pytest.raises(anthropic.APIStatusError) as info:
        run(sim, call)
    assert seen
    assert "overloaded_error" in str(info.value)


def test_thread_handle_runs_and_stops() -> None:
    """run_simulator_in_thread serves, exposes its log and stats, and stops on exit."""
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0) as handle:
        message = run(handle, lambda c: c.messages.create(**BODY))
        assert message.content[0].text
        assert handle.stats().by_status == {200: 1}
        assert handle.config.api_key is None
    with pytest.raises(anthropic.APIConnectionError):
        run(handle, lambda c: c.messages.create(**BODY))


def test_thread_start_failure_is_raised() -> None:
    """A simulator that cannot bind its port raises in the caller's thread."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(RuntimeError, match="before listening") as info,
            run_simulator_in_thread(port=port),
        ):
            pass  # pragma: no cover
    assert isinstance(info.value.__cause__, OSError)


def test_sync_client(sim: SimulatorHandle) -> None:
    """The SDK's sync client creates, streams and raises mapped errors (threaded simulator)."""
    with anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0) as client:
        message = client.messages.create(**BODY)
        with client.messages.stream(**BODY) as stream:
            text = "".join(stream.text_stream)
        sim.script("529")
        with pytest.raises(anthropic.OverloadedError) as info:
            client.messages.create(**BODY)
    assert text == message.content[0].text
    assert info.value.request_id == sim.requests[-1].request_id
    assert [r.status for r in sim.requests] == [200, 200, 529]


async def drain_stream(client: Any) -> None:
    """Read a ``messages.stream`` of BODY to its end."""
    async with client.messages.stream(**BODY) as stream:
        async for _ in stream.text_stream:
            pass


# asyncio only: that is the SDK's loop (under trio its streams leave async generators
# to the garbage collector when they fail, which trio reports as a ResourceWarning).
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_client_and_simulator_share_one_loop(anyio_backend: str) -> None:
    """AsyncAnthropic and open_simulator in one asyncio loop: create, stream, retry, errors."""
    async with (
        open_simulator(ttft_ms=0, tokens_per_s=0, api_key=KEY) as sim,
        anthropic.AsyncAnthropic(base_url=sim.url, api_key=KEY, max_retries=0) as client,
    ):
        message = await client.messages.create(**BODY)
        async with client.messages.stream(**BODY) as stream:
            chunks = [chunk async for chunk in stream.text_stream]
        sim.script(Fault("429", retry_after_ms=1))
        retried = await client.with_options(max_retries=1).messages.create(**BODY)
        sim.script("stream_error")
        with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
            await drain_stream(client)
    assert "".join(chunks) == message.content[0].text == retried.content[0].text
    assert [(r.status, r.fault) for r in sim.requests] == [
        (200, None), (200, None), (429, "429"), (200, None), (200, "stream_error"),
    ]  # fmt: skip


# -- tools, thinking, structured output (the SDK's own helpers against the simulator) ---------

TOOL_TASK = "Use search_code for 'retry loop' and read_source on src/app/client.py"


def _tool_body(**extra: Any) -> dict[str, Any]:
    tools = [
        {
            "name": name,
            "description": f"{name} in the repository.",
            "input_schema": {
                "type": "object",
                "properties": {key: {"type": "string"}},
                "required": [key],
            },
        }
        for name, key in (("search_code", "query"), ("read_source", "path"))
    ]
    return {**BODY, "max_tokens": 4000, "tools": tools,
            "messages": [{"role": "user", "content": TOOL_TASK}], **extra}  # fmt: skip


def test_tool_use_and_thinking_parse_json_and_stream(sim: SimulatorHandle) -> None:
    """create and stream parse thinking and parallel tool_use blocks into the same Message."""
    body = _tool_body(thinking={"type": "enabled", "budget_tokens": 1024})

    async def call(client: Any) -> tuple[Any, Any]:
        plain = await client.messages.create(**body)
        async with client.messages.stream(**body) as stream:
            final = await stream.get_final_message()
        return plain, final

    plain, final = run(sim, call)
    assert [b.type for b in plain.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert plain.stop_reason == final.stop_reason == "tool_use"
    assert plain.content[2].input == {"query": "retry loop"}
    assert plain.content[3].input == {"path": "src/app/client.py"}
    streamed = [b.model_dump(exclude={"id"}) for b in final.content]
    assert streamed == [b.model_dump(exclude={"id"}) for b in plain.content]
    assert final.content[0].signature == plain.content[0].signature
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_messages_parse_structured_output(sim: SimulatorHandle) -> None:
    """messages.parse with a pydantic model returns a parsed instance of it."""
    pydantic = pytest.importorskip("pydantic")

    class Finding(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        file: str
        line: int
        severity: str

    class Report(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        findings: list[Finding]

    body = {**BODY, "messages": [{"role": "user", "content": "Scan app/auth.py"}]}
    parsed = run(sim, lambda c: c.messages.parse(**body, output_format=Report))
    report = parsed.parsed_output
    assert isinstance(report, Report)
    assert report.findings
    assert report.findings[0].file == "app/auth.py"
    sent = sim.requests[-1].body
    assert sent is not None
    assert sent["output_config"]["format"]["type"] == "json_schema"


def test_tool_runner_runs_a_full_loop(sim: SimulatorHandle) -> None:
    """The SDK's beta tool runner calls @beta_tool functions and ends with a text quoting them."""
    from anthropic import beta_tool

    calls: list[tuple[str, str]] = []

    @beta_tool
    def search_code(query: str) -> str:
        """Search the repository for a phrase.

        Args:
            query: the phrase to find.
        """
        calls.append(("search_code", query))
        return "client.py:12: the retry loop"

    @beta_tool
    def read_source(path: str) -> str:
        """Read one source file.

        Args:
            path: the file to read.
        """
        calls.append(("read_source", path))
        return "def retry(): ..."

    with anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0) as client:
        runner = client.beta.messages.tool_runner(
            model=BODY["model"], max_tokens=2000, tools=[search_code, read_source],
            messages=[{"role": "user", "content": TOOL_TASK}],
        )  # fmt: skip
        final = runner.until_done()
    assert calls == [("search_code", "retry loop"), ("read_source", "src/app/client.py")]
    assert final.stop_reason == "end_turn"
    text = final.content[-1].text
    assert "- search_code: client.py:12: the retry loop" in text
    assert "- read_source: def retry(): ..." in text
    assert [r.status for r in sim.requests] == [200, 200]


def test_models_list_and_retrieve(sim: SimulatorHandle) -> None:
    """models.list pages through every model; models.retrieve resolves an alias."""

    async def call(client: Any) -> tuple[list[str], Any]:
        ids = [model.id async for model in client.models.list(limit=5)]
        return ids, await client.models.retrieve("claude-sonnet-4-5")

    ids, one = run(sim, call)
    assert "claude-opus-4-8" in ids
    assert len(ids) == len(set(ids)) > 5
    assert one.id == "claude-sonnet-4-5-20250929"
    assert one.max_tokens == 64000
