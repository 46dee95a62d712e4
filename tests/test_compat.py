"""The seed's API: AgentOrchestrator, sync from plain Python and async inside trio."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_force_trio import AgentOrchestrator, AgentResult, ConfigError

EXAMPLES = Path(__file__).parents[1] / "examples" / ".claude" / "claude.json"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, no base URL, instant simulator replies."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CFT_SIM_LATENCY_SCALE", "0")


def test_sync_execute_agent_from_plain_python() -> None:
    """execute_agent runs its own trio loop and returns Claude Force's AgentResult."""
    orchestrator = AgentOrchestrator(config_path=EXAMPLES, simulate=True)
    result = orchestrator.execute_agent("linter", "Review utils.py")
    assert isinstance(result, AgentResult)
    assert result.success
    assert result.errors == []
    assert "utils.py" in result.output
    assert result.metadata["input_tokens"] > 0
    assert result.metadata["tokens_used"] == (
        result.metadata["input_tokens"] + result.metadata["output_tokens"]
    )
    assert result.to_dict()["agent_name"] == "linter"
    # The seed's own name and its extra keywords still work.
    assert orchestrator.run_agent("linter", "Review utils.py", workflow_name="x").success


def test_sync_execute_workflow_legacy_list() -> None:
    """A legacy list workflow runs as a chain and returns one result per agent, in order."""
    orchestrator = AgentOrchestrator(config_path=EXAMPLES, anthropic_api_key=None, simulate=True)
    results = orchestrator.run_workflow("bug-fix", "Users get a 500 on /api/users")
    assert [r.agent_name for r in results] == orchestrator.list_workflows()["bug-fix"]
    assert all(r.success for r in results)


async def test_async_methods_inside_trio() -> None:
    """The *_async methods run inside the caller's trio loop."""
    orchestrator = AgentOrchestrator(config_path=EXAMPLES, simulate=True)
    single = await orchestrator.execute_agent_async("type-checker", "Check models.py")
    assert single.success
    many = await orchestrator.execute_multiple_async(
        [("linter", "a.py"), {"agent": "security-scanner", "task": "b.py"}]
    )
    assert [r.agent_name for r in many] == ["linter", "security-scanner"]
    steps = await orchestrator.execute_workflow_async("code-quality-check")
    assert [r.agent_name for r in steps][-1] == "code-reviewer"
    assert all(r.success for r in steps)
    assert {r.metadata["step_id"] for r in steps} == {"lint", "types", "scan", "review"}


def test_failures_come_back_as_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable API gives success=False with the error, never an exception."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    orchestrator = AgentOrchestrator(config_path=EXAMPLES, api_key="fake-key-test-secret")
    result = orchestrator.execute_agent("linter", "x")
    assert not result.success
    assert result.errors
    assert "fake-key-test-secret" not in repr(orchestrator)
    assert "fake-key-test-secret" not in " ".join(result.errors)


def test_listing_and_info() -> None:
    """list_agents, list_workflows and get_agent_info keep the seed's shapes."""
    orchestrator = AgentOrchestrator(config_path=EXAMPLES)
    agents = orchestrator.list_agents()
    assert {a["name"] for a in agents} >= {"linter", "code-reviewer"}
    assert [a["priority"] for a in agents] == sorted(a["priority"] for a in agents)
    assert orchestrator.list_workflows()["code-quality-check"][-1] == "code-reviewer"
    info = orchestrator.get_agent_info("linter")
    assert info["name"] == "linter"
    assert info["description"]
    with pytest.raises(ConfigError, match="unknown agent 'nope'"):
        orchestrator.get_agent_info("nope")


def test_missing_config_is_a_config_error(tmp_path: Path) -> None:
    """A missing claude.json raises ConfigError naming the file."""
    with pytest.raises(ConfigError, match="not found"):
        AgentOrchestrator(config_path=tmp_path / "claude.json")
