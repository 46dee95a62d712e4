"""The engine with its cache, memory and events over real loopback HTTP to the simulator."""

from __future__ import annotations

from pathlib import Path

from claude_force_trio import Backend, StepQueued, load_config, open_engine
from claude_force_trio._events import Event
from claude_force_trio.simulator import RequestRecord, Simulator, SimulatorConfig, open_simulator

EXAMPLES = Path(__file__).parents[1] / "examples" / ".claude" / "claude.json"
INSTANT = SimulatorConfig(ttft_ms=0, tokens_per_s=0)


def messages(sim: Simulator) -> list[RequestRecord]:
    """The /v1/messages requests in the simulator's log."""
    return [r for r in sim.requests if r.path == "/v1/messages"]


async def test_second_run_is_served_from_the_cache() -> None:
    """A repeated workflow sends zero requests, returns the same outputs, cached everywhere."""
    config = load_config(EXAMPLES)
    async with open_simulator(INSTANT) as sim:
        backend = Backend.url(sim.url, "test-key")
        async with open_engine(config, backend=backend) as engine:
            first = await engine.run_workflow("code-quality-check")
        assert len(messages(sim)) == 4
        async with open_engine(config, backend=backend) as engine:
            second = await engine.run_workflow("code-quality-check")
        assert len(messages(sim)) == 4
    assert second.ok
    assert second.outputs() == first.outputs()
    assert all(step.cached for step in second.steps)
    assert not any(step.cached for step in first.steps)
    assert all(step.attempts == 0 for step in second.steps)
    assert second.cost_usd == 0.0
    assert second.usage.total_tokens == 0
    assert first.cost_usd is not None
    assert abs(second.saved_usd - first.cost_usd) < 1e-9
    assert second.to_dict()["steps"][0]["cached"] is True


async def test_no_cache_reads_and_writes_nothing() -> None:
    """cache=False (--no-cache) sends every request, and stores nothing for later."""
    config = load_config(EXAMPLES)
    async with open_simulator(INSTANT) as sim:
        backend = Backend.url(sim.url, "test-key")
        for _ in range(2):
            async with open_engine(config, backend=backend, cache=False) as engine:
                result = await engine.run_agent("linter", "Review app.py")
            assert not result.cached
        assert len(messages(sim)) == 2
        async with open_engine(config, backend=backend) as engine:
            assert not (await engine.run_agent("linter", "Review app.py")).cached


async def test_identical_requests_in_flight_share_one_call() -> None:
    """Twenty identical jobs at once make one request; the others share its answer."""
    config = load_config(EXAMPLES)
    async with open_simulator(INSTANT, latency_fn=lambda body: 0.05) as sim:
        async with open_engine(config, backend=Backend.url(sim.url, "k")) as engine:
            results = await engine.run_many([("linter", "Review app.py")] * 20)
        assert len(messages(sim)) == 1
    assert len({r.output for r in results}) == 1
    assert sum(not r.cached for r in results) == 1


async def test_memory_feeds_past_experience_into_the_user_message() -> None:
    """With memory on, a new task carries an earlier answer; a repeat never carries its own."""
    config = load_config(EXAMPLES)
    async with open_simulator(INSTANT) as sim:
        backend = Backend.url(sim.url, "k")
        async with open_engine(config, backend=backend, memory=True, cache=False) as engine:
            first = await engine.run_agent("linter", "Review app.py")
            await engine.run_agent("linter", "Review lib.py")
            await engine.run_agent("linter", "Review app.py")
        bodies = [r.body for r in messages(sim) if r.body is not None]
    assert "Relevant past experience" not in bodies[0]["messages"][0]["content"]
    second_text = bodies[1]["messages"][0]["content"]
    assert "Relevant past experience" in second_text
    assert (first.output or "")[:40] in second_text
    assert bodies[2]["messages"] == bodies[0]["messages"]  # the repeat: as its answer was given
    assert bodies[0]["system"] == bodies[1]["system"]


async def test_queued_events_carry_a_task_hash_not_the_task() -> None:
    """StepQueued has a sha256 of the user message, the same for the same task."""
    events: list[Event] = []
    config = load_config(EXAMPLES)
    async with (
        open_simulator(INSTANT) as sim,
        open_engine(
            config, backend=Backend.url(sim.url, "k"), hooks=[events.append], cache=False
        ) as engine,
    ):
        await engine.run_many([("linter", "secret task"), ("linter", "secret task")])
    hashes = {e.task_hash for e in events if isinstance(e, StepQueued)}
    assert len(hashes) == 1
    (digest,) = hashes
    assert digest is not None
    assert len(digest) == 64
    assert "secret" not in repr([e for e in events if isinstance(e, StepQueued)])
