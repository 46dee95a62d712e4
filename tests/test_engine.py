"""The engine in virtual time: eager scheduling, limits, timeouts, failure policies."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Sequence
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_force_trio._backend import Backend
from claude_force_trio._config import Config
from claude_force_trio._dag import build_graph
from claude_force_trio._engine import Engine, open_engine
from claude_force_trio._errors import ConfigError
from claude_force_trio._events import (
    Event,
    StepCancelled,
    StepQueued,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    WorkflowFinished,
    WorkflowStarted,
)

from .engine_support import FakeAPI, make_config, step

BACKEND = Backend.url("http://api.test", "sk-test-key")


def open_test_engine(config: Config, api: FakeAPI, **kw: Any) -> Any:
    """An engine whose HTTP transport is the fake API."""
    return open_engine(config, backend=BACKEND, transport=api.transport, **kw)


async def run(config: Config, api: FakeAPI, **kw: Any) -> Any:
    """Run workflow ``wf`` on a fresh engine."""
    async with open_test_engine(config, api) as engine:
        return await engine.run_workflow("wf", **kw)


async def test_eager_start_beats_waves(autojump_clock: trio.testing.MockClock) -> None:
    """A (1.0) ∥ B (0.25) → C (0.75): C starts when B ends, so the run takes 1.0 s, not 1.75."""
    api = FakeAPI(latency={"A": 1.0, "B": 0.25, "C": 0.75})
    result = await run(make_config([step("A"), step("B"), step("C", "B")]), api)
    assert result.status == "succeeded"
    assert result.elapsed_s == 1.0
    assert api.starts["C"] == 0.25
    assert result.critical_path_s == 1.0
    assert result.execution_order == ("A", "B", "C")


@pytest.mark.parametrize(
    ("steps", "latency", "makespan"),
    [
        ([step("a"), step("b", "a"), step("c", "b")], {"a": 0.5, "b": 0.25, "c": 1.0}, 1.75),
        (
            [step("s"), step("l", "s"), step("r", "s"), step("j", "l", "r")],
            {"s": 0.5, "l": 2.0, "r": 0.25, "j": 0.5},
            3.0,
        ),
        (
            [
                step("root"),
                *[step(f"w{i}", "root") for i in range(20)],
                step("sink", *[f"w{i}" for i in range(20)]),
            ],
            {"root": 0.5, **{f"w{i}": 0.125 * (i + 1) for i in range(20)}, "sink": 0.25},
            3.25,
        ),
        (
            [step("x"), step("y", "x"), step("p"), step("q", "p"), step("z", "y", "q")],
            {"x": 3.0, "y": 0.5, "p": 0.25, "q": 0.25, "z": 1.0},
            4.5,
        ),
    ],
    ids=["chain", "diamond", "wide-fan", "skewed"],
)
async def test_makespan_equals_critical_path(
    autojump_clock: trio.testing.MockClock,
    steps: list[Any],
    latency: dict[str, float],
    makespan: float,
) -> None:
    """Chains, diamonds, fan-outs and skewed DAGs finish exactly on their critical path."""
    api = FakeAPI(latency=latency)
    result = await run(make_config(steps), api)
    assert result.status == "succeeded"
    assert result.elapsed_s == makespan
    assert result.critical_path_s == makespan
    assert sorted(api.calls) == sorted(s.id for s in steps)


async def test_dependency_outputs_reach_the_prompt(autojump_clock: trio.testing.MockClock) -> None:
    """A dependent step's user message carries each dependency's output under its id."""
    api = FakeAPI()
    result = await run(
        make_config([step("lint"), step("types", agent="other"), step("review", "lint", "types")]),
        api,
        task="review the repo",
    )
    assert result.ok
    text = api.bodies["review"]["messages"][0]["content"]
    assert "review the repo" in text
    assert "output of <<lint>>" in text
    assert "output of <<types>>" in text
    assert "`lint`" in text
    assert "`other`" in text
    assert result.step("review").output == "output of <<review>>"


async def test_limiter_bounds_requests_in_flight(autojump_clock: trio.testing.MockClock) -> None:
    """Never more requests in flight than the limit; 12 steps of 1 s at 4 → 3 s."""
    api = FakeAPI()
    config = make_config([step(f"s{i}") for i in range(12)], max_concurrency=4)
    result = await run(config, api)
    assert result.ok
    assert api.max_in_flight == 4
    assert result.elapsed_s == 3.0


async def test_step_timeout_fires_at_its_deadline(autojump_clock: trio.testing.MockClock) -> None:
    """A step's own timeout cancels its request at exactly the deadline; dependents skip."""
    api = FakeAPI(latency={"slow": 5.0, "fast": 0.25})
    config = make_config(
        [step("slow", timeout_s=0.5), step("fast"), step("after", "slow")], on_failure="continue"
    )
    result = await run(config, api)
    slow = result.step("slow")
    assert slow.status == "timed_out"
    assert slow.elapsed_s == 0.5
    assert slow.error == "timed out after 0.5 s"
    assert api.cancelled == ["slow"]
    assert result.step("fast").ok
    assert result.step("after").status == "skipped"
    assert result.step("after").error == "dependency 'slow' timed out"
    assert result.status == "failed"
    assert result.elapsed_s == 0.5


async def test_step_timeout_override_and_config_default(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """--step-timeout applies to steps without their own; the config default otherwise."""
    api = FakeAPI(latency={"a": 2.0, "b": 2.0})
    config = make_config(
        [step("a"), step("b", timeout_s=3.0)], step_timeout_s=1.0, on_failure="continue"
    )
    result = await run(config, api, step_timeout_s=1.5)
    assert result.step("a").status == "timed_out"
    assert result.step("a").elapsed_s == 1.5
    assert result.step("b").ok
    result = await run(config, FakeAPI(latency={"a": 2.0, "b": 2.0}))
    assert result.step("a").elapsed_s == 1.0


async def test_fail_fast_cancels_running_and_skips_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Fail-fast: a failure cancels running siblings and skips everything not started."""
    api = FakeAPI(latency={"bad": 0.5, "long": 3.0}, fail={"bad": 400})
    config = make_config([step("bad"), step("long"), step("next", "long"), step("dep", "bad")])
    result = await run(config, api)
    assert result.status == "failed"
    assert result.elapsed_s == 0.5
    statuses = {s.id: s.status for s in result.steps}
    assert statuses == {"bad": "failed", "long": "cancelled", "next": "skipped", "dep": "skipped"}
    assert result.step("bad").error_type == "BadRequestError"
    assert "scripted 400" in (result.step("bad").error or "")
    assert api.cancelled == ["long"]


async def test_keep_going_finishes_independent_branches(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Keep-going: independent branches finish; only dependents of the failure skip."""
    api = FakeAPI(latency={"bad": 0.5, "long": 3.0}, fail={"bad": 400})
    config = make_config([step("bad"), step("long"), step("next", "long"), step("dep", "bad")])
    result = await run(config, api, keep_going=True)
    statuses = {s.id: s.status for s in result.steps}
    assert statuses == {"bad": "failed", "long": "succeeded", "next": "succeeded", "dep": "skipped"}
    assert result.status == "failed"
    assert result.elapsed_s == 4.0
    assert result.step("next").output == "output of <<next>>"


async def test_sequential_runs_one_step_at_a_time(autojump_clock: trio.testing.MockClock) -> None:
    """--sequential: topological order, one at a time, makespan = sum of the steps."""
    api = FakeAPI(latency={"a": 1.0, "b": 0.5, "c": 0.25})
    result = await run(make_config([step("a"), step("b"), step("c", "a")]), api, sequential=True)
    assert result.ok
    assert result.elapsed_s == 1.75
    assert api.max_in_flight == 1
    assert list(result.execution_order) == list(
        build_graph(make_config([step("a"), step("b"), step("c", "a")]).workflows["wf"]).order
    )


async def test_sequential_fail_fast_stops_and_keep_going_continues(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Sequential mode honours both failure policies."""
    steps = [step("a"), step("b", "a"), step("c")]
    result = await run(make_config(steps), FakeAPI(fail={"a": 500}), sequential=True)
    assert [s.status for s in result.steps] == ["failed", "skipped", "skipped"]
    result = await run(
        make_config(steps), FakeAPI(fail={"a": 500}), sequential=True, keep_going=True
    )
    assert [s.status for s in result.steps] == ["failed", "skipped", "succeeded"]


async def test_workflow_timeout(autojump_clock: trio.testing.MockClock) -> None:
    """The workflow deadline cancels running steps and reports ``timed_out``."""
    api = FakeAPI(latency={"a": 1.0, "b": 5.0})
    result = await run(make_config([step("a"), step("b"), step("c", "a", "b")]), api, timeout_s=2.0)
    assert result.status == "timed_out"
    assert result.elapsed_s == 2.0
    assert [s.status for s in result.steps] == ["succeeded", "cancelled", "skipped"]
    assert result.step("c").error == "dependency 'b' cancelled"


async def test_stop_event_cancels_with_partial_result(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Setting ``stop`` (what Ctrl-C does in the CLI) ends the run as ``cancelled``."""
    api = FakeAPI(latency={"a": 0.5, "b": 5.0})
    stop = trio.Event()
    async with open_test_engine(make_config([step("a"), step("b")]), api) as engine:

        async def press_ctrl_c() -> None:
            await trio.sleep(1.0)
            stop.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(press_ctrl_c)
            result = await engine.run_workflow("wf", stop=stop)
    assert result.status == "cancelled"
    assert result.elapsed_s == 1.0
    assert result.step("a").ok
    assert result.step("b").status == "cancelled"


async def test_outside_cancellation_leaves_nothing_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancelling the caller cancels every in-flight request; no task survives."""
    api = FakeAPI(latency={"a": 5.0, "b": 5.0})
    async with open_test_engine(make_config([step("a"), step("b")]), api) as engine:
        with trio.move_on_after(1.0):
            await engine.run_workflow("wf")
        assert sorted(api.cancelled) == ["a", "b"]
        assert api.in_flight == 0
        assert trio.current_time() == 1.0
        # Only this test's own task (and trio's system tasks) remain.
        root = trio.lowlevel.current_root_task()
        assert root is not None


async def test_events_in_order(autojump_clock: trio.testing.MockClock) -> None:
    """Hooks see workflow and step events in causal order."""
    events: list[Event] = []
    api = FakeAPI(latency={"a": 0.5, "b": 0.5})
    async with open_test_engine(
        make_config([step("a"), step("b", "a")]), api, hooks=[events.append]
    ) as engine:
        await engine.run_workflow("wf")
    kinds = [(type(e).__name__, getattr(e, "step_id", None)) for e in events]
    assert kinds == [
        ("WorkflowStarted", None),
        ("StepQueued", "a"),
        ("StepStarted", "a"),
        ("CallFinished", "a"),
        ("StepSucceeded", "a"),
        ("StepQueued", "b"),
        ("StepStarted", "b"),
        ("CallFinished", "b"),
        ("StepSucceeded", "b"),
        ("WorkflowFinished", None),
    ]
    assert isinstance(events[0], WorkflowStarted)
    assert isinstance(events[-1], WorkflowFinished)
    assert events[-1].result.ok


async def test_broken_hook_never_fails_the_run(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises is logged and ignored."""

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    async with open_test_engine(make_config([step("a")]), FakeAPI(), hooks=[broken]) as engine:
        result = await engine.run_workflow("wf")
    assert result.ok
    assert "hook" in caplog.text


async def test_run_agent_and_run_many(autojump_clock: trio.testing.MockClock) -> None:
    """run_agent returns a result; run_many runs concurrently and keeps input order."""
    api = FakeAPI(latency={"x": 1.0, "y": 0.25, "z": 0.5})
    async with open_test_engine(make_config(), api) as engine:
        single = await engine.run_agent("worker", "do <<x>>")
        assert single.ok
        assert single.output == "output of <<x>>"
        assert single.usage.input_tokens == 10
        assert single.attempts == 1
        assert single.cost_usd is not None
        assert single.cost_usd > 0
        start = trio.current_time()
        results = await engine.run_many(
            [("worker", "do <<x>>"), ("other", "do <<y>>"), ("worker", "do <<z>>")]
        )
        assert trio.current_time() - start == 1.0
    assert [r.output for r in results] == ["output of <<x>>", "output of <<y>>", "output of <<z>>"]
    assert [r.agent for r in results] == ["worker", "other", "worker"]


def lookup(term: str) -> str:
    """Look a term up.

    Args:
        term: what to look up.
    """
    return term


@pytest.mark.parametrize(("tools", "peak"), [(False, 2), (True, 8)])
async def test_run_many_workers_follow_the_slots_unless_jobs_use_tools(
    autojump_clock: trio.testing.MockClock, tools: bool, peak: int
) -> None:
    """Jobs that only call: as many under way as request slots (none parks at the limiter);
    jobs with tools: the workflow bound (twice the slots and 16), since tools hold no slot."""
    under_way = most = 0

    def count(event: Event) -> None:
        nonlocal under_way, most
        if isinstance(event, StepQueued):
            under_way += 1
            most = max(most, under_way)
        elif isinstance(event, StepSucceeded):
            under_way -= 1

    config = make_config(max_concurrency=2)
    if tools:
        agent = dataclasses.replace(config.agents["worker"], tools=("lookup",))
        config = dataclasses.replace(config, agents={**config.agents, "worker": agent})
    api = FakeAPI()
    library = [lookup] if tools else []
    async with open_test_engine(config, api, hooks=[count], tools=library) as engine:
        start = trio.current_time()
        results = await engine.run_many([("worker", f"do <<j{i}>>") for i in range(8)])
        assert trio.current_time() - start == 4.0  # 8 calls of 1 s, 2 at a time
    assert all(result.ok for result in results)
    assert (most, api.max_in_flight) == (peak, 2)


async def test_a_finished_step_leaves_no_reference_cycle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Steps are freed as soon as they finish, not by the garbage collector: at a thousand in
    flight, cycles through every step grew the oldest generation and full collections took a
    third of the client's CPU."""
    from claude_force_trio._step import Step
    from claude_force_trio._turns import Conversation

    async with open_test_engine(make_config(), FakeAPI()) as engine:
        await engine.run_many([("worker", "do <<warm>>")])
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            results = await engine.run_many([("worker", f"do <<j{i}>>") for i in range(5)])
            gc.collect()
            ours = [o for o in gc.garbage if isinstance(o, Step | Conversation)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert all(result.ok for result in results)
    assert ours == []


async def test_run_agent_failure_is_a_result(autojump_clock: trio.testing.MockClock) -> None:
    """An API error comes back as a failed result, not an exception."""
    async with open_test_engine(make_config(), FakeAPI(fail={"q": 529})) as engine:
        result = await engine.run_agent("worker", "do <<q>>", timeout_s=10)
    assert result.status == "failed"
    assert result.error_type == "OverloadedError"


async def test_unknown_names_are_config_errors() -> None:
    """Unknown agents and workflows raise ConfigError before anything is sent."""
    api = FakeAPI()
    async with open_test_engine(make_config(), api) as engine:
        with pytest.raises(ConfigError, match=r"^agent: unknown agent 'nope'"):
            await engine.run_agent("nope", "task")
        with pytest.raises(ConfigError, match=r"^jobs\[1\].agent: unknown agent 'nope'"):
            await engine.run_many([("worker", "t"), ("nope", "t")])
        with pytest.raises(ConfigError, match=r"^workflow: unknown workflow 'nope'"):
            await engine.run_workflow("nope")
    assert api.calls == []


async def test_max_concurrency_must_be_positive() -> None:
    """A zero concurrency limit is a usage error naming the flag."""
    with pytest.raises(ConfigError, match="--max-concurrency"):
        async with open_test_engine(make_config(), FakeAPI(), max_concurrency=0):
            pass


@st.composite
def random_dags(draw: st.DrawFn) -> tuple[list[Any], dict[str, float]]:
    """Random DAGs: step i depends on a random subset of earlier steps; random durations."""
    count = draw(st.integers(min_value=1, max_value=14))
    steps = []
    latency = {}
    for i in range(count):
        deps = draw(st.sets(st.integers(min_value=0, max_value=i - 1), max_size=3)) if i else set()
        steps.append(step(f"s{i}", *(f"s{d}" for d in sorted(deps))))
        latency[f"s{i}"] = draw(st.integers(min_value=1, max_value=16)) / 8
    order = draw(st.permutations(steps))
    return list(order), latency


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags())
def test_random_dags_run_on_their_critical_path(
    dag: tuple[Sequence[Any], dict[str, float]],
) -> None:
    """Every step runs once, after all its dependencies; makespan = critical path."""
    steps, latency = dag
    config = make_config(steps)
    api = FakeAPI(latency=latency)
    events: list[Event] = []

    async def main() -> Any:
        async with open_test_engine(config, api, hooks=[events.append]) as engine:
            return await engine.run_workflow("wf")

    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    graph = build_graph(config.workflows["wf"])
    assert result.ok
    assert sorted(api.calls) == sorted(latency)
    for s in steps:
        for dep in s.dependencies:
            assert api.ends[dep] <= api.starts[s.id]
    assert result.elapsed_s == pytest.approx(graph.critical_path(latency)[0], abs=1e-9)
    started = [e.step_id for e in events if isinstance(e, StepStarted)]
    assert sorted(started) == sorted(latency)
    assert not [e for e in events if isinstance(e, StepCancelled | StepSkipped)]
    assert len([e for e in events if isinstance(e, StepSucceeded)]) == len(steps)


def test_engine_is_constructible_only_through_open_engine() -> None:
    """Engine documents open_engine as its constructor."""
    assert "open_engine" in (Engine.__doc__ or "")


async def test_a_step_without_any_task_is_refused_before_sending() -> None:
    """No step task, no workflow task, no run task: a ConfigError naming the step."""
    api = FakeAPI()
    bare = step("a").__class__(id="a", agent="worker", path="workflows.wf.steps[0]")
    async with open_test_engine(make_config([bare]), api) as engine:
        with pytest.raises(
            ConfigError, match=r"^workflows\.wf\.steps\[0\]\.task: a task is required"
        ):
            await engine.run_workflow("wf")
        result = await engine.run_workflow("wf", task="do <<a>>")
    assert result.ok
    assert api.calls == ["a"]
