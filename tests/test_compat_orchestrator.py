"""Claude Force 1.3's AgentOrchestrator behaviour, ported: results, errors, lazy loading, workflows.

Runs go to the simulator: the embedded one (``simulate=True``) or, where a test
reads what each call sent, one on a thread behind ``ANTHROPIC_BASE_URL`` (real
HTTP over loopback).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_force_trio import (
    AgentOrchestrator,
    AgentResult,
    ConfigError,
    ConfigNotFoundError,
    MissingAPIKeyError,
    UnknownAgentError,
    UnknownWorkflowError,
    load_config,
    open_engine,
)
from claude_force_trio.simulator import SimulatorHandle, run_simulator_in_thread

AGENTS = {
    "code-reviewer": {
        "file": "agents/code-reviewer.md",
        "contract": "contracts/code-reviewer.contract",
        "domains": ["code-quality", "security"],
        "priority": 1,
    },
    "test-writer": {"file": "agents/test-writer.md", "domains": ["testing"], "priority": 2},
    "doc-writer": {"file": "agents/doc-writer.md", "domains": ["documentation"], "priority": 3},
}
WORKFLOWS: dict[str, Any] = {"full-review": ["code-reviewer", "test-writer"], "empty": []}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, no base URL, instant simulator replies."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CFT_SIM_LATENCY_SCALE", "0")


def make_project(root: Path, *, files: dict[str, str] | None = None, **doc: Any) -> Path:
    """Write a ``.claude/claude.json`` (and agent files) under ``root``; return its path."""
    claude = root / ".claude"
    claude.mkdir(parents=True)
    written = {"agents/code-reviewer.md": "# Code reviewer\n\nReviews code."}
    written |= {"agents/test-writer.md": "# Test writer\n\nWrites pytest tests."}
    for name, text in (written if files is None else files).items():
        (claude / name).parent.mkdir(parents=True, exist_ok=True)
        (claude / name).write_text(text)
    path = claude / "claude.json"
    path.write_text(json.dumps({"agents": AGENTS, "workflows": WORKFLOWS} | doc))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose contract and doc-writer files do not exist (Claude Force ran it)."""
    return make_project(tmp_path)


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorHandle]:
    """A simulator on a thread, reached through ANTHROPIC_BASE_URL, with a key set."""
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0) as handle:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", handle.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key-test-key")
        yield handle


def user_text(handle: SimulatorHandle, index: int) -> str:
    """The user message of the ``index``-th request the simulator saw."""
    body = handle.requests[index].body
    assert body is not None
    return str(body["messages"][0]["content"])


def system_text(handle: SimulatorHandle, index: int) -> str:
    """The system prompt of the ``index``-th request, its blocks joined."""
    body = handle.requests[index].body
    assert body is not None
    return "\n".join(block["text"] for block in body["system"])


# -- results --------------------------------------------------------------------------------


def test_agent_result_has_claude_force_field_order() -> None:
    """AgentResult(True, "out") works, errors defaults to [], to_dict keeps Claude Force's keys."""
    result = AgentResult(True, "out")
    assert (result.success, result.output, result.errors, result.metadata) == (True, "out", [], {})
    assert result.agent_name == ""
    assert list(result.to_dict()) == ["success", "output", "errors", "metadata", "agent_name"]


def test_success_has_empty_errors_and_engine_metadata(project: Path) -> None:
    """A successful run has errors == [] and Claude Force's metadata keys plus the engine's."""
    result = AgentOrchestrator(project, simulate=True).run_agent("code-reviewer", "Review x.py")
    assert result.success
    assert result.errors == []
    assert result.agent_name == "code-reviewer"
    meta = result.metadata
    assert meta["tokens_used"] == meta["input_tokens"] + meta["output_tokens"] > 0
    assert {"model", "execution_time_ms", "step_id", "cost_usd", "cached"} <= set(meta)


# -- errors: ours, and the builtin Claude Force raised ---------------------------------------


def test_missing_config_is_file_not_found_naming_init(tmp_path: Path) -> None:
    """A missing claude.json raises FileNotFoundError (and ConfigError) saying how to create one."""
    with pytest.raises(FileNotFoundError) as caught:
        AgentOrchestrator(tmp_path / "claude.json")
    assert isinstance(caught.value, ConfigNotFoundError)
    assert "not found" in str(caught.value)
    assert "claude-force init" in str(caught.value)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "claude.json")


def test_unknown_agent_in_get_agent_info_suggests_names(project: Path) -> None:
    """get_agent_info raises ValueError with "Did you mean?" or "Available agents:"."""
    orchestrator = AgentOrchestrator(project)
    with pytest.raises(ValueError, match=r"'code-reviwer' \(not found\)\. Did you mean\? code-rev"):
        orchestrator.get_agent_info("code-reviwer")
    with pytest.raises(UnknownAgentError, match="Available agents: code-reviewer, doc-writer"):
        orchestrator.get_agent_info("xyz")


def test_unknown_workflow_raises_value_error_with_suggestion(project: Path) -> None:
    """A misspelt workflow raises UnknownWorkflowError, a ValueError, with "Did you mean?"."""
    orchestrator = AgentOrchestrator(project, simulate=True)
    with pytest.raises(ValueError, match=r"Did you mean\? full-review") as caught:
        orchestrator.run_workflow("full-reveiw", "test")
    assert isinstance(caught.value, UnknownWorkflowError)
    assert isinstance(caught.value, ConfigError)


async def test_engine_and_loader_raise_the_same_value_errors(tmp_path: Path) -> None:
    """The engine's and the loader's unknown names are ValueErrors too; old messages kept."""
    agents = {"reviewer": {"file": "agents/a.md"}}
    path = make_project(tmp_path, agents=agents, files={"agents/a.md": "A"}, workflows={})
    async with open_engine(load_config(path), backend="simulator") as engine:
        with pytest.raises(ValueError, match=r"^agent: unknown agent 'b' \(not found\)"):
            engine.agent("b")
        with pytest.raises(UnknownWorkflowError, match="Available workflows: none configured"):
            engine.workflow("w")
    path.write_text(json.dumps({"agents": agents, "workflows": {"w": ["revewer"]}}))
    with pytest.raises(UnknownAgentError) as caught:
        load_config(path)
    assert str(caught.value) == "workflows.w[0]: unknown agent 'revewer' (did you mean 'reviewer'?)"


def test_validate_api_key_raises_claude_force_message(project: Path) -> None:
    """validate_api_key=True with no key raises ValueError telling how to set one."""
    with pytest.raises(ValueError, match="API key") as caught:
        AgentOrchestrator(project, anthropic_api_key=None, validate_api_key=True)
    assert isinstance(caught.value, MissingAPIKeyError)
    message = str(caught.value)
    assert "API key" in message
    assert "export ANTHROPIC_API_KEY" in message
    assert "https://console.anthropic.com" in message
    assert AgentOrchestrator(project, anthropic_api_key="sk-x", validate_api_key=True)


# -- lazy loading ---------------------------------------------------------------------------


def test_config_is_the_raw_document_and_edits_are_seen(project: Path) -> None:
    """config is Claude Force's raw dict; an agent added to it (and its file) runs."""
    orchestrator = AgentOrchestrator(project, simulate=True)
    assert orchestrator.config["workflows"]["full-review"] == ["code-reviewer", "test-writer"]
    (project.parent / "agents" / "late.md").write_text("# Late agent")
    orchestrator.config["agents"]["late"] = {"file": "agents/late.md"}
    assert orchestrator.run_agent("late", "hello").success


def test_missing_contract_reads_as_empty(project: Path) -> None:
    """A declared contract file that does not exist counts as empty: the run succeeds."""
    orchestrator = AgentOrchestrator(project, simulate=True)
    assert orchestrator._load_agent_contract("code-reviewer") == ""
    assert orchestrator.run_agent("code-reviewer", "Review x.py").success


def test_agent_file_written_after_construction_is_read_at_run_time(project: Path) -> None:
    """doc-writer's file does not exist when the orchestrator is built; written later, it runs."""
    orchestrator = AgentOrchestrator(project, simulate=True)
    first = orchestrator.run_agent("doc-writer", "Document x.py")
    assert not first.success
    assert "file not found: agents/doc-writer.md" in first.errors[0]
    (project.parent / "agents" / "doc-writer.md").write_text("# Doc writer")
    assert orchestrator.run_agent("doc-writer", "Document x.py").success


def test_empty_workflow_runs_nothing(project: Path) -> None:
    """An empty workflow [] is accepted and returns no results."""
    assert AgentOrchestrator(project, simulate=True).run_workflow("empty", "anything") == []


def test_cached_definition_is_used_until_the_cache_is_cleared(
    project: Path, sim: SimulatorHandle
) -> None:
    """An edited agent file is sent only after clear_agent_cache(), as in Claude Force."""
    orchestrator = AgentOrchestrator(project)
    definition = project.parent / "agents" / "code-reviewer.md"
    assert orchestrator.run_agent("code-reviewer", "one").success
    definition.write_text("# Code reviewer\n\nEDITED")
    assert orchestrator.run_agent("code-reviewer", "two").success
    assert "EDITED" not in system_text(sim, 1)
    assert orchestrator.get_cache_stats()["cached_agents"] == ["code-reviewer"]
    orchestrator.clear_agent_cache()
    assert orchestrator.get_cache_stats()["definition_cache_size"] == 0
    assert orchestrator.run_agent("code-reviewer", "three").success
    assert "EDITED" in system_text(sim, 2)


# -- failures as results ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "task", "expected"),
    [
        ("nonexistent-agent", "test", "unknown agent 'nonexistent-agent' (not found)"),
        (None, "test", "unknown agent None (not found)"),
        ("code-reviewer", "", "task: a task is required"),
        ("code-reviewer", None, "task: expected a string, got NoneType"),
    ],
)
def test_run_agent_returns_failures_as_results(
    project: Path, agent: Any, task: Any, expected: str
) -> None:
    """run_agent never raises for a bad agent or task: success=False, the reason in errors."""
    result = AgentOrchestrator(project, simulate=True).run_agent(agent, task)
    assert not result.success
    assert result.output == ""
    assert expected in result.errors[0]
    assert result.metadata["execution_time_ms"] >= 0


def test_no_backend_is_a_failed_result_not_a_fake_answer(project: Path) -> None:
    """With no key and no simulate=True the run fails with the reason (never the simulator)."""
    result = AgentOrchestrator(project).run_agent("code-reviewer", "Review x.py")
    assert not result.success
    assert "ANTHROPIC_API_KEY" in result.errors[0]


# -- workflows -------------------------------------------------------------------------------


def test_workflow_passes_outputs_along_the_chain(project: Path, sim: SimulatorHandle) -> None:
    """By default the second agent's request carries the first agent's output."""
    results = AgentOrchestrator(project).run_workflow("full-review", "Build auth")
    assert [r.agent_name for r in results] == ["code-reviewer", "test-writer"]
    assert results[0].output
    assert results[0].output in user_text(sim, 1)


def test_pass_output_to_next_false_sends_only_the_task(project: Path, sim: SimulatorHandle) -> None:
    """pass_output_to_next=False: each agent gets the task alone, in the workflow's order."""
    orchestrator = AgentOrchestrator(project)
    results = orchestrator.run_workflow("full-review", "Build auth", pass_output_to_next=False)
    assert [r.success for r in results] == [True, True]
    assert [r.agent_name for r in results] == ["code-reviewer", "test-writer"]
    assert results[0].output not in user_text(sim, 1)
    assert "Build auth" in user_text(sim, 1)


def test_workflow_stops_after_a_failed_agent(project: Path) -> None:
    """A workflow whose second agent cannot be loaded reports that agent's failure."""
    orchestrator = AgentOrchestrator(project, simulate=True)
    orchestrator.config["workflows"]["broken"] = ["code-reviewer", "doc-writer", "test-writer"]
    results = orchestrator.run_workflow("broken", "x")
    assert [(r.agent_name, r.success) for r in results] == [("doc-writer", False)]
    assert "agents/doc-writer.md" in results[0].errors[0]


# -- listings ---------------------------------------------------------------------------------


def test_listings_keep_claude_force_shapes(project: Path) -> None:
    """list_agents, list_workflows and get_agent_info return Claude Force's keys."""
    orchestrator = AgentOrchestrator(project)
    agents = orchestrator.list_agents()
    assert [a["name"] for a in agents] == ["code-reviewer", "test-writer", "doc-writer"]
    assert agents[0] == {
        "name": "code-reviewer",
        "file": "agents/code-reviewer.md",
        "domains": ["code-quality", "security"],
        "priority": 1,
    }
    assert orchestrator.list_workflows() == WORKFLOWS
    info = orchestrator.get_agent_info("doc-writer")
    assert info["description"] == "No description available"
    assert info["contract"] == ""
    assert info["priority"] == 3


# -- sync calls from inside a running loop ------------------------------------------------------


def test_sync_call_inside_a_running_asyncio_loop(project: Path) -> None:
    """A sync run_agent called from async code runs on a worker thread instead of failing."""

    async def main() -> AgentResult:
        return AgentOrchestrator(project, simulate=True).run_agent("code-reviewer", "x")

    assert asyncio.run(main()).success
