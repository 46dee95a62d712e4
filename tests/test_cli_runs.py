"""``cft runs list | show | prune``, ``cft workflow resume`` and ``--no-journal``, in-process.

Offline as ``tests/test_cli.py`` is (its ``offline`` fixture: no key, ``CFT_HOME`` in
``tmp_path``, the embedded simulator with zero latency); a run that must fail talks
to a simulator on a thread with scripted faults, which also counts what was sent.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

from claude_force_trio import ConfigError
from claude_force_trio._journal import journal_path, open_journal
from claude_force_trio.cli.runs import parse_age
from claude_force_trio.simulator import Fault, SimulatorHandle

from .test_cli import EXAMPLE, cft, offline, one_error_line, write_config
from .test_compat_hybrid import KEY, sim  # an instant threaded simulator, the CLI pointed at it

__all__ = ["offline", "sim"]  # fixtures: offline is autouse, and applies here too


def as_json(text: str) -> Any:
    """The one JSON document a ``--json`` command printed."""
    return json.loads(text)


def listed() -> list[dict[str, Any]]:
    """``cft runs list --json``."""
    result = cft("runs", "list", "--json", config=None)
    assert result.exit_code == 0, result.stderr
    runs: list[dict[str, Any]] = as_json(result.stdout)
    return runs


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """A three-step chain ``first → second → third``, one agent each, no retries."""
    agents = {name: f"# {name}\n\nMARK-{name.upper()}: do your part.\n" for name in ("a", "b", "c")}
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 256},
        "agents": {name: {"file": f"{name}.md"} for name in agents},
        "workflows": {
            "chain": {
                "task": "build the thing",
                "steps": [
                    {"id": "first", "agent": "a"},
                    {"id": "second", "agent": "b", "dependencies": ["first"]},
                    {"id": "third", "agent": "c", "dependencies": ["second"]},
                ],
            }
        },
        "retry": {"max_attempts": 1},
    }
    return write_config(tmp_path / "proj", doc, agents)


def sent_by(handle: SimulatorHandle) -> list[str]:
    """Which agents' messages requests the simulator received, in order (by their marker)."""
    marks = []
    for request in handle.requests:
        if request.path == "/v1/messages":
            system = json.dumps(request.body.get("system") if request.body else None)
            marks += [name for name in ("a", "b", "c") if f"MARK-{name.upper()}" in system]
    return marks


def failed_chain(chain: Path, handle: SimulatorHandle) -> dict[str, Any]:
    """Run ``chain`` with its second step answered by a 500; its --json document."""
    handle.script(None, Fault("500"))
    result = cft("workflow", "run", "chain", "--no-cache", "--json", config=chain)
    assert result.exit_code == 1, result.stderr
    document: dict[str, Any] = as_json(result.stdout)
    return document


def seed_runs(*runs: tuple[str, datetime, bool]) -> None:
    """Journal runs directly: (run id, start time, finished?), for prefixes and ages."""

    async def write() -> None:
        for run_id, started, finished in runs:
            async with open_journal(clock=itertools.repeat(started).__next__) as journal:
                await journal.start_run(
                    run_id, kind="workflow", workflow="chain", fingerprint="f", task="t"
                )
                step = {"id": "first", "agent": "a", "status": "succeeded", "cost_usd": 0.5}
                await journal.record_step(run_id, step)
                if finished:
                    await journal.finish_run(
                        run_id, {"workflow": "chain", "run_id": run_id, "status": "failed"}
                    )

    trio.run(write)


# ------------------------------------------------------------------ history


def test_run_is_listed_and_shown_as_its_json() -> None:
    """A workflow run is listed, and `runs show --json` prints exactly its --json document."""
    ran = cft("workflow", "run", "code-quality-check", "--json")
    assert ran.exit_code == 0, ran.stderr
    document = as_json(ran.stdout)
    [row] = listed()
    assert row["run_id"] == document["run_id"]
    assert (row["kind"], row["workflow"], row["status"]) == (
        "workflow",
        "code-quality-check",
        "succeeded",
    )
    assert (row["steps_succeeded"], row["steps"]) == (4, 4)
    assert row["cost_usd"] == pytest.approx(document["cost_usd"])
    assert row["elapsed_s"] == document["elapsed_s"]
    shown = cft("runs", "show", document["run_id"][:8], "--json", config=None)
    assert shown.exit_code == 0, shown.stderr
    assert as_json(shown.stdout) == document


def test_runs_list_plain_lines_newest_first() -> None:
    """In a pipe, `runs list` prints a header and one aligned line per run, newest first."""
    first = as_json(cft("workflow", "run", "code-quality-check", "--json").stdout)
    jobs = '{"agent": "linter", "task": "look"}\n{"agent": "linter", "task": "again"}\n'
    many = as_json(cft("run-many", "-", "--json", input=jobs).stdout)
    result = cft("runs", "list", config=None)
    assert result.exit_code == 0, result.stderr
    header, newest, oldest = result.stdout.splitlines()
    assert header.split()[:3] == ["run", "workflow", "status"]
    assert newest.split()[:3] == [many["run_id"][:12], "run-many", "succeeded"]
    assert newest.split()[-2:] == [
        "2/2",
        "$" + f"{sum(r['cost_usd'] for r in many['results']):.4f}",
    ]
    assert oldest.split()[:3] == [first["run_id"][:12], "code-quality-check", "succeeded"]
    assert "4/4" in oldest.split()
    only = cft("runs", "list", "--workflow", "code-quality-check", "--json", config=None)
    assert [row["run_id"] for row in as_json(only.stdout)] == [first["run_id"]]
    limited = cft("runs", "list", "--limit", "1", "--json", config=None)
    assert [row["run_id"] for row in as_json(limited.stdout)] == [many["run_id"]]


def test_runs_list_on_a_terminal_is_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal `runs list` draws a rich table with the same columns."""
    from claude_force_trio.cli import _console

    ran = as_json(cft("workflow", "run", "code-quality-check", "--json").stdout)
    monkeypatch.setattr(_console, "interactive", lambda: True)
    result = cft("runs", "list", config=None)
    assert result.exit_code == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split()[:3] == ["run", "workflow", "status"]
    assert row.split()[:3] == [ran["run_id"][:12], "code-quality-check", "succeeded"]


def test_run_many_is_journalled_with_its_document() -> None:
    """run-many's --json carries its run id, and `runs show --json` prints that document."""
    jobs = '{"agent": "linter", "task": "a"}\n{"agent": "type-checker", "task": "b"}\n'
    ran = cft("run-many", "-", "--json", input=jobs)
    assert ran.exit_code == 0, ran.stderr
    document = as_json(ran.stdout)
    assert document["status"] == "succeeded"
    [row] = listed()
    assert (row["run_id"], row["kind"], row["workflow"]) == (document["run_id"], "many", None)
    shown = cft("runs", "show", document["run_id"], "--json", config=None)
    assert as_json(shown.stdout) == document


def test_summary_lines_name_the_run() -> None:
    """The plain summary lines of workflow run and run-many end with the run's short id."""
    ran = cft("workflow", "run", "code-quality-check")
    assert ran.exit_code == 0, ran.stderr
    [row] = listed()
    summary = next(line for line in ran.stdout.splitlines() if line.startswith("succeeded"))
    assert summary.endswith(f" · run {row['run_id'][:12]}")
    assert "resume with" not in ran.stdout
    many = cft("run-many", "-", input='{"agent": "linter", "task": "a"}\n')
    newest = listed()[0]
    assert newest["kind"] == "many"
    assert many.stderr.rstrip().endswith(f" · run {newest['run_id'][:12]}")


def test_no_journal_leaves_no_row() -> None:
    """--no-journal on workflow run and run-many writes no run, and names none."""
    ran = cft("workflow", "run", "code-quality-check", "--no-journal")
    assert ran.exit_code == 0, ran.stderr
    assert " · run " not in ran.stdout
    many = cft("run-many", "-", "--no-journal", input='{"agent": "linter", "task": "a"}\n')
    assert many.exit_code == 0, many.stderr
    assert " · run " not in many.stderr
    assert listed() == []


def test_runs_list_empty() -> None:
    """With no runs, `runs list` says so on stderr and `--json` prints an empty list."""
    result = cft("runs", "list", config=None)
    assert (result.exit_code, result.stdout) == (0, "")
    assert "no journalled runs" in result.stderr
    assert listed() == []


def test_runs_show_unfinished_run() -> None:
    """A run that never finished (killed) shows as running with its journalled steps."""
    run_id = "0123456789abcdef" * 2
    seed_runs((run_id, datetime.now(UTC), False))
    [row] = listed()
    assert (row["status"], row["elapsed_s"], row["steps_succeeded"]) == ("running", None, 1)
    assert row["cost_usd"] == 0.5
    shown = as_json(cft("runs", "show", run_id[:6], "--json", config=None).stdout)
    assert (shown["run_id"], shown["status"]) == (run_id, "running")
    assert [step["id"] for step in shown["steps"]] == ["first"]
    plain = cft("runs", "list", config=None).stdout.splitlines()[1].split()
    assert plain[:3] == [run_id[:12], "chain", "running"]
    assert "—" in plain


# ------------------------------------------------------------------ resume


def test_failed_run_resumes_without_resending_finished_steps(
    chain: Path, sim: SimulatorHandle
) -> None:
    """A step failed by a 500 → resume runs only it and its dependent; the first is replayed."""
    document = failed_chain(chain, sim)
    statuses = [step["status"] for step in document["steps"]]
    assert statuses == ["succeeded", "failed", "skipped"]
    assert sent_by(sim) == ["a", "b"]
    [row] = listed()
    assert (row["status"], row["steps_succeeded"]) == ("failed", 1)
    short = document["run_id"][:12]
    plain = cft("runs", "show", short, config=None)
    assert plain.stdout.splitlines()[4].split()[:3] == ["second", "b", "failed"]
    assert f"resume with: cft workflow resume {short}" in plain.stderr
    sim.clear_log()
    resumed = cft("workflow", "resume", short, "--no-cache", "--json", config=chain)
    assert resumed.exit_code == 0, resumed.stderr
    after = as_json(resumed.stdout)
    assert after["run_id"] == document["run_id"]
    assert [step["status"] for step in after["steps"]] == ["succeeded"] * 3
    assert [step["resumed"] for step in after["steps"]] == [True, False, False]
    assert after["steps"][0]["output"] == document["steps"][0]["output"]
    assert sent_by(sim) == ["b", "c"]
    [row] = listed()
    assert (row["status"], row["steps_succeeded"]) == ("succeeded", 3)
    shown = cft("runs", "show", short, "--json", config=None)
    assert as_json(shown.stdout) == after
    sim.clear_log()
    again = cft("workflow", "resume", short, "--no-cache", config=chain)
    assert again.exit_code == 0, again.stderr
    assert sent_by(sim) == []


def test_failed_run_names_the_resume_command(chain: Path, sim: SimulatorHandle) -> None:
    """A failed run's plain summary line ends with the command that resumes it."""
    sim.script(None, Fault("500"))
    result = cft("workflow", "run", "chain", "--no-cache", config=chain)
    assert result.exit_code == 1
    [row] = listed()
    short = row["run_id"][:12]
    summary = next(line for line in result.stdout.splitlines() if line.startswith("failed"))
    assert summary.endswith(f" · run {short} · resume with: cft workflow resume {short}")
    assert result.stderr.splitlines()[-1].startswith("error: workflow 'chain' failed: step ")


def test_resume_refuses_a_changed_config_unless_forced(chain: Path, sim: SimulatorHandle) -> None:
    """An agent file edited since the run → one line naming --force, exit 2; --force resumes."""
    document = failed_chain(chain, sim)
    agent = chain.parent / "c.md"
    agent.write_text(agent.read_text(encoding="utf-8") + "Be brief.\n", encoding="utf-8")
    line = one_error_line(cft("workflow", "resume", document["run_id"], config=chain))
    assert "changed since; --force to resume anyway" in line
    forced = cft("workflow", "resume", document["run_id"], "--force", "--json", config=chain)
    assert forced.exit_code == 0, forced.stderr
    assert as_json(forced.stdout)["status"] == "succeeded"


def test_journal_never_holds_the_key(chain: Path, sim: SimulatorHandle) -> None:
    """Neither the journal file nor its WAL contains the API key after a failed run."""
    failed_chain(chain, sim)
    files = [p for p in journal_path().parent.iterdir() if p.name.startswith("journal.db")]
    assert files
    assert not any(KEY.encode() in path.read_bytes() for path in files)


@pytest.mark.parametrize("run_id", ["ffffffffffff", "fff", ""])
def test_resume_unknown_run(run_id: str) -> None:
    """An id the journal does not have is one error line and exit 2, before any call."""
    line = one_error_line(cft("workflow", "resume", run_id, config=EXAMPLE))
    assert "not in the run journal" in line


def test_show_unknown_run() -> None:
    """`runs show` of an unknown id: one line, exit 2; a short prefix says it is too short."""
    assert "not in the run journal" in one_error_line(cft("runs", "show", "abcdef12", config=None))
    assert "6 characters" in one_error_line(cft("runs", "show", "abc", config=None))


def test_ambiguous_prefix_is_refused() -> None:
    """A prefix two runs share is one line, exit 2, for show and for resume."""
    now = datetime.now(UTC)
    seed_runs(("abcdef01" + "0" * 24, now, True), ("abcdef02" + "0" * 24, now, True))
    assert "matches 2 runs" in one_error_line(cft("runs", "show", "abcdef", config=None))
    assert "matches 2 runs" in one_error_line(cft("workflow", "resume", "abcdef", config=EXAMPLE))
    assert as_json(cft("runs", "show", "abcdef01", "--json", config=None).stdout)["run_id"]


def test_resume_refuses_a_run_many() -> None:
    """A run-many batch cannot be resumed: one line, exit 2."""
    cft("run-many", "-", input='{"agent": "linter", "task": "a"}\n')
    [row] = listed()
    line = one_error_line(cft("workflow", "resume", row["run_id"]))
    assert "only workflow runs" in line


# ------------------------------------------------------------------ prune


def test_prune_removes_only_old_runs() -> None:
    """prune --older-than 30d removes the runs that ended over 30 days ago, and says how many."""
    now = datetime.now(UTC)
    old, recent = "a" * 32, "b" * 32
    seed_runs((old, now - timedelta(days=40), True), (recent, now - timedelta(days=2), True))
    result = cft("runs", "prune", "--older-than", "30d", config=None)
    assert result.exit_code == 0, result.stderr
    assert "removed 1 run older than 30d" in result.stdout
    assert [row["run_id"] for row in listed()] == [recent]
    again = cft("runs", "prune", "--older-than", "2w", config=None)
    assert "removed 0 runs" in again.stdout
    assert "removed 1 run " in cft("runs", "prune", "--older-than", "12h", config=None).stdout
    assert listed() == []


@pytest.mark.parametrize("age", ["30", "3x", "-1d", "0d", "", "1.5.d", "d", "1 d 2"])
def test_prune_bad_duration(age: str) -> None:
    """A duration that is not a positive number and a unit is one line naming the option."""
    line = one_error_line(cft("runs", "prune", "--older-than", age, config=None))
    assert line.startswith("error: --older-than: expected a duration")


def test_prune_needs_an_age() -> None:
    """prune without --older-than is a usage error (exit 2), never "remove everything"."""
    result = cft("runs", "prune", config=None)
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("age", "seconds"),
    [
        ("45s", 45),
        ("90m", 5400),
        ("12h", 43_200),
        ("30d", 2_592_000),
        ("2w", 1_209_600),
        ("1.5d", 129_600),
    ],
)
def test_parse_age(age: str, seconds: float) -> None:
    """Each unit converts to the seconds it means."""
    assert parse_age(age) == seconds


def test_a_journal_write_failure_is_a_failed_run_not_bad_input() -> None:
    """JournalWriteError exits 1 (the run failed); other CFTErrors keep exit 2."""
    import typer

    from claude_force_trio._journalling import JournalWriteError
    from claude_force_trio.cli._app import fail

    with pytest.raises(typer.Exit) as failed:
        fail(JournalWriteError("step s1", OSError(28, "No space left on device")))
    assert failed.value.exit_code == 1
    with pytest.raises(typer.Exit) as usage:
        fail(ConfigError("agent", "unknown agent 'x'"))
    assert usage.value.exit_code == 2
