"""The workflow scheduler alone (``_run``), with steps that only sleep, in virtual time."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import pytest
import trio
import trio.testing

from claude_force_trio._config import StepConfig, WorkflowConfig
from claude_force_trio._dag import build_graph
from claude_force_trio._events import Event, StepCancelled, StepSkipped
from claude_force_trio._options import check_timeout
from claude_force_trio._prompts import DependencyOutput
from claude_force_trio._results import StepResult, StepStatus, WorkflowResult
from claude_force_trio._run import WorkflowRun, admission_bound

Spec = Sequence[tuple[str, Sequence[str]]]


def workflow(spec: Spec) -> WorkflowConfig:
    """A workflow ``w`` of steps ``(id, dependencies)``."""
    steps = tuple(
        StepConfig(id=sid, agent="a", task="t", dependencies=tuple(deps), path=f"w.steps[{i}]")
        for i, (sid, deps) in enumerate(spec)
    )
    return WorkflowConfig(name="w", steps=steps, path="workflows.w")


@dataclass
class Sleeper:
    """A step that sleeps its duration, then succeeds (or fails, if told to)."""

    step: StepConfig
    inputs: Sequence[DependencyOutput]
    seconds: float
    fails: bool
    log: list[tuple[str, float]]
    started: float | None = None

    async def run(self) -> StepResult:
        self.started = anyio.current_time()
        self.log.append((self.step.id, self.started))
        await anyio.sleep(self.seconds)
        status: StepStatus = "failed" if self.fails else "succeeded"
        return StepResult(
            id=self.step.id,
            agent="a",
            status=status,
            output=f"out:{self.step.id}:" + ",".join(i.step_id for i in self.inputs),
            elapsed_s=self.seconds,
            started=self.started,
            error="boom" if self.fails else None,
        )

    def interrupted(self) -> StepResult:
        return StepResult(
            id=self.step.id, agent="a", status="cancelled", started=self.started, error="stop"
        )


@dataclass
class Steps:
    """Builds :class:`Sleeper` steps and remembers what it built."""

    durations: Mapping[str, float]
    failing: frozenset[str] = frozenset()
    log: list[tuple[str, float]] = field(default_factory=list)
    built: list[str] = field(default_factory=list)

    def __call__(self, step: StepConfig, inputs: Sequence[DependencyOutput]) -> Sleeper:
        self.built.append(step.id)
        return Sleeper(
            step, inputs, self.durations.get(step.id, 1.0), step.id in self.failing, self.log
        )


async def execute(
    spec: Spec,
    steps: Steps,
    *,
    timeout_s: float = math.inf,
    keep_going: bool = False,
    sequential: bool = False,
    stop: trio.Event | None = None,
    events: list[Event] | None = None,
    max_active: int | None = None,
) -> WorkflowResult:
    """Run ``spec`` with ``steps`` and return the result."""
    wf = workflow(spec)
    run = WorkflowRun(
        wf,
        build_graph(wf),
        steps,
        run_id="r",
        emit=(events if events is not None else []).append,
        keep_going=keep_going,
        sequential=sequential,
        max_active=max_active,
    )
    return await run.execute(timeout_s, stop)


DIAMOND: Spec = [("top", []), ("left", ["top"]), ("right", ["top"]), ("bottom", ["left", "right"])]


async def test_each_step_starts_when_its_own_dependencies_end(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A slow branch never holds a fast one back: start times are exact."""
    steps = Steps({"top": 1.0, "left": 0.5, "right": 2.0, "bottom": 0.25})
    result = await execute(DIAMOND, steps)
    assert result.status == "succeeded"
    assert dict(steps.log) == {"top": 0.0, "left": 1.0, "right": 1.0, "bottom": 3.0}
    assert result.elapsed_s == 3.25
    assert result.execution_order == ("top", "left", "right", "bottom")
    assert result.step("bottom").output == "out:bottom:left,right"


async def test_fail_fast_cancels_running_steps_and_skips_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A failure cancels its running siblings (their interrupted() result) and skips the rest."""
    events: list[Event] = []
    steps = Steps({"top": 1.0, "left": 0.5, "right": 2.0}, failing=frozenset({"left"}))
    result = await execute(DIAMOND, steps, events=events)
    assert result.status == "failed"
    assert trio.current_time() == 1.5
    statuses = {s.id: s.status for s in result.steps}
    assert statuses == {
        "top": "succeeded",
        "left": "failed",
        "right": "cancelled",
        "bottom": "skipped",
    }
    assert result.step("bottom").error == "dependency 'left' failed"
    assert [type(e) for e in events if isinstance(e, StepCancelled | StepSkipped)] == [
        StepCancelled,
        StepSkipped,
    ]


async def test_keep_going_skips_only_the_failure_s_dependents(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With keep_going an independent branch finishes after a failure."""
    spec: Spec = [("a", []), ("b", ["a"]), ("c", []), ("d", ["c"])]
    steps = Steps({"a": 1.0, "c": 2.0, "d": 1.0}, failing=frozenset({"a"}))
    result = await execute(spec, steps, keep_going=True)
    assert {s.id: s.status for s in result.steps} == {
        "a": "failed",
        "b": "skipped",
        "c": "succeeded",
        "d": "succeeded",
    }
    assert result.elapsed_s == 3.0


async def test_sequential_runs_one_step_at_a_time(autojump_clock: trio.testing.MockClock) -> None:
    """Sequential mode runs the topological order back to back."""
    steps = Steps({"top": 1.0, "left": 0.5, "right": 2.0, "bottom": 0.25})
    result = await execute(DIAMOND, steps, sequential=True)
    assert result.elapsed_s == 3.75
    assert [sid for sid, _ in steps.log] == ["top", "left", "right", "bottom"]


async def test_workflow_timeout_cancels_and_skips(autojump_clock: trio.testing.MockClock) -> None:
    """The run's deadline cancels what runs and skips what never started."""
    steps = Steps({"top": 1.0, "left": 5.0, "right": 5.0})
    result = await execute(DIAMOND, steps, timeout_s=2.5)
    assert result.status == "timed_out"
    assert trio.current_time() == 2.5
    assert result.step("left").status == "cancelled"
    assert result.step("bottom").error == "dependency 'left' cancelled"
    chain = await execute([("a", []), ("b", ["a"]), ("c", ["b"])], Steps({}), timeout_s=0.5)
    assert chain.step("b").error == "dependency 'a' cancelled"
    assert chain.step("c").error == "dependency 'b' skipped"
    one_by_one = await execute([("a", []), ("b", [])], Steps({}), timeout_s=0.5, sequential=True)
    assert one_by_one.step("b").error == "the workflow timed out before it could start"


async def test_stop_event_cancels_the_run(autojump_clock: trio.testing.MockClock) -> None:
    """Setting the stop event (here a trio.Event) ends the run as cancelled, partial result kept."""
    stop = trio.Event()

    async def press() -> None:
        await trio.sleep(1.5)
        stop.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(press)
        result = await execute(DIAMOND, Steps({"top": 1.0}), stop=stop)
    assert result.status == "cancelled"
    assert result.step("top").ok
    assert result.step("left").status == "cancelled"
    assert result.step("bottom").error == "dependency 'left' cancelled"


async def test_a_wide_fan_in_builds_each_step_once(autojump_clock: trio.testing.MockClock) -> None:
    """10,000 steps feeding one join: every step built once, the join last, with all inputs."""
    n = 10_000
    spec: Spec = [*((f"s{i}", ()) for i in range(n)), ("join", [f"s{i}" for i in range(n)])]
    steps = Steps({})
    result = await execute(spec, steps)
    assert result.ok
    assert len(steps.built) == len(set(steps.built)) == n + 1
    assert steps.built[-1] == "join"
    assert result.elapsed_s == 2.0
    output = result.step("join").output
    assert output is not None
    assert output.count(",") == n - 1


@pytest.mark.parametrize("bad", [0, -1.0, math.nan])
def test_bad_timeouts_are_value_errors(bad: float) -> None:
    """0, negative and NaN timeouts are refused, as trio refuses them."""
    with pytest.raises(ValueError, match="must be a positive number of seconds"):
        check_timeout(bad, "timeout_s")


def test_infinite_timeout_means_none_and_bools_are_not_numbers() -> None:
    """math.inf is "no deadline"; True is not a number of seconds."""
    assert check_timeout(math.inf, "t") == math.inf
    assert check_timeout(2, "t") == 2.0
    with pytest.raises(TypeError, match="must be a number"):
        check_timeout(True, "t")


# -- the bound on steps under way ----------------------------------------------------------

WIDE: Spec = [(f"s{i}", []) for i in range(6)]


async def test_at_most_max_active_steps_are_under_way(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Six ready 1 s steps, two at a time: queued ones start in config order, two each second."""
    steps = Steps({})
    result = await execute(WIDE, steps, max_active=2)
    assert result.status == "succeeded"
    assert dict(steps.log) == {"s0": 0.0, "s1": 0.0, "s2": 1.0, "s3": 1.0, "s4": 2.0, "s5": 2.0}
    assert sorted(steps.built[:2]) == ["s0", "s1"]  # a queued step is built when it starts
    assert result.elapsed_s == 3.0


async def test_a_freed_task_runs_its_dependent_before_the_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The one bounded slot runs a chain on: ``a`` → ``b`` first, then the queued ``c``."""
    steps = Steps({"a": 1.0, "b": 1.0, "c": 1.0})
    result = await execute([("a", []), ("b", ["a"]), ("c", [])], steps, max_active=1)
    assert result.status == "succeeded"
    assert steps.log == [("a", 0.0), ("b", 1.0), ("c", 2.0)]


async def test_dependents_over_the_bound_wait_their_turn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A step releasing four dependents runs one, starts one more, and queues two."""
    spec: Spec = [("top", [])] + [(f"d{i}", ["top"]) for i in range(4)]
    steps = Steps({})
    result = await execute(spec, steps, max_active=2)
    assert result.status == "succeeded"
    assert dict(steps.log) == {"top": 0.0, "d0": 1.0, "d1": 1.0, "d2": 2.0, "d3": 2.0}


async def test_queued_steps_never_start_after_a_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Steps still queued when the run times out are skipped, not cancelled: they never began."""
    events: list[Event] = []
    result = await execute(WIDE, Steps({}), max_active=2, timeout_s=1.5, events=events)
    assert result.status == "timed_out"
    statuses = {s.id: s.status for s in result.steps}
    assert statuses == {
        "s0": "succeeded", "s1": "succeeded", "s2": "cancelled", "s3": "cancelled",
        "s4": "skipped", "s5": "skipped",
    }  # fmt: skip
    assert result.step("s4").error == "the workflow timed out before it could start"
    assert sorted(e.step_id for e in events if isinstance(e, StepCancelled)) == ["s2", "s3"]


async def test_a_failure_leaves_the_queue_unstarted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Fail-fast: the first failure stops the run, and queued steps are skipped unstarted."""
    steps = Steps({"s0": 0.5}, failing=frozenset({"s0"}))
    result = await execute(WIDE, steps, max_active=2)
    assert result.status == "failed"
    assert sorted(sid for sid, _ in steps.log) == ["s0", "s1"]
    assert {s.id for s in result.steps if s.status == "skipped"} == {"s2", "s3", "s4", "s5"}


async def test_keep_going_drains_the_queue_after_a_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With ``keep_going`` a failure frees its task for the queued steps, which all run."""
    steps = Steps({"s0": 0.5}, failing=frozenset({"s0"}))
    result = await execute(WIDE, steps, max_active=2, keep_going=True)
    assert result.status == "failed"
    assert dict(steps.log) == {
        "s0": 0.0, "s1": 0.0, "s2": 0.5, "s3": 1.0, "s4": 1.5, "s5": 2.0
    }  # fmt: skip
    assert [s.status for s in result.steps].count("succeeded") == 5


def test_the_bound_is_twice_the_slots_and_sixteen() -> None:
    """The engine's bound leaves started steps ready for every freed slot; zero is refused."""
    assert admission_bound(10) == 36
    assert admission_bound(256) == 528
    wf = workflow(WIDE)
    with pytest.raises(ValueError, match="max_active must be at least 1, not 0"):
        WorkflowRun(wf, build_graph(wf), Steps({}), run_id="r", emit=print, max_active=0)
