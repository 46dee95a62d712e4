"""Metrics from every entry point, once per call, each line carrying its project key.

The library records by default (``open_engine(metrics=True)``), the CLI and the
compatibility API through it (no second recorder: one line per call), and
``cft metrics`` shows the current project unless ``--all-projects``.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from claude_force_trio import AgentOrchestrator, load_config, open_engine
from claude_force_trio._metrics import NO_PROJECT, MetricsRecorder, aggregate, read_records
from claude_force_trio.cli import app
from tests.engine_support import message
from tests.test_aggregate import line
from tests.test_config import BASE, make_project
from tests.test_metrics import finished

runner = CliRunner()


def answer(request: httpx.Request) -> httpx.Response:
    """Answer every request with one short message."""
    return httpx.Response(200, json=message("ok", json.loads(request.content)["model"]))


def lines(folder: Path) -> list[dict[str, Any]]:
    """Every line of ``folder/executions.jsonl``, parsed."""
    path = folder / "executions.jsonl"
    if not path.exists():
        return []
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


def project(root: Path, **extra: Any) -> Path:
    """A project with agents ``linter`` and ``reviewer`` (the response cache off)."""
    doc = copy.deepcopy(BASE)
    doc["cache"] = {"enabled": False}
    doc.update(extra)
    return make_project(root, doc)


async def test_the_library_records_by_default_with_the_project_key(
    tmp_path: Path, isolated_state: Path
) -> None:
    """open_engine() writes one line per call to $CFT_HOME/metrics, flushed when it closes."""
    config = load_config(project(tmp_path))
    async with open_engine(config, transport=httpx.MockTransport(answer)) as engine:
        assert any(isinstance(hook, MetricsRecorder) for hook in engine.hooks)
        await engine.run_agent("linter", "lint a.py")
        await engine.run_many([("linter", "x"), ("reviewer", "y")])
    written = lines(isolated_state / "metrics")
    assert sorted(r["agent"] for r in written) == ["linter", "linter", "reviewer"]
    assert {r["project"] for r in written} == {config.project_key}
    assert config.project_key.startswith("path:")


async def test_run_many_jobs_of_one_agent_keep_their_own_records(
    tmp_path: Path, isolated_state: Path
) -> None:
    """Jobs of one agent are told apart (``jobs[INDEX]``, as the journal names them): each
    job's record carries its own task hash, where they used to share the agent's step id and
    all but one lost it."""
    config = load_config(project(tmp_path))
    tasks = ["lint a.py", "lint b.py", "lint c.py"]
    async with open_engine(config, transport=httpx.MockTransport(answer)) as engine:
        results = await engine.run_many([("linter", task) for task in tasks])
    assert [r.id for r in results] == ["jobs[0]", "jobs[1]", "jobs[2]"]
    assert [r.agent for r in results] == ["linter"] * 3
    written = {r["step_id"]: r["task_hash"] for r in lines(isolated_state / "metrics")}
    assert sorted(written) == ["jobs[0]", "jobs[1]", "jobs[2]"]
    assert None not in written.values()
    assert len(set(written.values())) == 3


async def test_metrics_false_opts_out_and_a_path_writes_elsewhere(
    tmp_path: Path, isolated_state: Path
) -> None:
    """metrics=False records nothing; metrics=PATH records there only."""
    config = load_config(project(tmp_path, project="named"))
    transport = httpx.MockTransport(answer)
    async with open_engine(config, transport=transport, metrics=False) as engine:
        assert not any(isinstance(hook, MetricsRecorder) for hook in engine.hooks)
        await engine.run_agent("linter", "t")
    async with open_engine(config, transport=transport, metrics=tmp_path / "elsewhere") as engine:
        await engine.run_agent("linter", "t")
    assert lines(isolated_state / "metrics") == []
    assert [r["project"] for r in lines(tmp_path / "elsewhere")] == ["named"]


def test_cli_run_records_each_call_once(tmp_path: Path, isolated_state: Path) -> None:
    """``cft run`` and ``cft workflow run``: one line per call (the CLI adds no recorder)."""
    config = project(tmp_path)
    one = runner.invoke(app, ["--simulate", "--config", str(config), "run", "linter", "lint"])
    assert one.exit_code == 0, one.output
    flow = ["--simulate", "--config", str(config), "workflow", "run", "review"]
    flow += ["--task", "check it", "--no-journal"]
    assert runner.invoke(app, flow).exit_code == 0
    written = lines(isolated_state / "metrics")
    assert [r["step_id"] for r in written] == ["linter", "lint", "review"]
    assert {r["project"] for r in written} == {load_config(config).project_key}


def test_the_compat_orchestrator_records_once_in_its_project(
    tmp_path: Path, isolated_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AgentOrchestrator: one line per call, its config's project; its tracker reads only that."""
    config = project(tmp_path, project="compat")
    with MetricsRecorder(isolated_state / "metrics", project="someone-else") as other:
        other(finished("elsewhere"))
    orchestrator = AgentOrchestrator(config, simulate=True)
    assert orchestrator.run_agent("linter", "lint a.py").success
    mine = [r for r in lines(isolated_state / "metrics") if r["project"] == "compat"]
    assert len(mine) == 1
    assert orchestrator.get_performance_summary()["total_executions"] == 1
    silent = AgentOrchestrator(config, simulate=True, enable_tracking=False)
    assert silent.run_agent("linter", "lint b.py").success
    assert len(lines(isolated_state / "metrics")) == 2


def history(home: Path, key_a: str) -> None:
    """Lines of project A (2), of project B (1), and one of no project (an old line)."""
    folder = home / "metrics"
    folder.mkdir(parents=True)
    now = datetime.now(UTC).isoformat()
    rows = [
        line(ts=now, run_id="a1", project=key_a),
        line(ts=now, run_id="a2", project=key_a, agent="b"),
        line(ts=now, run_id="b1", project="other"),
        line(ts=now, run_id="old"),
    ]
    (folder / "executions.jsonl").write_text("".join(rows), encoding="utf-8")


def test_aggregate_and_read_records_filter_by_project(isolated_state: Path) -> None:
    """A project sees its own lines; None sees all, old lines under NO_PROJECT."""
    history(isolated_state, "A")
    folder = isolated_state / "metrics"
    assert [r["run_id"] for r in read_records(folder, project="A")] == ["a1", "a2"]
    assert aggregate(folder, project="other").overall.calls == 1
    every = aggregate(folder)
    assert every.overall.calls == 4
    assert {name: g.calls for name, g in every.by_project.items()} == {
        "A": 2,
        "other": 1,
        NO_PROJECT: 1,
    }


@pytest.mark.parametrize("command", ["summary", "agents", "costs", "anomalies"])
def test_cft_metrics_shows_the_current_project(
    tmp_path: Path, isolated_state: Path, command: str
) -> None:
    """Each command reads the config's project; --all-projects widens; no config: an error."""
    config = project(tmp_path)
    history(isolated_state, load_config(config).project_key)
    scoped = runner.invoke(app, ["--config", str(config), "metrics", command, "--json"])
    assert scoped.exit_code == 0, scoped.output
    doc = json.loads(scoped.stdout)
    assert doc["project"] == load_config(config).project_key
    if command == "summary":
        assert doc["overall"]["calls"] == 2
        every = runner.invoke(app, ["metrics", "summary", "--all-projects", "--json"])
        assert json.loads(every.stdout)["overall"]["calls"] == 4
        table = runner.invoke(app, ["metrics", "summary", "--all-projects"]).stdout
        assert "by project" in table
        assert NO_PROJECT in table
    elif command == "agents":
        assert sorted(doc["agents"]) == ["a", "b"]
    elif command == "costs":
        assert doc["total"]["calls"] == 2
    missing = runner.invoke(app, ["--config", str(tmp_path / "nowhere"), "metrics", command])
    assert missing.exit_code == 2
    assert "--all-projects" in missing.output


def test_cft_metrics_export_is_scoped(tmp_path: Path, isolated_state: Path) -> None:
    """``export`` writes the current project's calls, every one with --all-projects."""
    config = project(tmp_path)
    history(isolated_state, load_config(config).project_key)
    target = tmp_path / "out.json"
    base = ["--config", str(config), "metrics", "export", str(target)]
    assert runner.invoke(app, base).exit_code == 0
    assert [r["run_id"] for r in json.loads(target.read_text())] == ["a1", "a2"]
    assert runner.invoke(app, [*base, "--all-projects"]).exit_code == 0
    assert len(json.loads(target.read_text())) == 4
