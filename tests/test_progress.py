"""The live progress table and plain lines, fed by real engine events in virtual time."""

from __future__ import annotations

import io
from typing import Any

import trio
import trio.testing
from rich.console import Console

from claude_force_trio._backend import Backend
from claude_force_trio._engine import open_engine
from claude_force_trio._events import (
    Event,
    StepFailed,
    StepQueued,
    StepRetrying,
    StepStarted,
    StepSucceeded,
    WorkflowStarted,
)
from claude_force_trio._results import StepResult
from claude_force_trio.cli._progress import WorkflowProgress, format_cost, summary_line

from .engine_support import FakeAPI, make_config, step


def render(progress: WorkflowProgress) -> str:
    """The table as a 120-column terminal would show it."""
    out = io.StringIO()
    Console(file=out, width=120, force_terminal=False, color_system=None).print(progress)
    return out.getvalue()


async def run_with(progress: WorkflowProgress, api: FakeAPI, steps: list[Any], **kw: Any) -> Any:
    """Run workflow ``wf`` with ``progress`` as a hook."""
    async with open_engine(
        make_config(steps), backend=Backend.url("http://api.test", "k"), transport=api.transport
    ) as engine:
        return await engine.run_workflow("wf", hooks=[progress], **kw)


async def test_table_shows_each_status(autojump_clock: trio.testing.MockClock) -> None:
    """Succeeded, failed and skipped rows, with attempts, elapsed, tokens and cost."""
    progress = WorkflowProgress(plain=None, clock=trio.current_time)
    api = FakeAPI(latency={"ok": 0.5, "bad": 1.0}, fail={"bad": 400})
    result = await run_with(
        progress, api, [step("ok"), step("bad"), step("after", "bad")], keep_going=True
    )
    table = render(progress)
    assert "✓ succeeded" in table
    assert "✗ failed" in table
    assert "skipped" in table
    assert "0.50s" in table
    assert "10/5" in table  # tokens in/out of the fake API's reply
    assert summary_line(result).startswith("failed · makespan 1.00 s")


async def test_running_rows_tick_and_count_attempts(autojump_clock: trio.testing.MockClock) -> None:
    """While a step runs its elapsed time ticks; a retry bumps its attempt count."""
    progress = WorkflowProgress(plain=None, clock=trio.current_time)
    api = FakeAPI(latency={"slow": 4.0})

    async def look() -> str:
        await trio.sleep(1.5)
        return render(progress)

    async with trio.open_nursery() as nursery:
        seen: list[str] = []

        async def snapshot() -> None:
            seen.append(await look())

        nursery.start_soon(snapshot)
        await run_with(progress, api, [step("slow")])
    assert "running" in seen[0]
    assert "1.5s" in seen[0]
    progress(StepRetrying("r", "slow", 1, 0.5, "OverloadedError", "529", 2.0))
    assert progress.rows["slow"].attempts == 2


async def test_plain_lines_for_pipes(autojump_clock: trio.testing.MockClock) -> None:
    """On a pipe every event that matters is one timestamped line, retries included."""
    lines: list[str] = []
    progress = WorkflowProgress(plain=lines.append, clock=trio.current_time)
    await run_with(progress, FakeAPI(latency={"a": 0.25}), [step("a"), step("b", "a")])
    progress(StepRetrying("r", "b", 1, 0.5, "OverloadedError", "overloaded", 1.0))
    text = "\n".join(lines)
    assert "wf" in lines[0]
    assert "started (2 steps)" in lines[0]
    assert "a" in text
    assert "succeeded 0.25s 15 tokens" in text
    assert "retrying  in 0.50s after OverloadedError" in lines[-1]


def test_format_cost_unknown_price() -> None:
    """A step with no known price shows ``$?``, never a guess."""
    assert format_cost(None) == "$?"
    assert format_cost(0.01234) == "$0.0123"


def test_cached_rows_say_so() -> None:
    """A cache hit shows as ``cached`` in the table and in the plain line."""
    from claude_force_trio._events import StepSucceeded, WorkflowStarted
    from claude_force_trio._results import StepResult

    events: list[Event] = [
        WorkflowStarted("r", "wf", ("a",), 0.0),
        StepSucceeded(
            "r", "a", StepResult(id="a", agent="x", status="succeeded", cached=True), 0.0
        ),
    ]
    lines: list[str] = []
    progress = WorkflowProgress(plain=lines.append, clock=lambda: 0.0)
    for event in events:
        progress(event)
    assert "✓ cached" in render(progress)
    assert "(cached)" in lines[-1]


def test_summary_of_a_cached_run() -> None:
    """A run served from the cache says what it saved and claims no speed-up."""
    from claude_force_trio._results import StepResult, WorkflowResult

    step_result = StepResult(id="a", agent="x", status="succeeded", cached=True, saved_usd=0.0125)
    result = WorkflowResult("wf", "r", "succeeded", 0.002, 0.0, ("a",), (step_result,))
    line = summary_line(result)
    assert "speed-up –" in line
    assert line.endswith("1 cached, saved $0.0125")


# ------------------------------------------------------------------ big runs: what fits the screen


def render_lines(progress: WorkflowProgress, *, height: int, width: int = 120) -> list[str]:
    """The table's lines on a ``width`` × ``height`` screen."""
    out = io.StringIO()
    Console(file=out, width=width, height=height, color_system=None).print(progress)
    return out.getvalue().splitlines()


def board(
    total: int, *, running: int, failed: int, succeeded: int, queued: int
) -> WorkflowProgress:
    """A progress display fed events for ``total`` steps ``s0``…: that many in each state.

    Steps start in id order; the first ``failed`` started ones fail, the next
    ``succeeded`` succeed (in id order), the next ``running`` are still running.
    """
    ids = [f"s{i}" for i in range(total)]
    progress = WorkflowProgress(plain=None, clock=lambda: 10.0)
    progress(WorkflowStarted("r", "wf", tuple(ids), 0.0))
    started = failed + succeeded + running
    for i, sid in enumerate(ids[: started + queued]):
        progress(StepQueued("r", sid, "worker", 0.0))
        if i >= started:
            continue
        progress(StepStarted("r", sid, "worker", "m", float(i)))
        if i < failed:
            bad = StepResult(id=sid, agent="worker", status="failed", error="boom", attempts=1)
            progress(StepFailed("r", sid, bad, float(i) + 0.5))
        elif i < failed + succeeded:
            ok = StepResult(id=sid, agent="worker", status="succeeded", attempts=1)
            progress(StepSucceeded("r", sid, ok, float(i) + 0.5))
    return progress


def step_column(lines: list[str]) -> list[str]:
    """The step ids of the table's rows (no header, no summary)."""
    return [line.split()[0] for line in lines[1:] if not line.startswith("…")]


def test_a_big_table_fits_the_screen_running_and_failed_first() -> None:
    """1,000 steps on 20 lines: header, running, failed, newest finished, one summary line."""
    progress = board(1000, running=5, failed=3, succeeded=400, queued=100)
    lines = render_lines(progress, height=20)
    assert len(lines) == 19  # the screen's height less the line the cursor sits on
    assert lines[0].split()[:3] == ["step", "agent", "status"]
    running = [f"s{i}" for i in range(403, 408)]
    failed = ["s0", "s1", "s2"]
    newest = [f"s{i}" for i in range(402, 393, -1)]  # the 9 most recently finished
    assert step_column(lines) == running + failed + newest
    assert all("running" in line for line in lines[1:6])
    assert all("✗ failed" in line for line in lines[6:9])
    assert lines[-1] == "… 983 more: 100 queued · 492 waiting · 391 succeeded"


def test_summary_counts_are_exact_when_running_steps_overflow() -> None:
    """More running steps than lines: the hidden ones are counted as running, exactly."""
    progress = board(500, running=30, failed=2, succeeded=10, queued=7)
    lines = render_lines(progress, height=12)
    assert len(lines) == 11
    assert step_column(lines) == [f"s{i}" for i in range(12, 21)]  # the oldest running
    assert lines[-1] == (
        "… 491 more: 21 running · 2 failed · 7 queued · 451 waiting · 10 succeeded"
    )
    shown = len(step_column(lines))
    counts = lines[-1].split(": ", 1)[1].split(" · ")
    assert shown + sum(int(c.split()[0]) for c in counts) == 500


def test_a_table_that_fits_shows_every_row_in_config_order() -> None:
    """A run that fits the screen keeps the classic table: every step, config order, no summary."""
    progress = board(15, running=2, failed=1, succeeded=5, queued=3)
    lines = render_lines(progress, height=20)
    assert step_column(lines) == [f"s{i}" for i in range(15)]
    assert len(lines) == 16
    assert not any(line.startswith("…") for line in lines)


def test_every_row_is_one_line_on_a_narrow_screen() -> None:
    """On a 30-column screen rows are cut, not wrapped: the line count stays within the height."""
    progress = board(200, running=4, failed=1, succeeded=50, queued=10)
    lines = render_lines(progress, height=10, width=30)
    assert len(lines) == 9
    assert all(len(line) <= 30 for line in lines)
    assert lines[-1].startswith("… 193 more: ")


def test_the_running_spinner_turns_with_the_step_s_own_time() -> None:
    """A running row's spinner frame follows its elapsed time (one frame per 80 ms)."""
    now = [1.0]
    progress = WorkflowProgress(plain=None, clock=lambda: now[0])
    progress(WorkflowStarted("r", "wf", ("a",), 0.0))
    progress(StepStarted("r", "a", "worker", "m", 1.0))
    frames = []
    for at in (1.0, 1.1, 1.2):
        now[0] = at
        frames.append(render_lines(progress, height=10)[1].split()[2])
    assert frames == ["⠋", "⠙", "⠹"]


class CountingDict(dict[str, Any]):
    """A dict that counts whole-table reads (iteration, values, items)."""

    scans = 0

    def __iter__(self) -> Any:
        CountingDict.scans += 1
        return super().__iter__()

    def values(self) -> Any:
        CountingDict.scans += 1
        return super().values()

    def items(self) -> Any:
        CountingDict.scans += 1
        return super().items()


def test_events_and_frames_never_scan_every_row(monkeypatch: Any) -> None:
    """Per-event work and a frame of a run that does not fit read no whole-table view."""
    progress = board(10_000, running=10, failed=1, succeeded=100, queued=50)
    progress.rows._rows = CountingDict(progress.rows._rows)
    monkeypatch.setattr(CountingDict, "scans", 0)
    for i in range(200, 300):
        sid = f"s{i}"
        progress(StepQueued("r", sid, "worker", 20.0))
        progress(StepStarted("r", sid, "worker", "m", 20.0))
        ok = StepResult(id=sid, agent="worker", status="succeeded", attempts=1)
        progress(StepSucceeded("r", sid, ok, 21.0))
        render_lines(progress, height=30)
    assert CountingDict.scans == 0
    assert render_lines(progress, height=30)[-1].startswith("… 9,973 more: ")


async def test_plain_lines_are_unchanged(autojump_clock: trio.testing.MockClock) -> None:
    """On a pipe a run prints exactly the lines it always did (timestamps in virtual time)."""
    lines: list[str] = []
    progress = WorkflowProgress(plain=lines.append, clock=trio.current_time)
    api = FakeAPI(latency={"a": 0.25, "b": 0.5}, fail={"c": 400})
    await run_with(progress, api, [step("a"), step("b", "a"), step("c", "b"), step("d", "c")])
    assert lines[:-2] == [
        "[   0.00s] wf  started (4 steps)",
        "[   0.00s] a  started   (worker, claude-sonnet-4-5)",
        "[   0.25s] a  succeeded 0.25s 15 tokens $0.0001",
        "[   0.25s] b  started   (worker, claude-sonnet-4-5)",
        "[   0.75s] b  succeeded 0.50s 15 tokens $0.0001",
        "[   0.75s] c  started   (worker, claude-sonnet-4-5)",
    ]
    assert lines[-2].startswith("[   1.75s] c  failed    1.00s ")  # then the API's own message
    assert lines[-1] == "[   1.75s] d  skipped   (dependency 'c' failed)"


async def test_a_live_run_never_draws_more_than_the_screen(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Snapshots of a real 300-step run (virtual time): every frame fits 15 lines, running first."""
    steps = [step("root")]
    steps += [step(f"w{i}", "root") for i in range(297)]
    steps.append(step("join", *(f"w{i}" for i in range(297))))
    latency = {f"w{i}": 0.1 + (i % 7) * 0.05 for i in range(297)}
    progress = WorkflowProgress(plain=None, clock=trio.current_time)
    frames: list[list[str]] = []

    async def watch() -> None:
        while True:
            await trio.sleep(0.2)
            frames.append(render_lines(progress, height=15))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        result = await run_with(progress, FakeAPI(latency=latency), steps)
        nursery.cancel_scope.cancel()
    assert result.ok
    assert len(frames) > 5
    for lines in frames:
        assert len(lines) <= 14
        statuses = ["running" in line for line in lines[1:-1]]
        assert statuses == sorted(statuses, reverse=True)  # running rows before the others
        assert lines[-1].startswith("… ")
    assert any(sum("running" in line for line in lines) >= 12 for lines in frames)
