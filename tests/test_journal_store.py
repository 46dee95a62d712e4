"""Tests for the run journal's SQLite store and the config fingerprint (``_journal``)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from claude_force_trio import Backend, ConfigError, UnknownWorkflowError, load_config, open_engine
from claude_force_trio._config import Config
from claude_force_trio._journal import Journal, fingerprint, journal_path, open_journal
from claude_force_trio.simulator import Fault, SimulatorConfig, open_simulator

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).parents[1] / "examples" / ".claude" / "claude.json"
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


class Clock:
    """A settable wall clock for the journal's time stamps."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def step(step_id: str, status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    """A step dict shaped like ``StepResult.to_dict()`` (the fields the journal reads)."""
    return {"id": step_id, "agent": "worker", "status": status, "output": f"out {step_id}", **extra}


async def start(journal: Journal, run_id: str, workflow: str | None = "wf") -> None:
    """Start a workflow run with a fixed fingerprint and task."""
    await journal.start_run(
        run_id, kind="workflow", workflow=workflow, fingerprint="fp", task="the task"
    )


def raw(path: Path, query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` on the file, read through a connection of its own."""
    db = sqlite3.connect(path)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


# ------------------------------------------------------------ the store


async def test_round_trip(tmp_path: Path) -> None:
    """start, record, finish, then get_run returns every field as it was written."""
    clock = Clock()
    document = {"workflow": "wf", "run_id": "run-0001", "status": "succeeded", "steps": []}
    async with open_journal(tmp_path / "j.db", clock=clock) as journal:
        await start(journal, "run-0001")
        assert (await journal.get_run("run-0001")).status == "running"  # type: ignore[union-attr]
        clock.advance(seconds=2)
        await journal.record_step("run-0001", step("a", data={"n": 1}, usage={"input_tokens": 3}))
        clock.advance(seconds=3)
        await journal.finish_run("run-0001", document)
        record = await journal.get_run("run-0001")
    assert record is not None
    assert (record.run_id, record.kind, record.workflow) == ("run-0001", "workflow", "wf")
    assert (record.fingerprint, record.task, record.status) == ("fp", "the task", "succeeded")
    assert record.started_at == "2026-01-10T12:00:00.000000+00:00"
    assert record.finished_at == "2026-01-10T12:00:05.000000+00:00"
    assert record.steps == {"a": step("a", data={"n": 1}, usage={"input_tokens": 3})}
    assert record.document == document


async def test_record_step_twice_keeps_the_last_state(tmp_path: Path) -> None:
    """A step journalled as running, then succeeded, reads back as succeeded, once."""
    async with open_journal(tmp_path / "j.db") as journal:
        await start(journal, "run-0001")
        await journal.record_step("run-0001", step("a", "running", output=None))
        await journal.record_step("run-0001", step("b", "running", output=None))
        await journal.record_step("run-0001", step("a", "succeeded"))
        record = await journal.get_run("run-0001")
    assert record is not None
    assert record.steps == {"a": step("a"), "b": step("b", "running", output=None)}
    assert raw(tmp_path / "j.db", "SELECT step_id, status FROM steps ORDER BY step_id") == [
        ("a", "succeeded"),
        ("b", "running"),
    ]


async def test_starting_a_run_again_keeps_its_steps_and_first_start(tmp_path: Path) -> None:
    """A resume restarts the id: running again, new fingerprint, same steps and started_at."""
    clock = Clock()
    async with open_journal(tmp_path / "j.db", clock=clock) as journal:
        await start(journal, "run-0001")
        await journal.record_step("run-0001", step("a"))
        await journal.finish_run("run-0001", {"status": "failed"})
        clock.advance(hours=1)
        await journal.start_run(
            "run-0001", kind="workflow", workflow="wf", fingerprint="fp2", task="the task"
        )
        record = await journal.get_run("run-0001")
    assert record is not None
    assert (record.status, record.fingerprint, record.finished_at) == ("running", "fp2", None)
    assert record.document is None
    assert record.started_at == "2026-01-10T12:00:00.000000+00:00"
    assert record.steps == {"a": step("a")}


async def test_list_runs_filters_and_orders_newest_first(tmp_path: Path) -> None:
    """list_runs: newest start first, by workflow and status, limited, steps optional."""
    clock = Clock()
    async with open_journal(tmp_path / "j.db", clock=clock) as journal:
        for n, (flow, status) in enumerate(
            [("a", "succeeded"), ("b", "failed"), ("a", "failed"), ("a", None)]
        ):
            clock.advance(minutes=1)
            await start(journal, f"run-{n}", workflow=flow)
            await journal.record_step(f"run-{n}", step("s"))
            if status is not None:
                await journal.finish_run(f"run-{n}", {"status": status})
        await journal.start_run("many-1", kind="many", workflow=None, fingerprint=None, task=None)

        def ids(records: list[Any]) -> list[str]:
            return [r.run_id for r in records]

        assert ids(await journal.list_runs()) == ["many-1", "run-3", "run-2", "run-1", "run-0"]
        assert ids(await journal.list_runs(workflow="a")) == ["run-3", "run-2", "run-0"]
        assert ids(await journal.list_runs(status="failed")) == ["run-2", "run-1"]
        assert ids(await journal.list_runs(workflow="a", status="running")) == ["run-3"]
        assert ids(await journal.list_runs(limit=2)) == ["many-1", "run-3"]
        assert await journal.list_runs(limit=0) == []
        assert await journal.list_runs(workflow="nope") == []
        full, _bare = await journal.list_runs(limit=2, workflow="a")
        assert full.steps == {"s": step("s")}
        (light,) = await journal.list_runs(limit=1, workflow="a", with_steps=False)
        assert light.steps == {}
        assert light.run_id == full.run_id
        many = await journal.get_run("many-1")
    assert many is not None
    assert (many.kind, many.workflow) == ("many", None)


async def test_prune_by_finish_or_start_time(tmp_path: Path) -> None:
    """prune removes runs finished (or, unfinished, started) before now - age, with their steps."""
    clock = Clock()
    async with open_journal(tmp_path / "j.db", clock=clock) as journal:
        await start(journal, "old-done")  # started day 0, finished day 0
        await journal.record_step("old-done", step("a"))
        await journal.finish_run("old-done", {"status": "succeeded"})
        await start(journal, "old-crashed")  # started day 0, never finished
        await journal.record_step("old-crashed", step("a", "running"))
        await start(journal, "long-run")  # started day 0, finished day 25
        clock.advance(days=25)
        await journal.finish_run("long-run", {"status": "succeeded"})
        clock.advance(days=10)  # now: day 35
        await start(journal, "new")
        assert await journal.prune(30 * 86400) == 2
        assert [r.run_id for r in await journal.list_runs()] == ["new", "long-run"]
        assert await journal.prune(30 * 86400) == 0
        with pytest.raises(ValueError, match="older_than_s"):
            await journal.prune(-1)
        with pytest.raises(ValueError, match="older_than_s"):
            await journal.prune(float("nan"))
        clock.advance(seconds=1)
        assert await journal.prune(0) == 2
    assert raw(tmp_path / "j.db", "SELECT COUNT(*) FROM steps") == [(0,)]


async def test_get_run_by_unique_prefix(tmp_path: Path) -> None:
    """A full id or a unique prefix of ≥ 6 characters finds a run; an ambiguous one says so."""
    async with open_journal(tmp_path / "j.db") as journal:
        for run_id in ("abcdef01", "abcdef02", "abcdxx99", "ab"):
            await start(journal, run_id)
        assert (await journal.get_run("abcdef01")).run_id == "abcdef01"  # type: ignore[union-attr]
        assert (await journal.get_run("abcdxx")).run_id == "abcdxx99"  # type: ignore[union-attr]
        assert (await journal.get_run("ab")).run_id == "ab"  # type: ignore[union-attr]
        assert await journal.get_run("abcd") is None  # a prefix under 6 characters
        assert await journal.get_run("zzzzzz") is None
        assert await journal.get_run("") is None
        with pytest.raises(ConfigError, match=r"^run_id: 'abcdef' matches 2 runs") as info:
            await journal.get_run("abcdef")
    assert "abcdef01, abcdef02" in str(info.value)
    assert "\n" not in str(info.value)


async def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    """An unknown run kind or a step without an id is a ValueError, and nothing is written."""
    async with open_journal(tmp_path / "j.db") as journal:
        with pytest.raises(ValueError, match="kind"):
            await journal.start_run("r", kind="batch", workflow=None, fingerprint=None, task=None)
        with pytest.raises(ValueError, match="'id' and 'status'"):
            await journal.record_step("r", {"status": "succeeded"})
        assert await journal.list_runs() == []


async def test_journal_is_wal_durable_and_sound(tmp_path: Path) -> None:
    """The file is in WAL mode, commits with synchronous=FULL, and passes integrity_check."""
    path = tmp_path / "j.db"
    async with open_journal(path) as journal:
        await start(journal, "run-0001")
        await journal.record_step("run-0001", step("a"))
        synchronous = await journal._db.run(lambda db: db.execute("PRAGMA synchronous").fetchone())
        assert synchronous == (2,)  # FULL
        assert await journal.integrity_check() == "ok"
    assert raw(path, "PRAGMA journal_mode") == [("wal",)]
    assert raw(path, "PRAGMA integrity_check") == [("ok",)]


def test_journal_path_is_under_cft_home(isolated_state: Path) -> None:
    """journal_path() is $CFT_HOME/runs/journal.db."""
    assert journal_path() == isolated_state / "runs" / "journal.db"


async def test_open_journal_defaults_to_journal_path(isolated_state: Path) -> None:
    """Without a path the journal (and its folder) is created at journal_path()."""
    async with open_journal() as journal:
        await start(journal, "run-0001")
    assert raw(isolated_state / "runs" / "journal.db", "SELECT run_id FROM runs") == [("run-0001",)]


# ------------------------------------------------------------ concurrency


async def test_two_journals_on_one_file_interleave_writes(tmp_path: Path) -> None:
    """Two connections write 50 steps each at once; all 100 are there and the file is sound."""
    path = tmp_path / "j.db"
    async with open_journal(path) as one, open_journal(path) as two:
        await start(one, "run-1")
        await start(two, "run-2")

        async def write(journal: Journal, run_id: str) -> None:
            for n in range(50):
                await journal.record_step(run_id, step(f"s{n}"))
                await journal.record_step("shared", step(f"{run_id}-{n}"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(write, one, "run-1")
            tg.start_soon(write, two, "run-2")
        first, second = await two.get_run("run-1"), await one.get_run("run-2")
        assert first is not None
        assert second is not None
        assert len(first.steps) == len(second.steps) == 50
        assert await one.integrity_check() == "ok"
    assert raw(path, "SELECT COUNT(*) FROM steps WHERE run_id = 'shared'") == [(100,)]


async def test_concurrent_writes_share_commits(tmp_path: Path) -> None:
    """200 steps journalled at once all land, in far fewer than 200 commits (group commit)."""
    async with open_journal(tmp_path / "j.db") as journal:
        await start(journal, "run-1")
        commits = 0
        run = journal._db.run

        async def counting(fn: Callable[[sqlite3.Connection], Any]) -> Any:
            nonlocal commits
            commits += 1
            return await run(fn)

        journal._db.run = counting  # type: ignore[method-assign]
        async with anyio.create_task_group() as tg:
            for n in range(200):
                tg.start_soon(journal.record_step, "run-1", step(f"s{n}"))
        assert 1 <= commits < 50
    # Read through another connection: committed, not only visible to the writer.
    assert raw(tmp_path / "j.db", "SELECT COUNT(*) FROM steps") == [(200,)]


_WRITER = textwrap.dedent(
    """
    import sys, anyio
    from pathlib import Path
    from claude_force_trio._journal import open_journal

    async def main(path, run_id, count):
        async with open_journal(Path(path)) as journal:
            await journal.start_run(run_id, kind="workflow", workflow="wf", fingerprint=None,
                                    task=None)
            for n in range(count):
                await journal.record_step(run_id, {"id": f"s{n}", "status": "succeeded"})
                print(n, flush=True)

    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
    """
)


def writer(path: Path, run_id: str, count: int) -> subprocess.Popen[str]:
    """A process that journals ``count`` steps of ``run_id``, printing each index once durable."""
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), run_id, str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_two_processes_write_one_file(tmp_path: Path) -> None:
    """Two processes journal 50 steps each into one file at once; every step is there."""
    path = tmp_path / "j.db"
    procs = [writer(path, f"run-{n}", 50) for n in range(2)]
    # Both are waited for before anything is asserted: a failed one leaks no process.
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    assert [len(out.split()) for out in outputs] == [50, 50]
    assert raw(path, "SELECT run_id, COUNT(*) FROM steps GROUP BY run_id") == [
        ("run-0", 50),
        ("run-1", 50),
    ]
    assert raw(path, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_step_acknowledged_survives_sigkill(tmp_path: Path) -> None:
    """Every step record_step returned for is in the file after the writer is SIGKILLed."""
    path = tmp_path / "j.db"
    proc = writer(path, "run-0", 100_000)
    assert proc.stdout is not None
    acknowledged = -1
    while acknowledged < 30:
        acknowledged = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    (count,) = raw(path, "SELECT COUNT(*) FROM steps")[0]
    assert count >= acknowledged + 1
    steps = {step_id for (step_id,) in raw(path, "SELECT step_id FROM steps")}
    assert {f"s{n}" for n in range(acknowledged + 1)} <= steps
    assert raw(path, "PRAGMA integrity_check") == [("ok",)]


# ------------------------------------------------------------ damage


def plant_garbage(path: Path, tmp_path: Path) -> None:
    """Bytes that are not a database."""
    path.write_bytes(b"this is not sqlite" * 300)


def plant_fifo(path: Path, tmp_path: Path) -> None:
    """A FIFO, which would hang SQLite's first read."""
    os.mkfifo(path)


def plant_symlink(path: Path, tmp_path: Path) -> None:
    """A symlink to a file outside the state folder."""
    (tmp_path / "outside.txt").write_text("keep me")
    path.symlink_to(tmp_path / "outside.txt")


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and symlinks")
@pytest.mark.parametrize("plant", [plant_garbage, plant_fifo, plant_symlink])
async def test_damaged_file_is_moved_aside_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, plant: Callable[[Path, Path], None]
) -> None:
    """Garbage, a FIFO or a symlink out: moved aside, one warning, an empty journal works."""
    path = tmp_path / "runs" / "journal.db"
    path.parent.mkdir()
    plant(path, tmp_path)
    with caplog.at_level(logging.WARNING, logger="claude_force_trio"):
        async with open_journal(path) as journal:
            assert await journal.list_runs() == []
            await start(journal, "run-0001")
            await journal.record_step("run-0001", step("a"))
            assert (await journal.get_run("run-0001")).steps == {"a": step("a")}  # type: ignore[union-attr]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith(f"journal: {path} was damaged")
    assert ".damaged-" in message
    assert [p.name.split("-")[0] for p in path.parent.glob("journal.db.damaged-*")] == [
        "journal.db.damaged"
    ]
    assert not path.is_symlink()
    assert raw(path, "PRAGMA integrity_check") == [("ok",)]
    if plant is plant_symlink:
        assert (tmp_path / "outside.txt").read_text() == "keep me"


async def test_a_garbled_row_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A step row or document that is not JSON reads as absent (the step reruns), not a crash."""
    path = tmp_path / "j.db"
    async with open_journal(path) as journal:
        await start(journal, "run-0001")
        await journal.record_step("run-0001", step("a"))
        await journal.record_step("run-0001", step("b"))
        await journal.finish_run("run-0001", {"status": "failed"})
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE steps SET data = '{\"id\": \"a\", trunc' WHERE step_id = 'a'")
        db.execute("UPDATE runs SET document = '[1, 2]'")
    db.close()
    with caplog.at_level(logging.WARNING, logger="claude_force_trio.journal"):
        async with open_journal(path) as journal:
            record = await journal.get_run("run-0001")
    assert record is not None
    assert record.steps == {"b": step("b")}
    assert record.document is None
    assert record.status == "failed"
    assert [r.getMessage() for r in caplog.records] == [
        "journal: run run-0001 step a is unreadable; ignoring it",
        "journal: run run-0001 document is unreadable; ignoring it",
    ]


async def test_the_api_key_never_reaches_the_journal(tmp_path: Path) -> None:
    """A failed run whose server error quotes the key: journalled results hold no trace of it."""
    key = "fake-key-journal-secret-0123456789abcdef"
    config = load_config(EXAMPLES)
    path = tmp_path / "j.db"
    async with open_simulator(SimulatorConfig(ttft_ms=0, tokens_per_s=0)) as sim:
        sim.script(
            Fault("500", message=f"bad key {key}", headers={"x-should-retry": "false"}),
            *[Fault("500", message=f"key={key}") for _ in range(12)],
        )
        backend = Backend.url(sim.url, key)
        async with open_engine(config, backend=backend, cache=False) as engine:
            result = await engine.run_workflow("code-quality-check")
    assert not result.ok
    assert any(s.error and "[redacted]" in s.error for s in result.steps)
    async with open_journal(path) as journal:
        await journal.start_run(
            result.run_id,
            kind="workflow",
            workflow="code-quality-check",
            fingerprint=fingerprint(config, "code-quality-check"),
            task=None,
        )
        for result_step in result.steps:
            await journal.record_step(result.run_id, result_step.to_dict())
        await journal.finish_run(result.run_id, result.to_dict())
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("j.db*"))
    assert b"[redacted]" in stored
    pieces = {key[i : i + 8].encode() for i in range(len(key) - 7)}
    assert not [piece for piece in pieces if piece in stored]


# ------------------------------------------------------------ the fingerprint


def examples() -> Config:
    """The example project's config."""
    return load_config(EXAMPLES)


def with_agent(config: Config, name: str, **changes: Any) -> Config:
    """``config`` with agent ``name`` changed."""
    agents = dict(config.agents)
    agents[name] = dataclasses.replace(agents[name], **changes)
    return dataclasses.replace(config, agents=agents)


def with_step(config: Config, workflow: str, index: int, **changes: Any) -> Config:
    """``config`` with step ``index`` of ``workflow`` changed."""
    flow = config.workflows[workflow]
    steps = list(flow.steps)
    steps[index] = dataclasses.replace(steps[index], **changes)
    flows = dict(config.workflows)
    flows[workflow] = dataclasses.replace(flow, steps=tuple(steps))
    return dataclasses.replace(config, workflows=flows)


FLOW = "code-quality-check"


def test_fingerprint_is_stable_across_processes() -> None:
    """Another process (another hash seed) computes the same fingerprint, a SHA-256 hex."""
    script = (
        "import sys; from claude_force_trio import load_config; "
        "from claude_force_trio._journal import fingerprint; "
        f"print(fingerprint(load_config(sys.argv[1]), {FLOW!r}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(EXAMPLES)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout.strip()
    here = fingerprint(examples(), FLOW)
    assert out == here
    assert len(here) == 64
    assert int(here, 16) >= 0
    assert fingerprint(examples(), FLOW) == here


@pytest.mark.parametrize(
    "change",
    [
        lambda c: with_agent(c, "linter", definition=c.agents["linter"].definition + "\nBe terse."),
        lambda c: with_agent(c, "code-reviewer", contract="New contract."),
        lambda c: with_agent(c, "linter", model="opus"),
        lambda c: with_agent(c, "linter", max_tokens=123),
        lambda c: with_agent(c, "linter", temperature=0.3),
        lambda c: with_agent(c, "linter", tools=("read_file",)),
        lambda c: with_step(c, FLOW, 0, task="Lint harder."),
        lambda c: with_step(c, FLOW, 3, dependencies=("lint", "types")),
        lambda c: with_step(c, FLOW, 2, output_schema={"type": "object"}),
        lambda c: dataclasses.replace(
            c, workflows={**c.workflows, FLOW: dataclasses.replace(c.workflows[FLOW], task="x")}
        ),
        lambda c: dataclasses.replace(c, defaults=dataclasses.replace(c.defaults, model="haiku")),
    ],
    ids=[
        "definition",
        "contract",
        "model",
        "max_tokens",
        "temperature",
        "tools",
        "step-task",
        "dependency",
        "step-schema",
        "workflow-task",
        "default-model",
    ],
)
def test_fingerprint_changes_with_what_the_result_depends_on(
    change: Callable[[Config], Config],
) -> None:
    """A changed definition, contract, model, task, dependency or schema changes it."""
    config = examples()
    assert fingerprint(change(config), FLOW) != fingerprint(config, FLOW)


def test_fingerprint_ignores_timeouts_cache_and_unused_agents() -> None:
    """Timeouts, cache, retry and concurrency settings, paths and other agents leave it alone."""
    config = examples()
    flow = config.workflows[FLOW]
    changed = dataclasses.replace(
        with_agent(
            with_step(config, FLOW, 0, timeout_s=5.0), "linter", cache=False, file=Path("/x.md")
        ),
        workflows={
            **config.workflows,
            FLOW: dataclasses.replace(
                with_step(config, FLOW, 0, timeout_s=5.0).workflows[FLOW], timeout_s=1.0
            ),
        },
        cache=dataclasses.replace(config.cache, enabled=False, ttl_hours=1.0),
        performance=dataclasses.replace(config.performance, step_timeout_s=1.0),
        retry=dataclasses.replace(config.retry, max_attempts=1),
        root=Path("/elsewhere"),
    )
    changed = with_agent(changed, "python-expert", definition="Something else entirely.")
    assert "python-expert" not in {s.agent for s in flow.steps}
    assert changed.workflows[FLOW].steps[0].timeout_s == 5.0
    assert fingerprint(changed, FLOW) == fingerprint(config, FLOW)


def test_fingerprint_of_an_unknown_workflow_names_it() -> None:
    """An unknown workflow is an UnknownWorkflowError with a suggestion, not a KeyError."""
    with pytest.raises(UnknownWorkflowError, match="code-quality-chek"):
        fingerprint(examples(), "code-quality-chek")


def test_fingerprints_differ_between_workflows() -> None:
    """Two workflows of one config have different fingerprints."""
    config = examples()
    assert fingerprint(config, FLOW) != fingerprint(config, "release-readiness")
    assert json.dumps(fingerprint(config, FLOW))  # a plain string
