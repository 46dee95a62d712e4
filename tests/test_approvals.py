"""Approval gates: a step with ``"approval": true`` pauses its run until someone decides.

Engine tests talk to ``httpx.MockTransport`` (``FakeAPI``, no latency), which
counts requests per step by the ``<<id>>`` marker of the step's own task; the
``anyio``-marked ones run on trio and asyncio. Time-sensitive ones use trio's
MockClock with no journal (the real one writes from a worker thread). CLI
tests run in-process with typer's CliRunner against an instant simulator on a
thread, which counts what was sent.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from claude_force_trio import ApprovalRequest, Decision, StepWaitingApproval, open_engine
from claude_force_trio._config import Config, StepConfig
from claude_force_trio._events import Event
from claude_force_trio._journal import open_journal
from claude_force_trio._results import StepResult, WorkflowResult
from claude_force_trio.simulator import SimulatorHandle

from .engine_support import FakeAPI, make_config, step
from .test_cli import cft, offline, one_error_line, write_config
from .test_compat_hybrid import sim

__all__ = ["offline", "sim"]  # fixtures: offline is autouse, and applies here too


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps ahead whenever every task is waiting."""
    return trio.testing.MockClock(autojump_threshold=0)


def gated(step_config: StepConfig) -> StepConfig:
    """``step_config`` with ``"approval": true``."""
    return dataclasses.replace(step_config, approval=True)


def release(**kw: Any) -> Config:
    """build → deploy (gated) → announce, and an independent ``docs``."""
    steps = [
        step("build"),
        gated(step("deploy", "build")),
        step("announce", "deploy"),
        step("docs"),
    ]
    return make_config(steps, **kw)


def statuses(result: WorkflowResult) -> dict[str, str]:
    """Each step's status, by id."""
    return {s.id: s.status for s in result.steps}


def instant() -> FakeAPI:
    """A fake API that answers at once."""
    return FakeAPI(default_latency=0.0)


# ------------------------------------------------------------------ pause, decide, resume


@pytest.mark.anyio
async def test_pause_approve_resume_sends_only_the_gated_step_and_its_dependents(
    tmp_path: Path,
) -> None:
    """The run waits at deploy; once approved, the resume sends deploy and announce only."""
    api, db = instant(), tmp_path / "journal.db"
    events: list[Event] = []
    async with open_engine(release(), transport=api.transport, journal=db) as engine:
        first = await engine.run_workflow("wf", hooks=[events.append])
        assert sorted(api.calls) == ["build", "docs"]
        assert first.status == "waiting_approval"
        assert statuses(first) == {
            "build": "succeeded",
            "deploy": "waiting_approval",
            "announce": "skipped",
            "docs": "succeeded",
        }
        assert first.step("announce").error == "waiting for approval of 'deploy'"
        assert first.step("deploy").attempts == 0
        waiting = [e for e in events if isinstance(e, StepWaitingApproval)]
        assert [e.step_id for e in waiting] == ["deploy"]
        assert engine.journal is not None
        record = await engine.journal.get_run(first.run_id)
        assert record is not None
        assert record.status == "waiting_approval"
        assert record.steps["deploy"]["status"] == "waiting_approval"
        decision = await engine.journal.decide(
            first.run_id, "deploy", approved=True, note="ship it"
        )
        second = await engine.resume_workflow(first.run_id)
    assert sorted(api.calls) == ["announce", "build", "deploy", "docs"]
    assert api.calls[2:] == ["deploy", "announce"]
    assert second.ok
    assert second.run_id == first.run_id
    assert [s.resumed for s in second.steps] == [True, False, False, True]
    assert second.step("deploy").approval == decision.approval()
    assert second.step("deploy").approval == {
        "approved": True,
        "note": "ship it",
        "decided_at": decision.decided_at,
    }
    assert second.to_dict()["steps"][1]["approval"]["note"] == "ship it"
    assert second.step("build").approval is None


@pytest.mark.anyio
async def test_reject_fails_the_step_and_skips_its_dependents(tmp_path: Path) -> None:
    """A rejected step fails (approval_rejected, 'rejected: NOTE'); its dependent is skipped."""
    api, db = instant(), tmp_path / "journal.db"
    async with open_engine(release(), transport=api.transport, journal=db) as engine:
        first = await engine.run_workflow("wf")
        assert engine.journal is not None
        await engine.journal.decide(first.run_id, "deploy", approved=False, note="not today")
        second = await engine.resume_workflow(first.run_id)
    assert "deploy" not in api.calls
    assert second.status == "failed"
    deploy = second.step("deploy")
    assert (deploy.status, deploy.error_type, deploy.error) == (
        "failed",
        "approval_rejected",
        "rejected: not today",
    )
    assert deploy.approval is not None
    assert deploy.approval["approved"] is False
    assert second.step("announce").status == "skipped"
    assert second.step("announce").error == "dependency 'deploy' failed"


@pytest.mark.anyio
async def test_a_rejection_without_a_note_says_rejected(tmp_path: Path) -> None:
    """With no note the error is just 'rejected'."""
    api, db = instant(), tmp_path / "journal.db"
    async with open_engine(release(), transport=api.transport, journal=db) as engine:
        first = await engine.run_workflow("wf")
        assert engine.journal is not None
        await engine.journal.decide(first.run_id, "deploy", approved=False)
        second = await engine.resume_workflow(first.run_id)
    assert second.step("deploy").error == "rejected"


@pytest.mark.anyio
async def test_a_run_without_journal_or_callback_waits(tmp_path: Path) -> None:
    """No journal and no callback: the step waits, and so does the run, nothing failed."""
    api = instant()
    async with open_engine(release(), transport=api.transport) as engine:
        result = await engine.run_workflow("wf")
    assert result.status == "waiting_approval"
    assert sorted(api.calls) == ["build", "docs"]


# ------------------------------------------------------------------ callbacks


@pytest.mark.anyio
async def test_callback_approves_in_process_and_is_journalled(tmp_path: Path) -> None:
    """The callback sees the step and its inputs; its yes runs the step and is journalled."""
    api, db = instant(), tmp_path / "journal.db"
    asked: list[ApprovalRequest] = []

    async def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    async with open_engine(release(), transport=api.transport, journal=db) as engine:
        result = await engine.run_workflow("wf", "release 1.2", on_approval=approve)
        assert engine.journal is not None
        decision = await engine.journal.decision(result.run_id, "deploy")
        again = await engine.resume_workflow(result.run_id, on_approval=approve)
    assert result.ok
    assert sorted(api.calls) == ["announce", "build", "deploy", "docs"]
    [request] = asked  # the resume replayed deploy: nobody was asked twice
    assert (request.run_id, request.workflow, request.step_id, request.agent) == (
        result.run_id,
        "wf",
        "deploy",
        "worker",
    )
    assert (request.task, request.workflow_task) == ("do <<deploy>>", "release 1.2")
    assert [(i.step_id, i.output) for i in request.inputs] == [("build", "output of <<build>>")]
    assert decision is not None
    assert (decision.approved, decision.note) == (True, None)
    assert result.step("deploy").approval == decision.approval()
    assert again.ok
    assert all(s.resumed for s in again.steps)
    assert again.step("deploy").approval == decision.approval()


@pytest.mark.anyio
async def test_callback_rejects_with_a_decision_like_answer() -> None:
    """A callback answering an object with approved/note rejects: the step fails, nothing sent."""
    api = instant()

    @dataclasses.dataclass
    class Verdict:
        approved: bool
        note: str | None

    async def reject(request: ApprovalRequest) -> Verdict:
        return Verdict(False, f"{request.step_id} needs a change window")

    async with open_engine(release(), transport=api.transport) as engine:
        result = await engine.run_workflow("wf", on_approval=reject)
    assert result.status == "failed"
    assert "deploy" not in api.calls
    assert result.step("deploy").error == "rejected: deploy needs a change window"
    assert result.step("deploy").error_type == "approval_rejected"
    assert result.step("announce").status == "skipped"


@pytest.mark.anyio
async def test_callback_may_answer_a_pair_or_a_decision() -> None:
    """``(True, note)`` and a Decision both approve; the note reaches the result."""
    api = instant()

    async def pair(request: ApprovalRequest) -> tuple[bool, str | None]:
        return True, "pair"

    async def record(request: ApprovalRequest) -> Decision:
        return Decision(request.run_id, request.step_id, True, "record", "2025-01-01T00:00:00")

    async with open_engine(release(), transport=api.transport) as engine:
        by_pair = await engine.run_workflow("wf", on_approval=pair)
        by_record = await engine.run_workflow("wf", on_approval=record)
    assert by_pair.ok
    assert by_record.ok
    notes = [(r.step("deploy").approval or {}).get("note") for r in (by_pair, by_record)]
    assert notes == ["pair", "record"]


@pytest.mark.anyio
async def test_a_callback_that_raises_fails_the_step_and_never_escapes() -> None:
    """An exception in the callback fails the step (approval_error, its type named)."""
    api = instant()

    async def broken(request: ApprovalRequest) -> bool:
        raise LookupError("no approver on call")

    async with open_engine(release(on_failure="continue"), transport=api.transport) as engine:
        result = await engine.run_workflow("wf", on_approval=broken)
    deploy = result.step("deploy")
    assert result.status == "failed"
    assert deploy.error_type == "approval_error"
    assert deploy.error == "the approval callback raised LookupError: no approver on call"
    assert isinstance(deploy.exception, LookupError)
    assert statuses(result)["docs"] == "succeeded"
    assert "deploy" not in api.calls


@pytest.mark.anyio
async def test_a_callback_answering_nonsense_fails_the_step() -> None:
    """An answer that is not a bool, a decision or a pair is an approval_error."""
    api = instant()

    async def vague(request: ApprovalRequest) -> Any:
        return "maybe"

    async with open_engine(release(), transport=api.transport) as engine:
        result = await engine.run_workflow("wf", on_approval=vague)
    assert result.step("deploy").error_type == "approval_error"
    assert "answered str" in (result.step("deploy").error or "")


# ------------------------------------------------------------------ scheduling


async def test_independent_branches_run_on_while_a_step_waits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A gated root waits at 0 s; the fail-fast run is not cancelled: docs' 3 s chain finishes."""
    api = FakeAPI(default_latency=1.0)
    steps = [gated(step("gate")), step("after", "gate"), step("a"), step("b", "a"), step("c", "b")]
    async with open_engine(make_config(steps), transport=api.transport) as engine:
        result = await engine.run_workflow("wf")
    assert result.status == "waiting_approval"
    assert api.calls == ["a", "b", "c"]
    assert api.cancelled == []
    assert trio.current_time() == 3.0
    assert statuses(result)["after"] == "skipped"
    assert result.execution_order == ("a", "b", "c")


async def test_a_failure_wins_over_a_waiting_step(autojump_clock: trio.testing.MockClock) -> None:
    """One step waits and another fails: the run is failed, the waiting step still waits."""
    api = FakeAPI(default_latency=1.0, fail={"a": 400})
    steps = [gated(step("gate")), step("a")]
    async with open_engine(make_config(steps), transport=api.transport) as engine:
        result = await engine.run_workflow("wf")
    assert result.status == "failed"
    assert statuses(result) == {"gate": "waiting_approval", "a": "failed"}


async def test_sequential_runs_skip_past_a_waiting_step(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One step at a time: the waiting step's dependents skip, the steps after it run."""
    api = FakeAPI(default_latency=1.0)
    steps = [gated(step("gate")), step("after", "gate"), step("x"), step("y", "after", "x")]
    async with open_engine(make_config(steps), transport=api.transport) as engine:
        result = await engine.run_workflow("wf", sequential=True)
    assert result.status == "waiting_approval"
    assert api.calls == ["x"]
    assert result.step("y").error == "waiting for approval of 'gate'"


async def test_a_run_cancelled_while_the_callback_decides_records_the_step_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A run that times out while the callback thinks ends timed_out; the step is cancelled."""
    api = FakeAPI(default_latency=1.0)

    async def slow(request: ApprovalRequest) -> bool:
        await trio.sleep(10)
        return True

    steps = [gated(step("gate")), step("a")]
    async with open_engine(make_config(steps), transport=api.transport) as engine:
        result = await engine.run_workflow("wf", timeout_s=2.0, on_approval=slow)
    assert result.status == "timed_out"
    assert result.step("gate").status == "cancelled"
    assert result.step("gate").error == "cancelled while waiting for an approval decision"
    assert trio.current_time() == 2.0


def test_the_progress_display_shows_a_waiting_step() -> None:
    """The plain progress line and the table's cell say the step waits for approval."""
    from claude_force_trio.cli._progress import WorkflowProgress

    lines: list[str] = []
    progress = WorkflowProgress(plain=lines.append, clock=lambda: 0.0)
    waiting = StepResult(id="deploy", agent="w", status="waiting_approval")
    progress(StepWaitingApproval("r", "deploy", waiting, 0.0))
    assert lines == ["[   0.00s] deploy    waiting for approval (did not start)"]
    assert progress.rows["deploy"].status == "waiting_approval"
    cells = progress._cells(progress.rows["deploy"], 0.0)
    assert cells[2] == ("⏸ waiting for approval", "bold yellow")
    assert cells[4] == ("", "")  # it never started: no elapsed time


# ------------------------------------------------------------------ results and journal


def test_waiting_and_approved_results_round_trip() -> None:
    """to_dict → JSON → from_dict keeps waiting_approval and the approval document."""
    approval = {"approved": True, "note": "ok", "decided_at": "2025-01-01T00:00:00+00:00"}
    for result in (
        StepResult(id="d", agent="w", status="waiting_approval", error="waiting for approval"),
        StepResult(id="d", agent="w", status="succeeded", output="x", approval=approval),
    ):
        document = json.loads(json.dumps(result.to_dict()))
        assert StepResult.from_dict(document) == result
    with pytest.raises(ValueError, match="unknown step status"):
        StepResult.from_dict({"id": "d", "agent": "w", "status": "paused"})


async def test_an_old_journal_gains_the_approvals_table(tmp_path: Path) -> None:
    """A journal file from before approvals opens, gains the table, and keeps its runs."""
    db = tmp_path / "journal.db"
    with sqlite3.connect(db) as old:
        old.executescript(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, workflow TEXT,"
            " fingerprint TEXT, task TEXT, status TEXT NOT NULL, started_at TEXT NOT NULL,"
            " finished_at TEXT, document TEXT);"
            "CREATE TABLE steps (run_id TEXT NOT NULL, step_id TEXT NOT NULL, status TEXT NOT NULL,"
            " data TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (run_id, step_id));"
            "INSERT INTO runs VALUES ('r' || hex(randomblob(8)), 'workflow', 'wf', 'f', NULL,"
            " 'waiting_approval', '2025-01-01T00:00:00.000000+00:00', NULL, NULL);"
        )
    old.close()
    async with open_journal(db) as journal:
        [record] = await journal.list_runs()
        assert await journal.decision(record.run_id, "deploy") is None
        made = await journal.decide(record.run_id, "deploy", approved=True, note="fine")
        assert await journal.decision(record.run_id, "deploy") == made
        again = await journal.decide(record.run_id, "deploy", approved=False)
        assert await journal.decision(record.run_id, "deploy") == again
        assert await journal.prune(0) == 1
        assert await journal.decision(record.run_id, "deploy") is None
        assert await journal.integrity_check() == "ok"


# ------------------------------------------------------------------ the CLI


@pytest.fixture
def gated_chain(tmp_path: Path) -> Path:
    """``first → second (approval) → third``, and ``side`` on its own; one agent each."""
    agents = {
        name: f"# {name}\n\nMARK-{name.upper()}: do your part.\n" for name in ("a", "b", "c", "d")
    }
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 256},
        "agents": {name: {"file": f"{name}.md"} for name in agents},
        "workflows": {
            "ship": {
                "task": "ship the thing",
                "steps": [
                    {"id": "first", "agent": "a"},
                    {"id": "second", "agent": "b", "dependencies": ["first"], "approval": True},
                    {"id": "third", "agent": "c", "dependencies": ["second"]},
                    {"id": "side", "agent": "d"},
                ],
            }
        },
        "retry": {"max_attempts": 1},
    }
    return write_config(tmp_path / "proj", doc, agents)


def sent_by(handle: SimulatorHandle) -> list[str]:
    """Which agents' messages requests the simulator received (by their marker), sorted."""
    marks = []
    for request in handle.requests:
        if request.path == "/v1/messages":
            system = json.dumps(request.body.get("system") if request.body else None)
            marks += [n for n in ("a", "b", "c", "d") if f"MARK-{n.upper()}" in system]
    return sorted(marks)


@pytest.fixture
def paused(gated_chain: Path, sim: SimulatorHandle) -> dict[str, Any]:
    """``workflow run ship --json`` once: its document (it waits at ``second``)."""
    ran = cft("workflow", "run", "ship", "--no-cache", "--json", config=gated_chain)
    assert ran.exit_code == 3, ran.stderr
    document: dict[str, Any] = json.loads(ran.stdout)
    return document


def test_workflow_run_exits_3_and_says_how_to_go_on(
    gated_chain: Path, sim: SimulatorHandle
) -> None:
    """A paused run exits 3; its plain output names the step and the two commands."""
    ran = cft("workflow", "run", "ship", "--no-cache", config=gated_chain)
    assert ran.exit_code == 3, ran.stderr
    summary = next(line for line in ran.stdout.splitlines() if "makespan" in line)
    assert summary.startswith("waiting approval · ")
    assert "resume with" not in summary
    short = summary.rsplit(" · run ", 1)[1]
    assert len(short) == 12
    assert "waiting for approval: step 'second'" in ran.stderr
    assert f"cft runs approve {short} second" in ran.stderr
    assert f"cft runs reject {short} second" in ran.stderr
    assert f"then go on with: cft workflow resume {short}" in ran.stderr
    assert sent_by(sim) == ["a", "d"]


def test_json_documents_say_waiting_approval(paused: dict[str, Any]) -> None:
    """--json: the run and the gated step are waiting_approval; runs show prints the same."""
    assert paused["status"] == "waiting_approval"
    steps = {s["id"]: s for s in paused["steps"]}
    assert steps["second"]["status"] == "waiting_approval"
    assert steps["second"]["approval"] is None
    assert steps["third"]["error"] == "waiting for approval of 'second'"
    shown = cft("runs", "show", paused["run_id"], "--json", config=None)
    assert json.loads(shown.stdout) == paused
    plain = cft("runs", "show", paused["run_id"], config=None)
    assert plain.exit_code == 0, plain.stderr
    assert f"cft runs approve {paused['run_id'][:12]} second" in plain.stderr
    listed = cft("runs", "list", "--status", "waiting_approval", "--json", config=None)
    assert [row["run_id"] for row in json.loads(listed.stdout)] == [paused["run_id"]]


def test_approve_then_resume_runs_the_rest_once(
    paused: dict[str, Any], gated_chain: Path, sim: SimulatorHandle
) -> None:
    """approve prints one line and the next command; resume sends second and third only."""
    short = paused["run_id"][:12]
    approved = cft("runs", "approve", paused["run_id"][:8], "second", "--note", "lgtm", config=None)
    assert approved.exit_code == 0, approved.stderr
    assert approved.stdout.strip() == (
        f"✓ approved step 'second' of run {short} (lgtm); go on with: cft workflow resume {short}"
    )
    resumed = cft("workflow", "resume", short, "--no-cache", "--json", config=gated_chain)
    assert resumed.exit_code == 0, resumed.stderr
    document = json.loads(resumed.stdout)
    assert document["status"] == "succeeded"
    steps = {s["id"]: s for s in document["steps"]}
    assert steps["second"]["approval"]["note"] == "lgtm"
    assert sent_by(sim) == ["a", "b", "c", "d"]


def test_reject_then_resume_fails_the_step(
    paused: dict[str, Any], gated_chain: Path, sim: SimulatorHandle
) -> None:
    """reject --json prints the decision; the resume fails second (exit 1) and skips third."""
    rejected = cft("runs", "reject", paused["run_id"], "second", "--json", config=None)
    assert rejected.exit_code == 0, rejected.stderr
    decision = json.loads(rejected.stdout)
    assert set(decision) == {"run_id", "step_id", "approved", "note", "decided_at"}
    assert (decision["run_id"], decision["step_id"], decision["approved"], decision["note"]) == (
        paused["run_id"],
        "second",
        False,
        None,
    )
    resumed = cft("workflow", "resume", paused["run_id"], "--json", config=gated_chain)
    assert resumed.exit_code == 1, resumed.stderr
    steps = {s["id"]: s for s in json.loads(resumed.stdout)["steps"]}
    assert (steps["second"]["status"], steps["second"]["error"]) == ("failed", "rejected")
    assert steps["third"]["status"] == "skipped"
    assert sent_by(sim) == ["a", "d"]
    # A rejection may be taken back: approving it now lets the next resume run it.
    approved = cft("runs", "approve", paused["run_id"], "second", config=None)
    assert approved.exit_code == 0, approved.stderr


def test_approving_a_step_that_is_not_waiting_is_one_error(paused: dict[str, Any]) -> None:
    """A finished step, an unknown step, an unknown run: one error line each, exit 2."""
    run_id, short = paused["run_id"], paused["run_id"][:12]
    line = one_error_line(cft("runs", "approve", run_id, "first", config=None))
    assert line == (
        f"error: runs.approve: step 'first' of run {short} is not waiting for approval"
        " (it succeeded)"
    )
    line = one_error_line(cft("runs", "reject", run_id, "third", config=None))
    assert line.endswith("is not waiting for approval (it was skipped)")
    line = one_error_line(cft("runs", "approve", run_id, "nope", config=None))
    assert line.startswith(f"error: runs.approve: run {short} has no step 'nope' (its steps: ")
    line = one_error_line(cft("runs", "approve", "0123456789ab", "first", config=None))
    assert "not in the run journal" in line


def test_a_run_many_batch_has_nothing_to_approve() -> None:
    """approve on a run-many batch is refused: only workflow steps wait."""
    ran = cft("run-many", "-", "--json", input='{"agent": "linter", "task": "a"}\n')
    run_id = json.loads(ran.stdout)["run_id"]
    line = one_error_line(cft("runs", "approve", run_id, "jobs[0]", config=None))
    assert line.endswith("is a run-many batch: only workflow steps wait")


def test_an_unjournalled_paused_run_says_it_cannot_go_on(
    gated_chain: Path, sim: SimulatorHandle
) -> None:
    """--no-journal: still exit 3, and the output says the run cannot be approved."""
    ran = cft("workflow", "run", "ship", "--no-journal", config=gated_chain)
    assert ran.exit_code == 3, ran.stderr
    assert "cannot be approved and resumed" in ran.stderr
    assert "cft runs approve" not in ran.stderr


def test_help_documents_exit_code_3() -> None:
    """workflow run/resume --help name exit code 3; runs --help lists approve and reject."""
    for command in ("run", "resume"):
        shown = cft("workflow", command, "--help", config=None)
        assert "3 waiting for approval" in shown.stdout or "3 still waiting" in shown.stdout
    runs = cft("runs", "--help", config=None)
    assert "approve" in runs.stdout
    assert "reject" in runs.stdout
