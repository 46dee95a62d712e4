"""The run journal from the engine's side: each step journalled before it counts, and resume.

Real HTTP to the simulator (loopback) or ``httpx.MockTransport``; requests are
counted per step by the ``<<id>>`` marker of the step's own task. Tests that
assert virtual times use an in-memory journal: the real one writes from a
worker thread, and ``MockClock``'s autojump would move the clock while it does.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import anyio
import httpx
import pytest
import trio
import trio.testing

from claude_force_trio import Backend, ConfigError, open_engine
from claude_force_trio._config import Config
from claude_force_trio._journal import Journal, RunRecord, fingerprint, open_journal
from claude_force_trio._journalling import JournalWriteError
from claude_force_trio._results import StepResult
from claude_force_trio.simulator import Fault, RequestRecord, SimulatorConfig, open_simulator

from .engine_support import TASK_RE, FakeAPI, make_config, message, step

KEY = "fake-key-test-JOURNAL-SECRET-0123456789"
INSTANT = SimulatorConfig(ttft_ms=0, tokens_per_s=0)
#: A failure the engine does not retry: the step fails on its first request.
FINAL_500 = Fault("500", headers={"x-should-retry": "false"})


def diamond(**kw: Any) -> Config:
    """s1 → (s2, s3) → s4: four steps, two of them independent."""
    steps = [step("s1"), step("s2", "s1"), step("s3", "s1"), step("s4", "s2", "s3")]
    return make_config(steps, **kw)


def own_step(body: Mapping[str, Any]) -> str:
    """The step a request is for: the marker in its own task (after ``# Your task``)."""
    text = body["messages"][-1]["content"]
    own = text.split("# Your task", 1)[1] if "# Your task" in text else text
    return str(TASK_RE.findall(own.split("##", 1)[0])[0])


def per_step(records: list[RequestRecord]) -> list[str]:
    """The step of each ``/v1/messages`` request, in arrival order."""
    return [own_step(r.body) for r in records if r.path == "/v1/messages" and r.body is not None]


async def test_resume_sends_only_the_failed_step_and_its_dependents(tmp_path: Path) -> None:
    """s3 fails; the resume sends s3 and s4 only, keeps the run id, and marks s1, s2 resumed."""
    config, db = diamond(), tmp_path / "journal.db"
    async with open_simulator(INSTANT) as sim:
        backend = Backend.url(sim.url, KEY)
        sim.script(None, None, FINAL_500)  # sequential: s1, s2, then s3 fails
        async with open_engine(config, backend=backend, journal=db) as engine:
            first = await engine.run_workflow("wf", sequential=True, keep_going=True)
        assert per_step(sim.requests) == ["s1", "s2", "s3"]
        assert [s.status for s in first.steps] == ["succeeded", "succeeded", "failed", "skipped"]
        async with open_engine(config, backend=backend, journal=db) as engine:
            second = await engine.resume_workflow(first.run_id[:8])
        assert per_step(sim.requests) == ["s1", "s2", "s3", "s3", "s4"]
        bodies = [r.body for r in sim.requests if r.body is not None]
    assert second.ok
    assert second.run_id == first.run_id
    assert [s.resumed for s in second.steps] == [True, True, False, False]
    assert second.step("s1").output == first.step("s1").output
    assert second.step("s1").attempts == 1  # as journalled: the session that ran it
    s4_text = bodies[-1]["messages"][-1]["content"]
    assert s4_text.count(first.step("s2").output or "-") == 1
    assert s4_text.count(second.step("s3").output or "-") == 1
    document = second.to_dict()
    assert [s["resumed"] for s in document["steps"]] == [True, True, False, False]
    async with open_journal(db) as journal:
        record = await journal.get_run(first.run_id)
    assert record is not None
    assert record.status == "succeeded"
    assert record.document == json.loads(json.dumps(document))
    assert {sid: s["status"] for sid, s in record.steps.items()} == dict.fromkeys(
        ("s1", "s2", "s3", "s4"), "succeeded"
    )
    assert KEY.encode() not in db.read_bytes()


async def test_no_cache_resume_of_a_finished_run_sends_nothing(tmp_path: Path) -> None:
    """With the response cache off, a succeeded run resumes to the same outputs with zero calls."""
    config, db = diamond(cache=True), tmp_path / "journal.db"
    async with open_simulator(INSTANT) as sim:
        backend = Backend.url(sim.url, KEY)
        async with open_engine(config, backend=backend, journal=db, cache=False) as engine:
            first = await engine.run_workflow("wf")
            assert len(per_step(sim.requests)) == 4
            second = await engine.resume_workflow(first.run_id)
        assert len(per_step(sim.requests)) == 4
    assert second.ok
    assert second.outputs() == first.outputs()
    assert all(s.resumed and not s.cached for s in second.steps)
    assert set(second.execution_order) == {"s1", "s2", "s3", "s4"}


async def test_changed_config_is_refused_unless_forced(tmp_path: Path) -> None:
    """An agent whose definition changed refuses the resume, naming the run; --force replays."""
    config, db = diamond(), tmp_path / "journal.db"
    async with open_simulator(INSTANT) as sim:
        backend = Backend.url(sim.url, KEY)
        async with open_engine(config, backend=backend, journal=db) as engine:
            first = await engine.run_workflow("wf")
        worker = dataclasses.replace(config.agents["worker"], definition="# Worker\n\nChanged.")
        changed = dataclasses.replace(config, agents={**config.agents, "worker": worker})
        assert fingerprint(changed, "wf") != fingerprint(config, "wf")
        async with open_engine(changed, backend=backend, journal=db) as engine:
            with pytest.raises(ConfigError) as refused:
                await engine.resume_workflow(first.run_id)
            forced = await engine.resume_workflow(first.run_id, force=True)
        assert len(per_step(sim.requests)) == 4
    assert str(refused.value) == (
        f"run {first.run_id}: config or agent files changed since; --force to resume anyway"
    )
    assert forced.ok
    assert all(s.resumed for s in forced.steps)


class NumberedAPI:
    """A Messages API whose every answer is numbered, so a re-sent step answers differently."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.calls: list[str] = []
        self.bodies: dict[str, dict[str, Any]] = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        step_id = own_step(body)
        self.calls.append(step_id)
        self.bodies[step_id] = body
        if step_id == self.fail:
            error = {"type": "invalid_request_error", "message": "scripted 400"}
            return httpx.Response(400, json={"type": "error", "error": error})
        return httpx.Response(200, json=message(f"answer {len(self.calls)} of <<{step_id}>>"))


async def test_dependents_receive_the_journalled_output_not_a_new_one(tmp_path: Path) -> None:
    """s4's request carries s2's answer from the first session: no step was asked twice."""
    config, db = diamond(on_failure="continue"), tmp_path / "journal.db"
    api = NumberedAPI(fail="s3")
    async with open_engine(
        config, transport=httpx.MockTransport(api.handler), journal=db
    ) as engine:
        first = await engine.run_workflow("wf")
        api.fail = None
        second = await engine.resume_workflow(first.run_id)
    assert sorted(api.calls[:3]) == ["s1", "s2", "s3"]
    assert api.calls[3:] == ["s3", "s4"]
    s2_answer = first.step("s2").output
    assert s2_answer is not None
    assert s2_answer.startswith("answer ")
    s4_text = api.bodies["s4"]["messages"][-1]["content"]
    assert s4_text.count(s2_answer) == 1
    assert s4_text.count(second.step("s3").output or "-") == 1
    assert "answer 4 of <<s3>>" in s4_text
    assert api.bodies["s3"]["messages"][-1]["content"].count(first.step("s1").output or "-") == 1


async def test_structured_data_is_replayed_to_dependents(tmp_path: Path) -> None:
    """A replayed step hands on its journalled data (as JSON), like a step that just ran."""
    result = StepResult(id="s1", agent="worker", status="succeeded", output="x", data={"n": [1]})
    rebuilt = StepResult.from_dict(json.loads(json.dumps(result.to_dict())), resumed=True)
    assert rebuilt == dataclasses.replace(result, resumed=True)
    with pytest.raises(ValueError, match="not a step result"):
        StepResult.from_dict({"status": "succeeded"})


async def test_resume_refuses_unknown_runs_and_engines_without_a_journal(tmp_path: Path) -> None:
    """An unknown id names itself; an engine without a journal says what it needs."""
    config = diamond()
    transport = httpx.MockTransport(NumberedAPI().handler)
    async with open_engine(config, transport=transport, journal=tmp_path / "j.db") as engine:
        with pytest.raises(ConfigError, match=r"^run abcdef123: not in the run journal"):
            await engine.resume_workflow("abcdef123")
    async with open_engine(config, transport=transport) as engine:
        assert engine.journal is None
        with pytest.raises(ConfigError, match="needs the run journal"):
            await engine.resume_workflow("abcdef123")


async def test_run_many_is_journalled_job_by_job(tmp_path: Path) -> None:
    """Each run-many job is journalled under its index (jobs share agents), then the document."""
    db = tmp_path / "journal.db"
    transport = httpx.MockTransport(NumberedAPI().handler)
    async with open_engine(diamond(), transport=transport, journal=db) as engine:
        results = await engine.run_many([("worker", "do <<a>>"), ("worker", "do <<b>>")])
        assert engine.journal is not None
        [record] = await engine.journal.list_runs()
    assert record.kind == "many"
    assert record.status == "succeeded"
    assert record.fingerprint is None
    assert {sid: s["output"] for sid, s in record.steps.items()} == {
        "jobs[0]": results[0].output,
        "jobs[1]": results[1].output,
    }
    assert record.document is not None
    assert [r["output"] for r in record.document["results"]] == [r.output for r in results]


# -- the ordering contract, in virtual time, with an in-memory journal -----------------


class MemoryJournal:
    """The journal's interface in memory: each write takes ``delay_s`` and may be made to fail."""

    def __init__(self, delay_s: float = 0.0, fail_on: tuple[str, ...] = ()) -> None:
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.writes: list[tuple[str, float]] = []
        self.steps: dict[str, dict[str, Mapping[str, Any]]] = {}
        self.documents: dict[str, Mapping[str, Any]] = {}

    async def start_run(self, run_id: str, **fields: object) -> None:
        self.steps.setdefault(run_id, {})

    async def record_step(self, run_id: str, step: Mapping[str, Any]) -> None:
        await anyio.sleep(self.delay_s)
        if step["id"] in self.fail_on:
            raise sqlite3.OperationalError("disk I/O error")
        self.writes.append((step["id"], trio.current_time()))
        self.steps[run_id][step["id"]] = step

    async def finish_run(self, run_id: str, document: Mapping[str, Any]) -> None:
        self.documents[run_id] = document

    async def get_run(self, run_id: str) -> RunRecord | None:
        return None


async def test_a_step_counts_as_done_only_once_journalled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With 0.5 s journal writes, s2 starts at 1.5 s, not 1.0 s; every write precedes the end."""
    api, journal = FakeAPI(), MemoryJournal(delay_s=0.5)
    config = make_config([step("s1"), step("s2", "s1")])
    async with open_engine(config, transport=api.transport) as engine:
        engine.journal = cast(Journal, journal)
        result = await engine.run_workflow("wf")
    assert result.ok
    assert api.starts == {"s1": 0.0, "s2": 1.5}
    assert journal.writes == [("s1", 1.5), ("s2", 3.0)]
    assert trio.current_time() == 3.0
    assert journal.documents[result.run_id]["status"] == "succeeded"


async def test_a_failed_journal_write_stops_the_run_with_one_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A write that fails stops the run (s2 never starts) and raises one JournalWriteError."""
    api, journal = FakeAPI(), MemoryJournal(fail_on=("s1", "jobs[0]"))
    config = make_config([step("s1"), step("s2", "s1"), step("x")])
    async with open_engine(config, transport=api.transport) as engine:
        engine.journal = cast(Journal, journal)
        with pytest.raises(JournalWriteError) as caught:
            await engine.run_workflow("wf")
        with pytest.raises(JournalWriteError):
            await engine.run_many([("worker", "do <<s1>>"), ("worker", "do <<y>>")])
    assert "s2" not in api.calls
    assert str(caught.value).startswith("run journal: could not record step 's1' of run ")
    assert "(disk I/O error); the run was stopped" in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert not journal.documents
