"""The example DAG reviews real files through tools, with typed findings (README: quick start).

The CLI runs in-process (typer's CliRunner) against the simulator with zero
latency: the embedded one (``--simulate``), or one on a thread of its own when
a test reads the simulator's request log.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner, Result

from claude_force_trio import load_config
from claude_force_trio.cli import app
from claude_force_trio.simulator import run_simulator_in_thread

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / ".claude" / "claude.json"
SCHEMA = EXAMPLE.parent / "schemas" / "findings.schema.json"
# The module the workflow's task names, relative to the workspace (the demo's is src/).
REVIEWED = "claude_force_trio/_tools/_paths.py"
WORKSPACE_TOOLS = ("read_file", "list_files", "search_text")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key, no base URL, instant simulator, state under tmp_path."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "CFT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CFT_SIM_LATENCY_SCALE", "0")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder holding a copy of the module the example reviews, at the path its task names."""
    folder = tmp_path / "ws"
    (folder / REVIEWED).parent.mkdir(parents=True)
    shutil.copyfile(REPO / "src" / REVIEWED, folder / REVIEWED)
    return folder


def run_dag(*args: str, simulate: bool = True) -> tuple[Result, dict[str, Any]]:
    """``cft [--simulate] workflow run code-quality-check ARGS --json``: result and document."""
    flags = ["--config", str(EXAMPLE), *(["--simulate"] if simulate else [])]
    result = CliRunner().invoke(
        app, [*flags, "workflow", "run", "code-quality-check", *args, "--no-cache", "--json"]
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    document: dict[str, Any] = json.loads(result.stdout)
    return result, document


def steps_of(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's steps by id."""
    return {step["id"]: step for step in document["steps"]}


def tool_names(step: Mapping[str, Any]) -> list[str]:
    """The tools a step called, in order."""
    return [call["name"] for call in step["tool_calls"]]


def user_text(body: Mapping[str, Any]) -> str:
    """The text of a request's first user message (the step's prompt)."""
    content = body["messages"][0]["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, Mapping))


def tool_results(bodies: Sequence[Mapping[str, Any]]) -> list[str]:
    """The text of every ``tool_result`` block the requests sent back."""
    found = []
    for body in bodies:
        for message in body["messages"]:
            content = message["content"]
            for block in content if isinstance(content, list) else ():
                if block.get("type") == "tool_result":
                    inner = block["content"]
                    found.append(inner if isinstance(inner, str) else json.dumps(inner))
    return found


def test_dag_reads_the_workspace_and_types_the_scan(workspace: Path) -> None:
    """With --workspace every step succeeds in 2 turns, calling workspace tools on the copy."""
    _, document = run_dag("--workspace", str(workspace))
    steps = steps_of(document)
    assert document["status"] == "succeeded"
    assert {s["status"] for s in steps.values()} == {"succeeded"}
    assert {s["stop_reason"] for s in steps.values()} == {"end_turn"}  # nothing truncated
    assert {s["turns"] for s in steps.values()} == {2}
    assert tool_names(steps["lint"]) == ["read_file"]
    assert tool_names(steps["types"]) == ["read_file"]
    assert sorted(tool_names(steps["scan"])) == ["read_file", "search_text"]
    assert tool_names(steps["review"]) == ["read_file"]
    calls = [call for step in steps.values() for call in step["tool_calls"]]
    assert not any(call["is_error"] for call in calls)
    # read_file names the reviewed module; search_text searches the whole workspace.
    assert all(REVIEWED in call["input"] for call in calls if call["name"] == "read_file")
    # The lint step's answer quotes what read_file returned: the module's first line.
    first_line = (workspace / REVIEWED).read_text().splitlines()[0]
    assert first_line[:40] in steps["lint"]["output"]


def test_scan_data_validates_against_the_schema_file(workspace: Path) -> None:
    """The scan step's data is a findings list valid for schemas/findings.schema.json."""
    _, document = run_dag("--workspace", str(workspace))
    data = steps_of(document)["scan"]["data"]
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    assert data["findings"]
    assert data["findings"][0]["file"] == REVIEWED
    assert {s["data"] for s in document["steps"] if s["id"] != "scan"} == {None}


def test_review_request_carries_the_scan_json(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review's prompt holds the scan's data as JSON; tool results hold the file's text."""
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        _, document = run_dag("--workspace", str(workspace), simulate=False)
        bodies = [r.body for r in sim.requests if r.path == "/v1/messages" and r.body]
    data = steps_of(document)["scan"]["data"]
    shown = json.dumps(data, ensure_ascii=False, sort_keys=True)
    review = [b for b in bodies if "## Output of step `scan`" in user_text(b)]
    assert review
    assert all(shown in user_text(b) for b in review)
    schema = json.loads(SCHEMA.read_text())
    scan = [b for b in bodies if "output_config" in b]
    assert scan
    assert all(b["output_config"]["format"]["schema"] == schema for b in scan)
    results = tool_results(bodies)
    first_line = (workspace / REVIEWED).read_text().splitlines()[0]
    assert any(first_line in text for text in results)
    assert any("os.open" in text for text in results)  # search_text found the scan's pattern


def test_without_a_workspace_one_notice_and_success() -> None:
    """No --workspace: one notice names the agents that asked; the run succeeds without tools."""
    result, document = run_dag()
    notices = [line for line in result.stderr.splitlines() if "not offered" in line]
    assert len(notices) == 1, result.stderr
    assert notices[0].startswith("notice: workspace tools are not offered to ")
    for agent in ("linter", "type-checker", "security-scanner", "code-reviewer"):
        assert agent in notices[0]
    assert "--workspace DIR" in notices[0]
    assert document["status"] == "succeeded"
    assert {s["turns"] for s in document["steps"]} == {1}
    assert all(s["tool_calls"] == [] for s in document["steps"])


def test_the_demo_workspace_holds_what_the_tasks_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's --workspace src (from the repository root) serves every tool call."""
    monkeypatch.chdir(REPO)
    _, document = run_dag("--workspace", "src")
    calls = [call for step in document["steps"] for call in step["tool_calls"]]
    assert document["status"] == "succeeded"
    assert len(calls) == 5
    assert [c for c in calls if c["is_error"]] == []


def test_step_tasks_mention_only_tools_their_agents_list() -> None:
    """Each code-quality-check task names a tool its agent lists (so the simulator calls it)."""
    config = load_config(EXAMPLE)
    workflow = config.workflows["code-quality-check"]
    for step in workflow.steps:
        listed = config.agents[step.agent].tools
        mentioned = [t for t in WORKSPACE_TOOLS if re.search(rf"\b{t}\b", step.task or "")]
        assert mentioned, step.id
        assert set(mentioned) <= set(listed), step.id
    scan = next(step for step in workflow.steps if step.id == "scan")
    assert scan.output_schema == json.loads(SCHEMA.read_text())
    assert scan.output_schema_file is not None
    assert scan.output_schema_file.name == SCHEMA.name
    assert REVIEWED in (workflow.task or "")
    assert (REPO / "src" / REVIEWED).is_file()  # the file the task names is there to read


def test_example_config_validates_and_the_workflow_shows() -> None:
    """cft config validate passes on the examples; workflow show lists the 4 steps."""
    runner = CliRunner()
    valid = runner.invoke(app, ["--config", str(EXAMPLE), "config", "validate"])
    assert valid.exit_code == 0, valid.stderr
    assert "7 agents, 3 workflows" in valid.stdout
    shown = runner.invoke(
        app, ["--config", str(EXAMPLE), "workflow", "show", "code-quality-check", "--json"]
    )
    assert shown.exit_code == 0, shown.stderr
    steps = [step["id"] for step in json.loads(shown.stdout)["steps"]]
    assert steps == ["lint", "types", "scan", "review"]
