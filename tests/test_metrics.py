"""Tests for the JSONL metrics recorder (``_metrics``), on trio and asyncio."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from claude_force_trio._events import (
    StepFailed,
    StepQueued,
    StepSkipped,
    StepSucceeded,
    WorkflowFinished,
    WorkflowStarted,
)
from claude_force_trio._metrics import FIELDS, MetricsRecorder, hash_task, metrics_files
from claude_force_trio._results import StepResult, WorkflowResult
from claude_force_trio._types import Usage

pytestmark = pytest.mark.anyio

TASK = "Review the secret plan for project X"
WHEN = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def result(step: str, **kw: object) -> StepResult:
    """A finished step's result with sensible defaults."""
    base: dict[str, object] = {
        "id": step,
        "agent": "reviewer",
        "status": "succeeded",
        "output": "fine",
        "attempts": 1,
        "model": "claude-haiku-4-5",
        "finished_at": WHEN,
        "elapsed_s": 1.25,
        "usage": Usage(100, 50, 10, 20),
        "cost_usd": 0.000385,
        "ttft_s": 0.2,
    }
    return StepResult(**(base | kw))  # type: ignore[arg-type]


def lines(path: Path) -> list[dict[str, object]]:
    """Every JSON line of ``path``."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_line_per_finished_call_with_every_field(tmp_path: Path) -> None:
    """Succeeded and failed steps are recorded; skipped ones are not."""
    rec = MetricsRecorder(tmp_path)
    rec(WorkflowStarted("run1", "review", ("a", "b", "c"), 0.0))
    rec(StepQueued("run1", "a", "reviewer", 0.0, task_hash=hash_task(TASK)))
    rec(StepSucceeded("run1", "a", result("a"), 1.0))
    failed = result("b", status="failed", error_type="RateLimitError", output=None, attempts=4)
    rec(StepFailed("run1", "b", failed, 2.0))
    rec(StepSkipped("run1", "c", result("c", status="skipped"), 2.0))
    assert not (tmp_path / "executions.jsonl").exists()  # buffered until the run ends
    final = WorkflowResult("review", "run1", "failed", 2.0, 2.0, ("a", "b"), ())
    rec(WorkflowFinished("run1", "review", final, 2.0))
    first, second = lines(tmp_path / "executions.jsonl")
    assert list(first) == list(FIELDS)
    assert first == {
        "ts": "2026-03-01T12:00:00.000+00:00",
        "run_id": "run1",
        "workflow": "review",
        "step_id": "a",
        "agent": "reviewer",
        "model": "claude-haiku-4-5",
        "success": True,
        "status": "succeeded",
        "error_type": None,
        "cached": False,
        "attempts": 1,
        "latency_ms": 1250.0,
        "ttft_ms": 200.0,
        "input_tokens": 100,
        "output_tokens": 50,
        "cache_read_input_tokens": 20,
        "cache_creation_input_tokens": 10,
        "cost_usd": 0.000385,
        "saved_usd": None,
        "task_hash": hash_task(TASK),
        "project": None,
        "similarity": None,
    }
    assert (second["success"], second["error_type"], second["attempts"]) == (
        False,
        "RateLimitError",
        4,
    )
    assert second["task_hash"] is None


def test_never_the_task_text_or_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file holds a hash of the task, never its text, and never the API key."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key-secret-123")
    with MetricsRecorder(tmp_path) as rec:
        rec(StepQueued("r", "a", "reviewer", 0.0, task_hash=hash_task(TASK)))
        rec(StepSucceeded("r", "a", result("a", output=TASK), 1.0))
    text = (tmp_path / "executions.jsonl").read_text(encoding="utf-8")
    assert "secret" not in text
    assert hash_task(TASK) in text


def test_run_agent_calls_have_no_workflow_and_flush_every_n(tmp_path: Path) -> None:
    """Without WorkflowStarted the workflow is null; ``flush_every`` lines trigger a write."""
    rec = MetricsRecorder(tmp_path, flush_every=2)
    rec(StepSucceeded("x1", "reviewer", result("reviewer"), 1.0))
    assert not rec.path.exists()
    rec(StepSucceeded("x2", "reviewer", result("reviewer"), 1.0))
    assert [line["workflow"] for line in lines(rec.path)] == [None, None]


def test_cache_hit_saves_what_the_same_task_cost_before(tmp_path: Path) -> None:
    """A cache hit's saved_usd is the last uncached cost of that agent, model and task."""
    h = hash_task(TASK)
    with MetricsRecorder(tmp_path) as rec:
        rec(StepQueued("r1", "a", "reviewer", 0.0, task_hash=h))
        rec(StepSucceeded("r1", "a", result("a", cost_usd=0.01), 1.0))
        rec(StepQueued("r2", "a", "reviewer", 0.0, task_hash=h))
        hit = result("a", cached=True, attempts=0, usage=Usage(), cost_usd=0.0, elapsed_s=0.001)
        rec(StepSucceeded("r2", "a", hit, 1.0))
        rec(StepQueued("r3", "a", "reviewer", 0.0, task_hash=hash_task("other")))
        rec(StepSucceeded("r3", "a", hit, 1.0))
    assert [line["saved_usd"] for line in lines(tmp_path / "executions.jsonl")] == [
        None,
        0.01,
        None,
    ]


def test_rotation_keeps_k_files_of_complete_lines(tmp_path: Path) -> None:
    """Past ``max_bytes`` the file rotates; only ``keep`` old files remain, lines intact."""
    rec = MetricsRecorder(tmp_path, flush_every=1, max_bytes=2_000, keep=2)
    for n in range(60):
        rec(StepSucceeded(f"r{n}", "a", result("a"), 1.0))
    names = {p.name for p in metrics_files(tmp_path)}
    assert {"executions.1.jsonl", "executions.2.jsonl"} <= names
    assert names <= {"executions.1.jsonl", "executions.2.jsonl", "executions.jsonl"}
    assert not (tmp_path / "executions.3.jsonl").exists()
    kept = [line for p in metrics_files(tmp_path) for line in lines(p)]
    runs = [int(str(line["run_id"])[1:]) for line in kept]
    assert runs == sorted(runs)  # oldest file first, nothing reordered
    assert runs[-1] == 59
    assert all(p.stat().st_size <= 2_000 + 500 for p in metrics_files(tmp_path))


_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path
    from claude_force_trio._events import StepSucceeded
    from claude_force_trio._metrics import MetricsRecorder
    from claude_force_trio._results import StepResult

    tag = sys.argv[2]
    rec = MetricsRecorder(Path(sys.argv[1]), flush_every=7, max_bytes=10**9)
    for n in range(5000):
        res = StepResult(f"{tag}-{n}", "agent-" + tag * 40, "succeeded", elapsed_s=0.5,
                         finished_at=datetime.now(UTC))
        rec(StepSucceeded(tag, f"{tag}-{n}", res, 0.0))
    rec.close()
    """
)


@pytest.mark.slow
def test_two_processes_appending_never_tear_a_line(tmp_path: Path) -> None:
    """Two processes write 5,000 lines each into one file: 10,000 whole lines come out."""
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), tag]) for tag in "AB"]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    records = lines(tmp_path / "executions.jsonl")  # json.loads fails on any torn line
    assert len(records) == 10_000
    for tag in "AB":
        mine = [r["step_id"] for r in records if r["run_id"] == tag]
        assert mine == [f"{tag}-{n}" for n in range(5000)]


def finished(run: str) -> StepSucceeded:
    """A finished-step event for run ``run``."""
    return StepSucceeded(run, "a", result("a"), 1.0)


def run_ids(path: Path) -> list[object]:
    """The run id of every line of ``path``."""
    return [line["run_id"] for line in lines(path)]


async def test_aflush_writes_from_a_worker_thread(tmp_path: Path) -> None:
    """``aflush`` lands the buffered lines on either event loop."""
    rec = MetricsRecorder(tmp_path)
    rec(finished("r1"))
    rec(finished("r2"))
    await rec.aflush()
    assert (run_ids(rec.path), rec.pending) == (["r1", "r2"], 0)


async def test_async_with_lands_lines_even_when_cancelled(tmp_path: Path) -> None:
    """Leaving ``async with`` in a cancelled scope still writes everything (aclose is shielded)."""
    with anyio.CancelScope() as scope:
        async with MetricsRecorder(tmp_path) as rec:
            rec(finished("r1"))
            scope.cancel()
            await anyio.sleep(1)  # cancelled here; aclose runs on the way out
    assert scope.cancelled_caught
    assert run_ids(rec.path) == ["r1"]


def test_a_triggered_flush_never_waits_for_another_writer(tmp_path: Path) -> None:
    """While a worker thread writes, a flush the engine triggers leaves its lines for later."""
    rec = MetricsRecorder(tmp_path, flush_every=1)
    with rec._writing:  # as if aflush's thread were half-way through a write
        caller = threading.Thread(target=rec, args=(finished("r1"),))
        caller.start()
        caller.join(timeout=10)
        assert not caller.is_alive()
    assert rec.pending == 1
    rec.close()
    assert run_ids(rec.path) == ["r1"]


_NO_TRIO = textwrap.dedent(
    """
    import asyncio, sys
    sys.modules["trio"] = None  # any `import trio` now fails
    from pathlib import Path
    from claude_force_trio._memory import open_memory
    from claude_force_trio._metrics import MetricsRecorder, aggregate
    from test_metrics import finished

    async def main(folder):
        async with open_memory(folder / "m.sqlite3", project="p") as store:
            await store.record("a", "t", "o")
            assert [i.output for i in await store.relevant("a", "t2")] == ["o"]
        async with MetricsRecorder(folder) as rec:
            rec(finished("r"))
            await rec.aflush()
        assert aggregate(folder).overall.calls == 1

    asyncio.run(main(Path(sys.argv[1])))
    """
)


def test_metrics_and_memory_need_no_trio(tmp_path: Path) -> None:
    """With trio unimportable, memory and metrics work under ``asyncio.run``."""
    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", _NO_TRIO, str(tmp_path)],
        cwd=here,
        env={"PYTHONPATH": here, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
