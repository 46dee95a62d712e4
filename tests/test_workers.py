"""Workers on Redis Streams: the Redis journal's contract, submit → worker → runs show, takeovers.

Against a real redis-server (``REDIS_URL``; skipped without one) and the
threaded simulator. Journal tests use a key prefix of their own; worker tests a
named queue of their own (``--queue``), and delete the runs they made. The issue's
bar (three worker processes, one SIGKILLed mid-step, no journalled step sent twice)
is the slow test at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
from typer.testing import CliRunner

from claude_force_trio._config import load_config
from claude_force_trio._engine import open_engine
from claude_force_trio._errors import ConfigError
from claude_force_trio._journal._redis_journal import RedisJournal, open_redis_journal
from claude_force_trio._workers import (
    Worker,
    WorkerEvent,
    WorkerOptions,
    WorkStream,
    stream_key,
    submit_run,
    wait_for_run,
)
from claude_force_trio.cli import app
from claude_force_trio.simulator import RequestRecord, SimulatorConfig
from claude_force_trio.simulator._thread import SimulatorHandle, run_simulator_in_thread

from .engine_support import TASK_RE
from .test_journal_store import Clock, step  # the SQLite journal's own test helpers

CFT = [sys.executable, "-m", "claude_force_trio"]
STEPS = ("a", "b", "c")
JOB_RE = re.compile(r"\[\[(\d+)\]\]")


def redis_client(url: str) -> Any:
    """A plain redis-py client, for looking at and clearing keys."""
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


@pytest.fixture
async def journal(redis_url: str) -> AsyncIterator[tuple[RedisJournal, Clock]]:
    """A Redis journal under a prefix of its own (deleted afterwards), on a pinned clock."""
    clock = Clock()
    prefix = f"cft:test:{uuid.uuid4().hex[:8]}:"
    async with open_redis_journal(redis_url, prefix=prefix, clock=clock) as opened:
        yield opened, clock
    client = redis_client(redis_url)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


async def start(journal: RedisJournal, run_id: str, workflow: str | None = "wf") -> None:
    """Start a run with the fields the tests check."""
    await journal.start_run(run_id, kind="workflow", workflow=workflow, fingerprint="fp", task="t")


# ------------------------------------------------------------ the Redis journal


async def test_round_trip(journal: tuple[RedisJournal, Clock]) -> None:
    """start, record, finish, then get_run returns every field as it was written."""
    store, clock = journal
    document = {"workflow": "wf", "run_id": "run-0001", "status": "succeeded", "steps": []}
    await start(store, "run-0001")
    assert (await store.get_run("run-0001")).status == "running"  # type: ignore[union-attr]
    clock.advance(seconds=2)
    await store.record_step("run-0001", step("a", data={"n": 1}))
    clock.advance(seconds=3)
    await store.finish_run("run-0001", document)
    record = await store.get_run("run-0001")
    assert record is not None
    assert (record.run_id, record.kind, record.workflow) == ("run-0001", "workflow", "wf")
    assert (record.fingerprint, record.task, record.status) == ("fp", "t", "succeeded")
    assert record.started_at == "2026-01-10T12:00:00.000000+00:00"
    assert record.finished_at == "2026-01-10T12:00:05.000000+00:00"
    assert record.steps == {"a": step("a", data={"n": 1})}
    assert record.document == document
    bare = await store.get_run("run-0001", with_document=False)
    assert bare is not None
    assert bare.document is None
    assert bare.steps == record.steps


async def test_record_step_twice_keeps_the_last_state_in_first_order(
    journal: tuple[RedisJournal, Clock],
) -> None:
    """A step journalled as running, then succeeded, reads back once, in first-journalled order."""
    store, _ = journal
    await start(store, "run-0001")
    await store.record_step("run-0001", step("b", "running", output=None))
    await store.record_step("run-0001", step("a", "running", output=None))
    await store.record_step("run-0001", step("b"))
    record = await store.get_run("run-0001")
    assert record is not None
    assert list(record.steps) == ["b", "a"]
    assert record.steps == {"b": step("b"), "a": step("a", "running", output=None)}


async def test_starting_a_run_again_keeps_its_steps_and_first_start(
    journal: tuple[RedisJournal, Clock],
) -> None:
    """A resume restarts the id: running again, new fingerprint, same steps and started_at."""
    store, clock = journal
    await start(store, "run-0001")
    await store.record_step("run-0001", step("a"))
    await store.finish_run("run-0001", {"status": "failed"})
    clock.advance(hours=1)
    await store.start_run("run-0001", kind="workflow", workflow="wf", fingerprint="fp2", task=None)
    record = await store.get_run("run-0001")
    assert record is not None
    assert (record.status, record.fingerprint, record.finished_at) == ("running", "fp2", None)
    assert (record.document, record.task) == (None, None)
    assert record.started_at == "2026-01-10T12:00:00.000000+00:00"
    assert record.steps == {"a": step("a")}


async def test_list_runs_filters_and_orders_newest_first(
    journal: tuple[RedisJournal, Clock],
) -> None:
    """list_runs: newest start first, by workflow and status, limited, steps optional."""
    store, clock = journal
    for n, (flow, status) in enumerate(
        [("wf", "succeeded"), ("other", "failed"), ("wf", "failed"), ("wf", None)]
    ):
        run_id = f"run-{n}"
        await start(store, run_id, flow)
        await store.record_step(run_id, step("a"))
        if status is not None:
            await store.finish_run(run_id, {"status": status})
        clock.advance(seconds=1)

    def ids(records: list[Any]) -> list[str]:
        return [record.run_id for record in records]

    assert ids(await store.list_runs()) == ["run-3", "run-2", "run-1", "run-0"]
    assert ids(await store.list_runs(workflow="wf")) == ["run-3", "run-2", "run-0"]
    assert ids(await store.list_runs(status="failed")) == ["run-2", "run-1"]
    assert ids(await store.list_runs(limit=2)) == ["run-3", "run-2"]
    assert await store.list_runs(limit=0) == []
    assert all(not r.steps for r in await store.list_runs(with_steps=False))
    assert all(r.steps for r in await store.list_runs())


async def test_prune_by_finish_or_start_time(journal: tuple[RedisJournal, Clock]) -> None:
    """prune removes runs by finish time (start time if unfinished), with their steps."""
    store, clock = journal
    await start(store, "old-finished")
    await store.finish_run("old-finished", {"status": "succeeded"})
    await start(store, "old-unfinished")
    await store.record_step("old-unfinished", step("a"))
    clock.advance(days=2)
    await start(store, "new")
    clock.advance(hours=1)
    assert await store.prune(86_400) == 2
    assert [r.run_id for r in await store.list_runs()] == ["new"]
    assert await store.get_run("old-unfinished") is None
    with pytest.raises(ValueError, match="older_than_s"):
        await store.prune(float("nan"))
    assert await store.prune(0) == 1


async def test_get_run_by_unique_prefix(journal: tuple[RedisJournal, Clock]) -> None:
    """A full id or a unique prefix of ≥ 6 characters finds a run; an ambiguous one says so."""
    store, _ = journal
    for run_id in ("abcdef01", "abcdef02", "abcdxx99", "ab"):
        await start(store, run_id)
    assert (await store.get_run("abcdef01")).run_id == "abcdef01"  # type: ignore[union-attr]
    assert (await store.get_run("abcdxx")).run_id == "abcdxx99"  # type: ignore[union-attr]
    assert (await store.get_run("ab")).run_id == "ab"  # type: ignore[union-attr]
    assert await store.get_run("abcd") is None
    assert await store.get_run("zzzzzz") is None
    assert await store.get_run("") is None
    with pytest.raises(ConfigError, match=r"^run_id: 'abcdef' matches 2 runs"):
        await store.get_run("abcdef")


async def test_bad_arguments_are_refused_and_decisions_kept(
    journal: tuple[RedisJournal, Clock],
) -> None:
    """An unknown kind or a step without an id is a ValueError; a later decision wins."""
    store, _ = journal
    with pytest.raises(ValueError, match="kind"):
        await store.start_run("r", kind="batch", workflow=None, fingerprint=None, task=None)
    with pytest.raises(ValueError, match="'id' and 'status'"):
        await store.record_step("r", {"status": "succeeded"})
    assert await store.list_runs() == []
    assert await store.decision("r", "gate") is None
    await store.decide("r", "gate", approved=False, note="no")
    decided = await store.decide("r", "gate", approved=True)
    assert await store.decision("r", "gate") == decided
    assert await store.integrity_check() == "ok"


async def test_an_unreachable_server_is_one_config_error() -> None:
    """No server at the URL: a ConfigError naming the URL without its password."""
    with pytest.raises(ConfigError, match=r"^--redis: no Redis server answers at redis://127"):
        async with open_redis_journal("redis://:hunter2@127.0.0.1:1/0", option="--redis"):
            pass  # pragma: no cover - never reached


# ------------------------------------------------------------ the stream


async def test_heartbeat_keeps_an_entry_and_a_takeover_ends_it(redis_url: str) -> None:
    """touch keeps an entry from XAUTOCLAIM; once taken over, its old holder's touch loses it."""
    client = redis_client(redis_url)
    stream = WorkStream(client, stream=f"cft:test:work:{uuid.uuid4().hex[:8]}")
    try:
        await stream.join()
        await stream.join()  # joining again is fine
        await stream.add("run-1", "wf", "t")
        (item,) = await stream.read("a", 5, block_s=0.1)
        assert (item.run_id, item.workflow, item.task) == ("run-1", "wf", "t")
        await trio.sleep(0.05)
        assert await stream.touch("a", [item.entry_id]) == {item.entry_id}
        assert await stream.reclaim("b", 5, min_idle_s=0.04) == []  # just touched
        await trio.sleep(0.05)
        (taken,) = await stream.reclaim("b", 5, min_idle_s=0.04)
        assert taken == item
        assert await stream.touch("a", [item.entry_id]) == set()
        assert await stream.pending("b") == [item.entry_id]
        await stream.ack(item.entry_id)
        assert await stream.pending() == []
        assert client.xlen(stream.stream) == 0
    finally:
        client.delete(stream.stream)
        client.close()


# ------------------------------------------------------------ submit → worker → runs show


def write_project(root: Path, *, wait_marker: bool = False) -> Path:
    """A claude.json with one agent and the three-step chain ``chain`` (a → b → c)."""
    (root / "agents").mkdir(parents=True)
    (root / "agents" / "worker.md").write_text("# Worker\n\nYou do one step of a larger job.\n")
    steps = [
        {
            "id": sid,
            "agent": "worker",
            "task": f"step <<{sid}>>",
            "dependencies": [STEPS[n - 1]] if n else [],
        }
        for n, sid in enumerate(STEPS)
    ]
    config = {
        "version": "1.0.0",
        "name": "workers test",
        "agents": {"worker": {"file": "agents/worker.md", "max_tokens": 256}},
        "workflows": {"chain": {"steps": steps}},
    }
    path = root / "claude.json"
    path.write_text(json.dumps(config))
    return path


def attribute(record: RequestRecord) -> tuple[str, str] | None:
    """The (job, step) a ``/v1/messages`` request is for: the run's task and the step's own."""
    if record.path != "/v1/messages" or record.body is None:
        return None
    text = record.body["messages"][-1]["content"]
    if not isinstance(text, str):
        text = " ".join(part.get("text", "") for part in text if isinstance(part, dict))
    job = JOB_RE.search(text)
    own = text.split("# Your task", 1)[1] if "# Your task" in text else text
    found = TASK_RE.findall(own.split("##", 1)[0])
    return (job[1], str(found[0])) if job and found else None


@dataclass(frozen=True, slots=True)
class Queue:
    """A named work queue of one test; the runs in ``runs`` are deleted afterwards."""

    url: str
    name: str
    runs: set[str] = field(default_factory=set)

    @property
    def stream(self) -> str:
        """The queue's stream key."""
        return stream_key(self.name)


@pytest.fixture
def queue(redis_url: str) -> Iterator[Queue]:
    """A work queue of this test's own; its stream and the runs it noted go afterwards.

    Why not the default queue: another checkout's run of this file may share the server.
    """
    made = Queue(redis_url, f"test-{uuid.uuid4().hex[:8]}")
    yield made
    client = redis_client(redis_url)
    client.delete(made.stream)
    for run_id in made.runs:
        for kind in ("run", "steps", "order", "approvals"):
            client.delete(f"cft:runs:{kind}:{run_id}")
        client.zrem("cft:runs:by-start", run_id)
        client.zrem("cft:runs:ids", run_id)
    client.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    """One simulator on a thread, 150 ms per request."""
    with run_simulator_in_thread(SimulatorConfig(latency_fn=lambda body: 0.15)) as handle:
        yield handle


async def serve_until(
    config_path: Path, queue: Queue, sim: SimulatorHandle, ended: int, **options: Any
) -> list[WorkerEvent]:
    """Run one in-process worker until ``ended`` entries were acknowledged; its events."""
    from claude_force_trio import Backend

    events: list[WorkerEvent] = []
    stop = anyio.Event()

    def note(event: WorkerEvent) -> None:
        events.append(event)
        if sum(e.kind in ("ended", "refused") for e in events) >= ended:
            stop.set()

    config = load_config(config_path)
    with trio.fail_after(20):
        async with (
            open_redis_journal(queue.url) as store,
            open_engine(
                config, backend=Backend.url(sim.url), cache=False, metrics=False, journal=store
            ) as engine,
        ):
            worker = Worker(
                engine,
                store,
                WorkStream(store.client, stream=queue.stream),
                WorkerOptions(consumer="solo", block_s=0.1, **options),
                on_event=note,
            )
            await worker.serve(stop)
    return events


def test_submit_then_one_worker_then_runs_show(
    queue: Queue, sim: SimulatorHandle, tmp_path: Path
) -> None:
    """cft submit prints a queued run's id; a worker runs it; runs show --redis prints it."""
    url = queue.url
    config = write_project(tmp_path / "project")
    runner = CliRunner()
    submitted = runner.invoke(
        app,
        [
            "--config",
            str(config),
            "submit",
            "chain",
            "-t",
            "job [[1]]",
            "--redis",
            url,
            "--queue",
            queue.name,
        ],
    )
    assert submitted.exit_code == 0, submitted.output
    run_id = submitted.stdout.strip()
    queue.runs.add(run_id)
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)
    queued = runner.invoke(app, ["runs", "show", run_id[:8], "--redis", url, "--json"])
    assert queued.exit_code == 0, queued.output
    assert json.loads(queued.stdout)["status"] == "queued"
    sim.clear_log()
    events = trio.run(serve_until, config, queue, sim, 1)
    assert [(e.kind, e.run_id, e.status) for e in events] == [
        ("started", run_id, None),
        ("ended", run_id, "succeeded"),
    ]
    shown = runner.invoke(app, ["runs", "show", run_id, "--redis", url, "--json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert (document["run_id"], document["workflow"], document["status"]) == (
        run_id,
        "chain",
        "succeeded",
    )
    assert [s["id"] for s in document["steps"]] == list(STEPS)
    assert Counter(filter(None, map(attribute, sim.requests))) == {("1", s): 1 for s in STEPS}
    table = runner.invoke(app, ["runs", "show", run_id, "--redis", url])
    assert table.exit_code == 0, table.output
    assert f"run {run_id} · chain · succeeded" in table.stdout
    client = redis_client(url)
    assert client.xlen(queue.stream) == 0  # acknowledged and deleted
    client.close()


def test_a_workflow_the_worker_does_not_know_is_journalled_failed(
    queue: Queue, sim: SimulatorHandle, tmp_path: Path
) -> None:
    """An entry naming an unknown workflow: the run is failed with the reason, and acknowledged."""
    url = queue.url
    config = write_project(tmp_path / "project")

    async def submit_and_serve() -> tuple[list[WorkerEvent], Any]:
        async with open_redis_journal(url) as store:
            stream = WorkStream(store.client, stream=queue.stream)
            run_id = await submit_run(store, stream, "nope", None)
            queue.runs.add(run_id)
            events = await serve_until(config, queue, sim, 1)
            return events, await wait_for_run(store, run_id, timeout_s=1)

    events, record = trio.run(submit_and_serve)
    assert [e.kind for e in events] == ["refused"]
    assert record is not None
    assert record.status == "failed"
    assert record.document["error"].startswith("unknown workflow 'nope'")
    assert "chain" in record.document["error"]
    client = redis_client(url)
    assert client.xpending(queue.stream, "cft-workers")["pending"] == 0
    client.close()


def test_submit_wait_follows_the_run_to_its_end(
    queue: Queue, sim: SimulatorHandle, tmp_path: Path
) -> None:
    """cft submit --wait --json prints the run's document once a worker process finished it."""
    url = queue.url
    config = write_project(tmp_path / "project")
    env = worker_env(tmp_path / "home", config, sim) | {"CFT_QUEUE": queue.name}
    worker = subprocess.Popen(
        [*CFT, "worker", "--redis", url, "--no-cache", "--name", "w-wait", "--grace", "5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        waited = subprocess.run(
            [*CFT, "submit", "chain", "-t", "job [[2]]", "--wait", "--json", "--redis", url],
            env=env,
            capture_output=True,
            timeout=30,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=15)
    assert waited.returncode == 0, waited.stderr
    document = json.loads(waited.stdout)
    queue.runs.add(document["run_id"])
    assert document["status"] == "succeeded"
    assert [s["status"] for s in document["steps"]] == ["succeeded"] * 3
    assert worker.returncode == 0, err
    assert b" chain ended succeeded" in out


# ------------------------------------------------------------ the bar


def worker_env(home: Path, config: Path, sim: SimulatorHandle) -> dict[str, str]:
    """A clean environment pointing the CLI at the simulator, with a home of its own."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CFT_"))}
    return clean | {
        "CFT_HOME": str(home),
        "CFT_CONFIG": str(config),
        "ANTHROPIC_BASE_URL": sim.url,
        "ANTHROPIC_API_KEY": "fake-key-workers-test",
    }


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_three_workers_one_killed_every_step_paid_once(
    queue: Queue, sim: SimulatorHandle, tmp_path: Path
) -> None:
    """30 runs, 3 workers, one SIGKILLed mid-step: all succeed, no journalled step is sent again."""
    url = queue.url
    config = write_project(tmp_path / "project")
    env = worker_env(tmp_path / "home", config, sim) | {"CFT_QUEUE": queue.name}
    sim.clear_log()

    def start_worker(name: str, concurrency: int) -> subprocess.Popen[bytes]:
        command = [*CFT, "worker", "--redis", url, "--no-cache", "--name", name]
        command += ["--concurrency", str(concurrency), "--visibility-timeout", "1.5"]
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    # w0 runs one run at a time, so a kill just after one of its steps is journalled
    # lands while its next request waits for the simulator (150 ms): mid-run, mid-step.
    workers = {
        "w0": start_worker("w0", 1),
        "w1": start_worker("w1", 4),
        "w2": start_worker("w2", 4),
    }

    async def submit_all() -> list[str]:
        async with open_redis_journal(url) as store:
            stream = WorkStream(store.client, stream=queue.stream)
            await stream.join()  # so the group can be watched before a worker is up
            return [await submit_run(store, stream, "chain", f"job [[{n}]]") for n in range(30)]

    run_ids = trio.run(submit_all)
    queue.runs.update(run_ids)
    client = redis_client(url)
    killed_run = None
    deadline = time.monotonic() + 30
    try:
        while killed_run is None and time.monotonic() < deadline:
            for entry in client.xpending_range(queue.stream, "cft-workers", "-", "+", 10, "w0"):
                (found,) = client.xrange(queue.stream, entry["message_id"], entry["message_id"])
                run_id = found[1]["run_id"]
                if client.llen(f"cft:runs:order:{run_id}") == 1:
                    workers["w0"].kill()
                    killed_run = run_id
                    break
            time.sleep(0.005)
        assert killed_run is not None, "w0 never had a run mid-way"
        workers["w0"].wait(timeout=5)

        async def wait_all() -> list[Any]:
            async with open_redis_journal(url) as store:
                return [await wait_for_run(store, r, timeout_s=60, poll_s=0.1) for r in run_ids]

        records = trio.run(wait_all)
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        errors = {name: proc.communicate(timeout=20)[1] for name, proc in workers.items()}
        client.close()
    assert all(r is not None and r.status == "succeeded" for r in records), errors
    # Every step is answered once, but for the one request w0 had in flight when it was
    # killed: the simulator answered it (a real API would bill it) to a dead process, so
    # that step was never journalled and its new owner sent it again. No journalled step
    # was ever sent twice.
    killed_job = str(run_ids.index(killed_run))
    sent = Counter(found for r in sim.requests if (found := attribute(r)) is not None)
    twice = {key: count for key, count in sent.items() if count != 1}
    assert set(sent) == {(str(n), s) for n in range(30) for s in STEPS}
    assert twice in ({}, {(killed_job, "b"): 2}), twice
    killed = next(r for r in records if r is not None and r.run_id == killed_run)
    assert killed.document is not None
    assert killed.document["steps"][0]["resumed"] is True  # taken over, step a replayed
    assert [workers["w1"].returncode, workers["w2"].returncode] == [0, 0], errors
