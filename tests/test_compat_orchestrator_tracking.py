"""AgentOrchestrator's performance tracking (the CLI's metrics file) and lexical agent selection."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claude_force_trio import AgentOrchestrator, MetricsTracker, TrackingDisabledError
from claude_force_trio.cli import app
from claude_force_trio.simulator import Fault, SimulatorHandle, run_simulator_in_thread
from tests.test_compat_orchestrator import make_project


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorHandle]:
    """A simulator on a thread behind ANTHROPIC_BASE_URL, with a key set."""
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0) as handle:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", handle.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key-test-key")
        yield handle


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with no retries, so a scripted failure fails at once."""
    return make_project(tmp_path, retry={"max_attempts": 1})


def test_calls_land_in_the_file_cft_metrics_reads(
    project: Path, sim: SimulatorHandle, isolated_state: Path
) -> None:
    """Every call is recorded in $CFT_HOME/metrics; the summary and `cft metrics` agree."""
    orchestrator = AgentOrchestrator(project)
    assert orchestrator.run_agent("code-reviewer", "Review a.py").success
    sim.script(Fault("500"))
    assert not orchestrator.run_agent("test-writer", "Test a.py").success
    assert (isolated_state / "metrics" / "executions.jsonl").is_file()
    summary = orchestrator.get_performance_summary()
    assert summary["total_executions"] == 2
    assert summary["successful_executions"] == 1
    assert summary["success_rate"] == 0.5
    assert summary["total_tokens"] == summary["total_input_tokens"] + summary["total_output_tokens"]
    assert summary["total_cost"] > 0
    assert summary["time_period"] == "all time"
    scoped = ["--config", str(project), "metrics", "summary", "--json"]
    cli = json.loads(CliRunner().invoke(app, scoped).stdout)
    assert cli["overall"]["calls"] == 2
    assert cli["overall"]["succeeded"] == 1


def test_per_agent_figures_and_cost_breakdown(project: Path, sim: SimulatorHandle) -> None:
    """get_agent_performance and get_cost_breakdown keep Claude Force's keys."""
    orchestrator = AgentOrchestrator(project)
    for n, agent in enumerate(("code-reviewer", "code-reviewer", "test-writer")):
        assert orchestrator.run_agent(agent, f"task {n}").success
    stats = orchestrator.get_agent_performance()
    assert set(stats) == {"code-reviewer", "test-writer"}
    assert stats["code-reviewer"]["executions"] == 2
    assert set(stats["code-reviewer"]) == {
        "executions",
        "success_rate",
        "total_cost",
        "avg_execution_time_ms",
        "total_tokens",
    }
    assert set(orchestrator.get_agent_performance("test-writer")) == {"test-writer"}
    costs = orchestrator.get_cost_breakdown()
    by_agent = list(costs["by_agent"].values())
    assert by_agent == sorted(by_agent, reverse=True)  # costliest first
    assert costs["by_agent"]["code-reviewer"] == pytest.approx(stats["code-reviewer"]["total_cost"])
    assert costs["total"] == pytest.approx(sum(costs["by_agent"].values()))
    assert costs["total"] == pytest.approx(sum(costs["by_model"].values()))


def test_hours_window_leaves_older_calls_out(isolated_state: Path) -> None:
    """get_summary(hours=1) counts only the last hour; 0 or None means all history."""
    folder = isolated_state / "metrics"
    folder.mkdir()
    now = datetime.now(UTC)
    lines = [
        {"ts": (now - timedelta(hours=age)).isoformat(), "agent": "a", "latency_ms": 10.0}
        for age in (0, 5)
    ]
    (folder / "executions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    tracker = MetricsTracker()
    assert tracker.get_summary(hours=1)["total_executions"] == 1
    assert tracker.get_summary(hours=1)["time_period"] == "last 1 hours"
    assert tracker.get_summary(hours=0)["total_executions"] == 2
    assert tracker.get_summary()["total_executions"] == 2


def test_export_json_and_csv(project: Path, sim: SimulatorHandle, tmp_path: Path) -> None:
    """export_performance_metrics writes Claude Force's JSON sections or one CSV row per call."""
    orchestrator = AgentOrchestrator(project)
    assert orchestrator.run_agent("code-reviewer", "x").success
    orchestrator.export_performance_metrics(str(tmp_path / "out" / "m.json"))
    document = json.loads((tmp_path / "out" / "m.json").read_text())
    assert list(document) == ["summary", "agent_stats", "cost_breakdown", "trends", "executions"]
    assert document["executions"][0]["agent_name"] == "code-reviewer"
    assert document["trends"]["executions"] == [1]
    orchestrator.export_performance_metrics(str(tmp_path / "m.csv"), format="csv")
    with (tmp_path / "m.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["agent_name"] for row in rows] == ["code-reviewer"]
    with pytest.raises(ValueError, match="unsupported format 'xml'"):
        orchestrator.export_performance_metrics(str(tmp_path / "m.xml"), format="xml")


def test_tracking_disabled_raises_runtime_error_and_records_nothing(
    project: Path, sim: SimulatorHandle, isolated_state: Path
) -> None:
    """enable_tracking=False: no tracker, the readers raise RuntimeError, nothing is written."""
    orchestrator = AgentOrchestrator(project, enable_tracking=False)
    assert orchestrator.tracker is None
    assert orchestrator.run_agent("code-reviewer", "x").success
    assert not (isolated_state / "metrics").exists()
    for read in (
        orchestrator.get_performance_summary,
        orchestrator.get_agent_performance,
        orchestrator.get_cost_breakdown,
        lambda: orchestrator.export_performance_metrics("m.json"),
    ):
        with pytest.raises(RuntimeError, match="Performance tracking is not enabled") as caught:
            read()
        assert isinstance(caught.value, TrackingDisabledError)
        assert "enable_tracking=True" in str(caught.value)


# -- agent selection without a model ----------------------------------------------------------


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """Four agents with distinct vocabularies."""
    agents = {
        "code-reviewer": {"file": "a/cr.md", "domains": ["code-quality", "review"], "priority": 1},
        "security-specialist": {"file": "a/sec.md", "domains": ["security"], "priority": 1},
        "backend-developer": {"file": "a/be.md", "domains": ["backend", "api", "database"]},
        "devops-engineer": {"file": "a/ops.md", "domains": ["infrastructure", "deployment"]},
    }
    files = {
        "a/cr.md": "Expert in code quality and reviews",
        "a/sec.md": "Finds SQL injection and other vulnerabilities",
        "a/be.md": "Designs REST APIs and databases",
        "a/ops.md": "Runs Kubernetes clusters and CI pipelines",
    }
    return make_project(tmp_path, agents=agents, files=files, workflows={})


def test_recommend_agents_is_a_deterministic_lexical_match(team: Path) -> None:
    """Task words in an agent's name/domains count 1, in its definition ½; best first."""
    orchestrator = AgentOrchestrator(team)
    top = orchestrator.recommend_agents("Design a REST API for the user database", top_k=2)
    assert [r["agent"] for r in top] == ["backend-developer"]
    # design(½) rest(½) api(1) user(0) database(1) → 3 of 5 words
    assert top[0]["confidence"] == 0.6
    assert set(top[0]) == {"agent", "confidence", "reasoning", "domains", "priority"}
    assert "domains: api, database" in top[0]["reasoning"]
    ranked = orchestrator.recommend_agents("security review of code", top_k=4, min_confidence=0)
    assert [r["agent"] for r in ranked[:2]] == ["code-reviewer", "security-specialist"]
    assert [r["confidence"] for r in ranked] == sorted(
        (r["confidence"] for r in ranked), reverse=True
    )
    assert orchestrator.get_cache_stats()["definition_cache_size"] == 0


def test_explain_agent_selection_gives_rank_and_rivals(team: Path) -> None:
    """explain_agent_selection says rank, confidence and candidates, or why not selected."""
    orchestrator = AgentOrchestrator(team)
    task = "Set up Kubernetes deployment pipelines"
    explained = orchestrator.explain_agent_selection(task, "devops-engineer")
    assert explained["selected"] is True
    assert explained["rank"] == 1
    assert explained["all_candidates"][0] == {"agent": "devops-engineer", "confidence": 0.5}
    missing = orchestrator.explain_agent_selection(task, "code-reviewer")
    assert missing == {
        "agent": "code-reviewer",
        "selected": False,
        "reason": "Agent not found or confidence too low",
    }
