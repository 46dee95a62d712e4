"""The ``cft`` command line, in-process with typer's CliRunner (the README's CLI reference).

Every test runs offline: no key in the environment, the embedded simulator with
zero latency (``CFT_SIM_LATENCY_SCALE=0``), ``CFT_HOME`` in a temporary folder.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from claude_force_trio.cli import app, state_dir
from claude_force_trio.simulator import run_simulator_in_thread

from .net_support import closed_port

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / ".claude" / "claude.json"
NOTICE = "notice: no ANTHROPIC_API_KEY set"
STEP_FIELDS = {
    "id",
    "agent",
    "status",
    "output",
    "error",
    "attempts",
    "cached",
    "model",
    "started_at",
    "finished_at",
    "elapsed_s",
    "usage",
    "cost_usd",
}
RUN_FIELDS = {"agent", "model", "output", "cached", "attempts", "elapsed_s", "usage", "cost_usd"}
USAGE_FIELDS = {
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
}
WORKFLOW_FIELDS = {
    "workflow",
    "run_id",
    "status",
    "elapsed_s",
    "critical_path_s",
    "execution_order",
    "usage",
    "cost_usd",
    "steps",
}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key, no base URL, instant simulator, state under tmp_path."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "CFT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("CFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CFT_SIM_LATENCY_SCALE", "0")


def cft(*args: str, config: Path | None = EXAMPLE, input: str | None = None) -> Result:
    """Invoke ``cft [--config CONFIG] ARGS`` in-process."""
    prefix = ["--config", str(config)] if config is not None else []
    return CliRunner().invoke(app, [*prefix, *args], input=input)


def one_error_line(result: Result) -> str:
    """Assert exit 2 with exactly one ``error:`` line on stderr and no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def write_config(root: Path, doc: Mapping[str, Any], agents: Mapping[str, str]) -> Path:
    """Write ``root/claude.json`` and the agents' markdown files; return the config path."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in agents.items():
        (root / f"{name}.md").write_text(text, encoding="utf-8")
    path = root / "claude.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    """Two branches: ``bad`` → ``after-bad`` and ``good`` → ``after-good``; no retries."""
    agents = {
        "slowpoke": "# Slowpoke\n\nSLOW-AGENT: takes its time.\n",
        "helper": "# Helper\n\nA helpful agent.\n",
    }
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 256},
        "agents": {name: {"file": f"{name}.md"} for name in agents},
        "workflows": {
            "branches": {
                "steps": [
                    {"id": "bad", "agent": "slowpoke", "task": "be slow", "timeout_s": 0.3},
                    {"id": "good", "agent": "helper", "task": "be fine"},
                    {"id": "after-bad", "agent": "helper", "task": "next", "dependencies": ["bad"]},
                    {
                        "id": "after-good",
                        "agent": "helper",
                        "task": "next",
                        "dependencies": ["good"],
                    },
                ]
            }
        },
        "retry": {"max_attempts": 1},
    }
    return write_config(tmp_path / "proj", doc, agents)


@pytest.fixture
def slow_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A simulator where SLOW-AGENT takes 5 s and everything else 0.6 s; the CLI points at it."""

    def latency(body: Mapping[str, Any]) -> float:
        return 5.0 if "SLOW-AGENT" in json.dumps(body.get("system")) else 0.6

    with run_simulator_in_thread(latency_fn=latency) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        yield sim.url


# ------------------------------------------------------------------ root


def test_version() -> None:
    """--version prints ``cft <version>`` and exits 0."""
    result = cft("--version", config=None)
    assert result.exit_code == 0
    assert result.stdout.startswith("cft ")


def test_help_lists_every_group() -> None:
    """-h shows the commands of the CLI reference."""
    result = cft("-h", config=None)
    assert result.exit_code == 0
    for command in ("run", "run-many", "workflow", "agents", "sim", "config", "init"):
        assert command in result.stdout


def test_help_shows_no_type_for_flags() -> None:
    """A flag takes no value, so help shows none (``--keep-going``, not ``--keep-going <bool>``)."""
    result = cft("workflow", "run", "-h", config=None)
    assert result.exit_code == 0
    assert "--keep-going" in result.stdout
    assert "<bool>" not in result.stdout
    assert "--timeout" in result.stdout
    assert " S " in result.stdout  # options that take a value still show it


def test_no_arguments_shows_help() -> None:
    """Bare ``cft`` prints usage instead of doing nothing."""
    result = cft(config=None)
    assert "Usage" in result.output


def test_simulate_and_live_conflict() -> None:
    """--simulate --live is a usage error: exit 2, one line."""
    line = one_error_line(cft("--simulate", "--live", "run", "linter", "hi"))
    assert "--simulate" in line


def test_live_without_key() -> None:
    """--live with no key is exit 2 naming the missing variable."""
    line = one_error_line(cft("--live", "run", "linter", "hi"))
    assert "ANTHROPIC_API_KEY" in line


def test_state_dir_follows_cft_home(tmp_path: Path) -> None:
    """state_dir() is $CFT_HOME (set by the fixture) and is not created eagerly."""
    assert state_dir() == tmp_path / "home"
    assert not state_dir().exists()


# ------------------------------------------------------------------ run


def test_run_plain() -> None:
    """run prints the reply on stdout, the notice and a summary on stderr."""
    result = cft("run", "linter", "Review def f(x=[]): pass")
    assert result.exit_code == 0, result.stderr
    assert "def f(x=[]): pass" in result.stdout
    assert NOTICE not in result.stdout
    assert result.stderr.count(NOTICE) == 1
    assert "claude-haiku" in result.stderr
    assert "succeeded" in result.stderr


def test_run_json() -> None:
    """run --json prints exactly one JSON document with the contract's fields."""
    result = cft("run", "linter", "hello", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert RUN_FIELDS | {"stop_reason"} <= set(doc)
    assert set(doc["usage"]) == USAGE_FIELDS
    assert doc["status"] == "succeeded"
    assert doc["agent"] == "linter"
    assert doc["output"]
    assert doc["stop_reason"] == "end_turn"
    assert NOTICE in result.stderr


def test_run_simulate_flag_has_no_notice() -> None:
    """An explicit --simulate is a choice, not a fallback: no notice is printed."""
    result = cft("--simulate", "run", "linter", "hello", "--json")
    assert result.exit_code == 0
    assert NOTICE not in result.stderr
    json.loads(result.stdout)


def test_run_stream_matches_plain() -> None:
    """--stream prints the same reply (chunk by chunk) as a plain run."""
    plain = cft("run", "linter", "stream me")
    streamed = cft("run", "linter", "stream me", "--stream")
    assert streamed.exit_code == 0, streamed.stderr
    assert streamed.stdout == plain.stdout
    assert streamed.stdout.endswith("\n")


def test_run_task_from_stdin() -> None:
    """A task of ``-`` is read from stdin."""
    result = cft("run", "linter", "-", "--json", input="Task from a pipe\n")
    assert result.exit_code == 0, result.stderr
    assert "Task from a pipe" in json.loads(result.stdout)["output"]


def test_run_task_as_an_option() -> None:
    """``--task`` works like ``workflow run --task``; both or neither is one error line."""
    as_option = cft("run", "linter", "--task", "Review def g(): pass", "--json")
    as_argument = cft("run", "linter", "Review def g(): pass", "--json")
    assert as_option.exit_code == 0, as_option.stderr
    assert json.loads(as_option.stdout)["output"] == json.loads(as_argument.stdout)["output"]
    both = one_error_line(cft("run", "linter", "x", "--task", "y"))
    assert both == "error: --task: give the task once: as TASK or with --task, not both"
    assert one_error_line(cft("run", "linter")).startswith("error: TASK: missing")


def test_run_empty_stdin_task() -> None:
    """An empty task is refused before anything is sent."""
    one_error_line(cft("run", "linter", "-", input=""))


def test_run_without_task_is_usage_error() -> None:
    """run AGENT with no task is a usage error (exit 2)."""
    assert cft("run", "linter").exit_code == 2


def test_run_unknown_agent() -> None:
    """An unknown agent is one line naming it, with a hint, exit 2."""
    line = one_error_line(cft("run", "lintr", "hi"))
    assert line.startswith("error: agent: unknown agent 'lintr'")
    assert "did you mean 'linter'" in line


def test_bad_config_json(tmp_path: Path) -> None:
    """Malformed claude.json: exit 2, one line naming the file, no traceback."""
    bad = tmp_path / "claude.json"
    bad.write_text('{"agents": {', encoding="utf-8")
    line = one_error_line(cft("run", "linter", "hi", config=bad))
    assert str(bad) in line


def test_missing_config(tmp_path: Path) -> None:
    """No config file: exit 2, one line saying how to make one."""
    line = one_error_line(cft("agents", "list", config=tmp_path / "nope.json"))
    assert "cft init" in line


def test_run_failure_exits_1(small_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose request fails (connection refused) prints error: and exits 1."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    result = cft("--live", "run", "helper", "hi", "--json", config=small_config)
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed"
    assert doc["error"]
    assert result.stderr.startswith("error: helper:")
    assert "sk-test-not-a-real-key" not in result.output


# ------------------------------------------------------------------ run-many


def test_run_many(tmp_path: Path) -> None:
    """run-many runs every line and prints the outputs in input order."""
    jobs = tmp_path / "tasks.jsonl"
    lines = [{"agent": "linter", "task": "first task"}, {"agent": "type-checker", "task": "second"}]
    jobs.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    result = cft("run-many", str(jobs))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.index("first task") < result.stdout.index("second")
    assert "2/2 succeeded" in result.stderr


def test_run_many_json() -> None:
    """run-many --json prints {"results": [step dicts…]} for the example file."""
    tasks = EXAMPLE.parents[1] / "tasks.jsonl"
    result = cft("run-many", str(tasks), "--json", "--max-concurrency", "3")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    expected = [json.loads(line)["agent"] for line in tasks.read_text().splitlines() if line]
    assert [r["agent"] for r in doc["results"]] == expected
    assert all(set(r) >= STEP_FIELDS and r["status"] == "succeeded" for r in doc["results"])


def test_run_many_bad_line(tmp_path: Path) -> None:
    """A malformed line is exit 2 naming file:line and the expected shape."""
    jobs = tmp_path / "tasks.jsonl"
    jobs.write_text('{"agent": "linter", "task": "ok"}\n\n{"agent": "linter"}\n', encoding="utf-8")
    line = one_error_line(cft("run-many", str(jobs)))
    assert line == f'error: {jobs}:3: expected {{"agent": str, "task": str}}'


def test_run_many_unknown_agent_names_line(tmp_path: Path) -> None:
    """An unknown agent in the file names the line it is on."""
    jobs = tmp_path / "tasks.jsonl"
    jobs.write_text('{"agent": "linter", "task": "a"}\n{"agent": "nobody", "task": "b"}\n')
    assert f"{jobs}:2: unknown agent 'nobody'" in one_error_line(cft("run-many", str(jobs)))


# ------------------------------------------------------------------ workflow


def test_workflow_list() -> None:
    """workflow list shows each workflow; --json is a list of them."""
    result = cft("workflow", "list")
    assert result.exit_code == 0
    assert "code-quality-check" in result.stdout
    assert "bug-fix" in result.stdout
    doc = json.loads(cft("workflow", "list", "--json").stdout)
    by_name = {wf["name"]: wf for wf in doc}
    assert by_name["bug-fix"]["kind"] == "chain"
    assert by_name["code-quality-check"]["steps"] == ["lint", "types", "scan", "review"]


def test_workflow_show() -> None:
    """workflow show prints levels, dependencies and the critical path."""
    result = cft("workflow", "show", "code-quality-check")
    assert result.exit_code == 0
    assert "lint, types, scan" in result.stdout
    assert "critical path (2 steps)" in result.stdout
    doc = json.loads(cft("workflow", "show", "code-quality-check", "--json").stdout)
    assert doc["levels"] == [["lint", "types", "scan"], ["review"]]
    assert doc["critical_path"] == {"steps": ["lint", "review"], "length": 2}
    assert doc["steps"][3]["dependencies"] == ["lint", "types", "scan"]


def test_workflow_show_unknown() -> None:
    """An unknown workflow is one error line with a hint."""
    line = one_error_line(cft("workflow", "show", "code-quality"))
    assert "did you mean 'code-quality-check'" in line


def test_workflow_run_json() -> None:
    """workflow run --json has every documented field, and exit 0 on success."""
    result = cft("workflow", "run", "code-quality-check", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= WORKFLOW_FIELDS
    assert doc["status"] == "succeeded"
    assert set(doc["usage"]) == USAGE_FIELDS
    assert sorted(doc["execution_order"]) == ["lint", "review", "scan", "types"]
    assert doc["execution_order"][-1] == "review"
    for step in doc["steps"]:
        assert set(step) >= STEP_FIELDS
        assert step["status"] == "succeeded"
    assert result.stderr.count(NOTICE) == 1


def test_workflow_run_plain() -> None:
    """On a pipe: one line per step event, the summary, then the final step's output."""
    result = cft("workflow", "run", "code-quality-check", "--task", "Check the PR")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "lint" in out
    assert "started" in out
    assert "succeeded" in out
    assert "makespan" in out
    assert "speed-up" in out
    assert "critical path" in out
    assert "── review (code-reviewer) ──" in out
    assert "\x1b[" not in out  # no colour codes on a pipe


def test_workflow_run_live_table_fits_the_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live table of a 40-step run on a 12-line screen: 11 lines at most, a summary last."""
    from claude_force_trio.cli import _console

    steps: list[dict[str, Any]] = [{"id": "root", "agent": "helper", "task": "split"}]
    steps += [
        {"id": f"w{i}", "agent": "helper", "task": f"part {i}", "dependencies": ["root"]}
        for i in range(38)
    ]
    workers = [step["id"] for step in steps[1:]]
    steps.append({"id": "join", "agent": "helper", "task": "merge", "dependencies": workers})
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 1024},
        "agents": {"helper": {"file": "helper.md"}},
        "workflows": {"wide": {"steps": steps}},
    }
    config = write_config(tmp_path / "wide", doc, {"helper": "# Helper\n\nHelps.\n"})
    monkeypatch.setattr(_console, "interactive", lambda: True)
    monkeypatch.setenv("LINES", "12")
    result = cft("workflow", "run", "wide", config=config)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["step", "agent", "status"]
    end = next(i for i, line in enumerate(lines) if line.startswith("… "))
    assert end <= 10
    hidden = 40 - (end - 1)
    # Not a real terminal, so rich ends the table without a newline: the summary follows.
    assert lines[end].startswith(f"… {hidden} more: {hidden} succeeded")
    assert "makespan" in lines[end]


def test_workflow_run_sequential() -> None:
    """--sequential runs one step at a time, in topological order."""
    result = cft("workflow", "run", "code-quality-check", "--sequential", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["execution_order"] == ["lint", "types", "scan", "review"]
    steps = {s["id"]: s for s in doc["steps"]}
    order = doc["execution_order"]
    for before, after in itertools.pairwise(order):
        assert steps[before]["finished_at"] <= steps[after]["started_at"]


def test_workflow_run_legacy_chain() -> None:
    """A legacy list workflow runs as a chain."""
    result = cft("workflow", "run", "bug-fix", "--task", "Crash on empty input", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["execution_order"] == ["bug-investigator", "code-reviewer", "qc-automation-expert"]


def test_workflow_run_failure_exits_1(small_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Connection refused fails the steps: result still printed, exit 1."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    result = cft("--live", "workflow", "run", "branches", "--json", config=small_config)
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed"
    statuses = {s["id"]: s["status"] for s in doc["steps"]}
    assert statuses["after-bad"] == "skipped"
    assert statuses["after-good"] == "skipped"
    assert result.stderr.startswith("error: workflow 'branches' failed: step ")
    assert "sk-test-not-a-real-key" not in result.output


@pytest.mark.slow
def test_workflow_fail_fast_vs_keep_going(small_config: Path, slow_sim: str) -> None:
    """A step timeout cancels the other branch by default; --keep-going lets it finish."""
    fast = cft("workflow", "run", "branches", "--json", config=small_config)
    assert fast.exit_code == 1
    steps = {s["id"]: s["status"] for s in json.loads(fast.stdout)["steps"]}
    assert steps == {
        "bad": "timed_out",
        "good": "cancelled",
        "after-bad": "skipped",
        "after-good": "skipped",
    }
    kept = cft("workflow", "run", "branches", "--keep-going", "--json", config=small_config)
    assert kept.exit_code == 1
    steps = {s["id"]: s["status"] for s in json.loads(kept.stdout)["steps"]}
    assert steps == {
        "bad": "timed_out",
        "good": "succeeded",
        "after-bad": "skipped",
        "after-good": "succeeded",
    }


def test_workflow_run_bad_timeout() -> None:
    """--timeout 0 is refused before anything runs."""
    assert "--timeout" in one_error_line(cft("workflow", "run", "bug-fix", "--timeout", "0"))


# ------------------------------------------------------------------ agents


def test_agents_list() -> None:
    """agents list shows every agent; --json gives their settings."""
    result = cft("agents", "list")
    assert result.exit_code == 0
    assert "security-scanner" in result.stdout
    assert "agents/linter.md" in result.stdout
    doc = json.loads(cft("agents", "list", "--json").stdout)
    linter = next(a for a in doc if a["name"] == "linter")
    assert linter["model"] == "haiku"
    assert linter["max_tokens"] == 2048
    assert linter["domains"] == ["python", "code-quality"]


def test_agents_show() -> None:
    """agents show prints the definition; --json includes its text."""
    result = cft("agents", "show", "security-scanner")
    assert result.exit_code == 0
    definition = (EXAMPLE.parent / "agents" / "security-scanner.md").read_text()
    assert definition.strip().splitlines()[0] in result.stdout
    doc = json.loads(cft("agents", "show", "security-scanner", "--json").stdout)
    assert doc["definition"] == definition
    assert doc["contract"] == "contracts/security-scanner.contract"
    assert doc["contract_text"]
    assert "code-quality-check" in doc["workflows"]


def test_agents_show_unknown() -> None:
    """An unknown agent is one error line."""
    one_error_line(cft("agents", "show", "nobody"))


# ------------------------------------------------------------------ config


def test_config_validate() -> None:
    """A good config: ✓ path: N agents, M workflows."""
    result = cft("config", "validate")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"✓ {EXAMPLE}: 7 agents, 3 workflows"


def test_config_validate_bad(tmp_path: Path) -> None:
    """An unknown key is one line naming its JSON path, exit 2."""
    path = write_config(tmp_path, {"performance": {"max_concurent_agents": 3}}, {})
    line = one_error_line(cft("config", "validate", config=path))
    assert "performance.max_concurent_agents" in line
    assert "did you mean" in line


def test_config_validate_cycle(tmp_path: Path) -> None:
    """A cyclic workflow fails validation with the cycle spelled out."""
    doc = {
        "agents": {"a": {"file": "a.md"}},
        "workflows": {
            "loop": {
                "steps": [
                    {"id": "x", "agent": "a", "dependencies": ["y"]},
                    {"id": "y", "agent": "a", "dependencies": ["x"]},
                ]
            }
        },
    }
    line = one_error_line(cft("config", "validate", config=write_config(tmp_path, doc, {"a": "A"})))
    assert "cycle" in line


def test_config_migrate(tmp_path: Path) -> None:
    """migrate shows the diff and asks (--yes skips), keeps a backup, and is idempotent."""
    shutil.copytree(EXAMPLE.parent, tmp_path / ".claude")
    path = tmp_path / ".claude" / "claude.json"
    original = path.read_text()
    declined = cft("config", "migrate", config=path, input="n\n")
    assert declined.exit_code == 0, declined.stderr
    assert path.read_text() == original  # shown, asked, declined: nothing written
    assert '+  "retry": {' in declined.stdout
    assert "nothing written" in declined.stderr
    unanswered = cft("config", "migrate", config=path, input="")  # no answer at all
    assert unanswered.exit_code == 2
    assert "error: --yes: no confirmation given (pass --yes to skip it)" in unanswered.stderr
    result = cft("config", "migrate", "--yes", config=path)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / ".claude" / "claude.json.bak").read_text() == original
    assert str(path) in result.stdout
    migrated = json.loads(path.read_text())
    assert migrated["retry"]["max_attempts"] == 4
    assert migrated["governance"]["hooks_enabled"] is True  # unknown sections are kept
    assert cft("config", "validate", config=path).exit_code == 0
    again = cft("config", "migrate", config=path)
    assert again.exit_code == 0
    assert "already up to date" in again.stdout
    assert not (tmp_path / ".claude" / "claude.json.bak.1").exists()


# ------------------------------------------------------------------ init and sim


def test_init_and_refuse_overwrite(tmp_path: Path) -> None:
    """init writes a working project; a second init refuses unless --force."""
    result = cft("init", str(tmp_path), config=None)
    assert result.exit_code == 0, result.stderr
    config = tmp_path / ".claude" / "claude.json"
    assert config.is_file()
    assert "cft workflow run code-quality-check" in result.stdout
    assert cft("config", "validate", config=config).exit_code == 0
    line = one_error_line(cft("init", str(tmp_path), config=None))
    assert "--force" in line
    assert cft("init", str(tmp_path), "--force", config=None).exit_code == 0


def test_init_project_runs(tmp_path: Path) -> None:
    """The scaffolded workflow runs end to end on the simulator."""
    assert cft("init", str(tmp_path), config=None).exit_code == 0
    config = tmp_path / ".claude" / "claude.json"
    result = cft("workflow", "run", "code-quality-check", "--json", config=config)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "succeeded"


def test_sim_serve_bad_faults() -> None:
    """A malformed --faults spec is one error line, exit 2."""
    line = one_error_line(cft("sim", "serve", "--faults", "429:lots", config=None))
    assert line.startswith("error: --faults:")


def test_verbose_never_prints_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """-vv logs requests to stderr, but never the API key."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key-very-secret")
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        result = cft("-vv", "run", "linter", "hi")
    assert result.exit_code == 0, result.stderr
    assert "DEBUG" in result.stderr or "INFO" in result.stderr
    assert "fake-key-very-secret" not in result.output


def test_second_workflow_run_is_cached_and_no_cache_skips_it() -> None:
    """A repeated `workflow run` is served from the cache; --no-cache goes to the API again."""
    first = json.loads(cft("workflow", "run", "code-quality-check", "--json").stdout)
    second = json.loads(cft("workflow", "run", "code-quality-check", "--json").stdout)
    fresh = json.loads(cft("workflow", "run", "code-quality-check", "--json", "--no-cache").stdout)
    assert not any(step["cached"] for step in first["steps"])
    assert all(step["cached"] for step in second["steps"])
    assert second["cost_usd"] == 0.0
    assert second["saved_usd"] == pytest.approx(first["cost_usd"])
    assert not any(step["cached"] for step in fresh["steps"])
    assert [s["output"] for s in second["steps"]] == [s["output"] for s in first["steps"]]


def test_runs_are_recorded_for_metrics() -> None:
    """Every finished call lands in the metrics file that `cft metrics` reads."""
    assert cft("run", "linter", "Review a.py", "--json").exit_code == 0
    assert cft("workflow", "run", "code-quality-check", "--json").exit_code == 0
    summary = json.loads(cft("metrics", "summary", "--json").stdout)
    assert summary["overall"]["calls"] == 5
    assert summary["overall"]["succeeded"] == 5
    assert summary["agents"]["linter"]["calls"] == 2
    assert "code-quality-check" in summary["workflows"]
