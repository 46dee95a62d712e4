"""Batch mode (``open_engine(mode="batch")``, ``--batch``) against the simulator over loopback HTTP.

The in-process tests run the simulator in the test's own trio run under
``MockClock``, so a batch's processing time and the poller's backoff are
virtual and exact: a batch created at the end of the 0.2 s window, processing
for 1 s, is seen ended by the first poll, 1 s later. The kill test runs the
CLI in a subprocess against a simulator on a thread (real time, short batches).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from typer.testing import CliRunner

from claude_force_trio import Backend
from claude_force_trio._config import Config, RetryConfig
from claude_force_trio._engine import Engine, open_engine
from claude_force_trio.cli import app
from claude_force_trio.simulator import BatchFaultPlan, Simulator, open_simulator
from claude_force_trio.simulator._thread import SimulatorHandle, run_simulator_in_thread

from .engine_support import make_config, step

KEY = "batch-test-key-0123456789abcdef"
CFT = [sys.executable, "-m", "claude_force_trio"]


@contextlib.asynccontextmanager
async def engine_on(
    config: Config, mode: str = "batch", **sim: Any
) -> AsyncIterator[tuple[Simulator, Engine]]:
    """A zero-latency simulator in this trio run and an engine in ``mode`` talking to it."""
    async with (
        open_simulator(ttft_ms=0, tokens_per_s=0, **sim) as simulator,
        open_engine(
            config, backend=Backend.url(simulator.url, KEY), mode=mode, metrics=False
        ) as engine,
    ):
        yield simulator, engine


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps whenever every task waits (pytest-trio runs the test on it)."""
    return trio.testing.MockClock(autojump_threshold=0)


def jobs(count: int, *, marker: str = "") -> list[tuple[str, str]]:
    """``count`` distinct run-many jobs for the ``worker`` agent."""
    return [("worker", f"summarise item {i}{marker}") for i in range(count)]


def messages_calls(simulator: Simulator) -> int:
    """How many ``POST /v1/messages`` the simulator answered."""
    return sum(1 for r in simulator.requests if r.path == "/v1/messages")


async def test_thousand_requests_go_in_one_batch_at_half_price(
    clock: trio.testing.MockClock,
) -> None:
    """1,000 run-many jobs → one batch, no /v1/messages; outputs and usage as live, cost ×0.5."""
    config = make_config()
    async with engine_on(config, "live") as (simulator, engine):
        live = await engine.run_many(jobs(1000))
        assert messages_calls(simulator) == 1000
    start = trio.current_time()
    async with engine_on(config) as (simulator, engine):
        batched = await engine.run_many(jobs(1000))
        assert trio.current_time() - start == pytest.approx(1.2)  # window 0.2 + batch 1.0
        stats = simulator.stats()
        assert (stats.batches, stats.batch_requests) == (1, 1000)
        assert messages_calls(simulator) == 0
        assert engine.batches is not None
        assert engine.batches.statistics().entries_submitted == 1000
    assert all(r.ok for r in batched)
    assert [r.output for r in batched] == [r.output for r in live]
    assert [r.usage for r in batched] == [r.usage for r in live]
    for one, other in zip(batched, live, strict=True):
        assert one.cost_usd is not None
        assert other.cost_usd is not None
        assert one.cost_usd == pytest.approx(other.cost_usd / 2)


async def test_dag_runs_as_a_sequence_of_batches(clock: trio.testing.MockClock) -> None:
    """Roots share the first batch; each level of dependents goes into a later one."""
    config = make_config([step("a"), step("d"), step("b", "a"), step("c", "b", "d")])
    async with engine_on(config) as (simulator, engine):
        result = await engine.run_workflow("wf")
        assert result.status == "succeeded"
        stats = simulator.stats()
        assert (stats.batches, stats.batch_requests) == (3, 4)
        creates = [r for r in simulator.requests if r.path == "/v1/messages/batches"]
        sizes = [len((r.body or {})["requests"]) for r in creates]
        assert sizes == [2, 1, 1]
    assert trio.current_time() == pytest.approx(3 * 1.2)


async def test_errored_and_expired_entries_are_resubmitted(
    clock: trio.testing.MockClock,
) -> None:
    """Seeded errored/expired entries go into later batches and every job succeeds."""
    base = make_config()
    config = dataclasses.replace(base, retry=RetryConfig(max_attempts=10, initial_delay_s=0.1))
    plan = BatchFaultPlan((("errored", 0.2), ("expired", 0.1)))
    async with engine_on(config, batch_faults=plan, seed=7) as (simulator, engine):
        results = await engine.run_many(jobs(60))
        stats = simulator.stats()
        assert engine.batches is not None
        resubmitted = engine.batches.statistics().entries_resubmitted
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert stats.batches > 1
    assert stats.batch_requests == 60 + resubmitted > 60
    assert sum(r.attempts for r in results) == 60 + resubmitted


async def test_unprocessed_entry_retries_until_attempts_run_out(
    clock: trio.testing.MockClock,
) -> None:
    """An entry errored every time fails after retry.max_attempts batches, as live retries do."""
    config = dataclasses.replace(make_config(), retry=RetryConfig(max_attempts=3))
    async with engine_on(config) as (simulator, engine):
        [result] = await engine.run_many(jobs(1, marker=" [sim:batch_errored]"))
        assert simulator.stats().batches == 3
    assert result.status == "failed"
    assert result.error_type == "InternalServerError"
    assert result.attempts == 3


async def test_invalid_entry_fails_its_step_at_once(clock: trio.testing.MockClock) -> None:
    """An invalid_request_error entry fails its step (BadRequestError); the others succeed."""
    async with engine_on(make_config()) as (simulator, engine):
        results = await engine.run_many([*jobs(3), ("worker", "bad [sim:batch_invalid]")])
        assert simulator.stats().batches == 1
    assert [r.ok for r in results] == [True, True, True, False]
    bad = results[3]
    assert bad.error_type == "BadRequestError"
    assert bad.error_status == 400
    assert bad.attempts == 1
    assert "could not be processed" in (bad.error or "")


async def test_refused_create_fails_only_the_named_entry(
    clock: trio.testing.MockClock,
) -> None:
    """A create refused for requests.N fails that call; the others go into the next batch."""
    async with engine_on(make_config()) as (simulator, engine):
        results = await engine.run_many(jobs(2))
        good = await engine.run_agent("worker", "fine")
        bad_body = await engine.run_agent("worker", "fine too", temperature=5.0)
        stats = simulator.stats()
    assert all(r.ok for r in results)
    assert good.ok
    assert bad_body.error_type == "BadRequestError"
    assert "temperature" in (bad_body.error or "")
    assert not (bad_body.error or "").startswith("requests.")
    assert stats.batches == 2


async def test_cache_hits_never_go_into_a_batch(clock: trio.testing.MockClock) -> None:
    """A repeat answered by the response cache makes no batch entry."""
    async with engine_on(make_config(cache=True)) as (simulator, engine):
        first = await engine.run_many(jobs(10))
        again = await engine.run_many(jobs(10))
        stats = simulator.stats()
    assert (stats.batches, stats.batch_requests) == (1, 10)
    assert all(r.cached for r in again)
    assert [r.output for r in again] == [r.output for r in first]


async def test_streamed_call_gets_its_text_whole(clock: trio.testing.MockClock) -> None:
    """on_text in batch mode receives the whole reply in one chunk."""
    chunks: list[str] = []
    async with engine_on(make_config()) as (simulator, engine):
        result = await engine.run_agent("worker", "say something", on_text=chunks.append)
        assert simulator.stats().batches == 1
    assert result.ok
    assert chunks == [result.output]


async def test_cancelled_call_stops_waiting(clock: trio.testing.MockClock) -> None:
    """A waiting call that is cancelled returns at once; the batch stays on the server."""
    async with engine_on(make_config(), batch_latency_s=100.0) as (simulator, engine):
        with trio.move_on_after(5.0):
            await engine.run_agent("worker", "slow")
        assert trio.current_time() == pytest.approx(5.0)
        [created] = [r for r in simulator.requests if r.path == "/v1/messages/batches"]
        assert created.status == 200


def test_unknown_mode_is_refused() -> None:
    """open_engine(mode=...) accepts only live and batch."""

    async def main() -> None:
        async with open_engine(make_config(), backend="simulator", mode="bulk", metrics=False):
            pass

    with pytest.raises(ValueError, match="mode must be"):
        trio.run(main)


# -- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def sim_thread() -> Iterator[SimulatorHandle]:
    """A simulator on a thread whose batches stay in progress for the test's whole life.

    It runs in real time, so a short processing time would make "still processing"
    a race against a slow machine (0.5 s once ended a batch before ``show`` ran).
    """
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0, batch_latency_s=600.0) as handle:
        yield handle


def create_batch(url: str, count: int) -> str:
    """Create a batch of ``count`` tiny entries over raw HTTP; return its id."""
    requests = [
        {
            "custom_id": f"r{i}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": f"hi {i}"}],
            },
        }
        for i in range(count)
    ]
    answer = httpx.post(
        f"{url}/v1/messages/batches",
        json={"requests": requests},
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def test_cli_batches_list_show_cancel(
    sim_thread: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cft batches list/show/cancel read the backend's batches; the key is never printed."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", sim_thread.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("CFT_CONFIG", raising=False)
    monkeypatch.chdir(Path(os.environ["CFT_HOME"]))
    first, second = create_batch(sim_thread.url, 2), create_batch(sim_thread.url, 3)
    runner = CliRunner()
    listed = runner.invoke(app, ["batches", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [b["id"] for b in json.loads(listed.stdout)["data"]] == [second, first]
    plain = runner.invoke(app, ["batches", "list"])
    assert plain.exit_code == 0
    assert first in plain.stdout
    assert "in_progress" in plain.stdout
    shown = runner.invoke(app, ["batches", "show", first, "--json"])
    assert json.loads(shown.stdout)["request_counts"]["processing"] == 2
    cancelled = runner.invoke(app, ["batches", "cancel", second, "--json"])
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["processing_status"] == "canceling"
    missing = runner.invoke(app, ["batches", "show", "msgbatch_nope"])
    assert missing.exit_code == 2
    assert "not found" in missing.output
    for result in (listed, plain, shown, cancelled, missing):
        assert KEY not in result.output


def write_project(root: Path, steps: dict[str, Sequence[str]]) -> Path:
    """A claude.json with one agent and the workflow ``wf`` of ``steps`` (id → dependencies)."""
    (root / "agents").mkdir(parents=True, exist_ok=True)
    (root / "agents" / "worker.md").write_text("# Worker\n\nYou do one step.\n")
    config = {
        "version": "1.0.0",
        "name": "batch test",
        "agents": {"worker": {"file": "agents/worker.md", "max_tokens": 256}},
        "workflows": {
            "wf": {
                "steps": [
                    {"id": sid, "agent": "worker", "task": f"step {sid}", "dependencies": list(d)}
                    for sid, d in steps.items()
                ]
            }
        },
    }
    path = root / "claude.json"
    path.write_text(json.dumps(config))
    return path


def journal_rows(db: Path) -> list[tuple[str, str, str]]:
    """``(run_id, step_id, status)`` of every journalled step row (empty before the file exists)."""
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as connection:
        try:
            rows = connection.execute("SELECT run_id, step_id, status FROM steps").fetchall()
        except sqlite3.OperationalError:
            return []
    return [(str(a), str(b), str(c)) for a, b, c in rows]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigkill_while_polling_then_resume_submits_nothing_twice(tmp_path: Path) -> None:
    """A run killed while its batch processes resumes polling it: no second batch for it."""
    home = tmp_path / "home"
    config = write_project(tmp_path / "project", {"a": (), "b": (), "c": ("a", "b")})
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0, batch_latency_s=1.0) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CFT_"))}
        env |= {
            "CFT_HOME": str(home),
            "CFT_CONFIG": str(config),
            "ANTHROPIC_BASE_URL": sim.url,
            "ANTHROPIC_API_KEY": KEY,
        }
        db = home / "runs" / "journal.db"
        proc = subprocess.Popen(
            [*CFT, "workflow", "run", "wf", "--batch", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(status == "batch_submitted" for *_, status in journal_rows(db)) == 2:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        assert sim.stats().batches == 1
        [run_id] = {run for run, *_ in journal_rows(db)}
        resumed = subprocess.run(
            [*CFT, "workflow", "resume", run_id, "--batch", "--json"],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert resumed.returncode == 0, resumed.stderr.decode()
        document = json.loads(resumed.stdout)
        stats = sim.stats()
    assert document["status"] == "succeeded"
    assert (stats.batches, stats.batch_requests) == (2, 3)  # {a, b} once, then {c}
    assert KEY not in resumed.stdout.decode() + resumed.stderr.decode()
