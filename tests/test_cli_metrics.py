"""``cft metrics``, ``cft memory`` and ``cft doctor`` through typer's CliRunner."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
from typer.testing import CliRunner

from claude_force_trio._memory import open_memory
from claude_force_trio.cli import app
from tests.test_aggregate import line
from tests.test_config import make_project

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CFT_HOME in a temporary folder, no key, no base URL."""
    monkeypatch.setenv("CFT_HOME", str(tmp_path / "home"))
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "CFT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def history(home: Path) -> None:
    """Write a small history: two agents, one failure, one cache hit, one outlier."""
    folder = home / "metrics"
    folder.mkdir(parents=True)
    rows = [line(run_id=f"r{n}", latency_ms=100.0 + n % 7) for n in range(30)]
    rows.append(line(run_id="slow", latency_ms=9000.0))
    rows.append(line(agent="b", success=False, status="failed", error_type="RateLimitError"))
    rows.append(line(agent="b", cached=True, latency_ms=1.0, cost_usd=0.0, saved_usd=0.5))
    now = datetime.now(UTC).isoformat()
    (folder / "executions.jsonl").write_text(
        "".join(r.replace('"ts": "2026-03-01T11:59:00+00:00"', f'"ts": "{now}"') for r in rows),
        encoding="utf-8",
    )


@pytest.mark.parametrize("command", ["summary", "agents", "costs", "anomalies"])
def test_empty_history_is_friendly(home: Path, command: str) -> None:
    """With no metrics file every command prints one friendly line and exits 0."""
    result = runner.invoke(app, ["metrics", command, "--all-projects"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("No ")


def test_summary_json_and_plain(home: Path) -> None:
    """``--json`` is one document with the overall figures; plain text is a table."""
    history(home)
    result = runner.invoke(app, ["metrics", "summary", "--all-projects", "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["overall"]["calls"] == 33
    assert doc["overall"]["saved_usd"] == 0.5
    plain = runner.invoke(app, ["metrics", "summary", "--all-projects"])
    assert plain.exit_code == 0
    assert "all calls" in plain.stdout
    assert "p95 ms" in plain.stdout


def test_window_option(home: Path) -> None:
    """``--hours`` limits the summary to recent calls."""
    history(home)
    with (home / "metrics" / "executions.jsonl").open("a", encoding="utf-8") as out:
        out.write(line(ts="2020-01-01T00:00:00+00:00"))
    every = json.loads(
        runner.invoke(app, ["metrics", "summary", "--all-projects", "--json"]).stdout
    )
    recent = json.loads(
        runner.invoke(
            app, ["metrics", "summary", "--all-projects", "--hours", "1", "--json"]
        ).stdout
    )
    assert (every["overall"]["calls"], recent["overall"]["calls"]) == (34, 33)


def test_agents_costs_and_anomalies(home: Path) -> None:
    """Per-agent figures, costs by model, and the planted slow call with its run id."""
    history(home)
    agents = json.loads(
        runner.invoke(app, ["metrics", "agents", "--all-projects", "--json"]).stdout
    )
    assert agents["agents"]["b"]["errors"] == {"RateLimitError": 1}
    costs = json.loads(runner.invoke(app, ["metrics", "costs", "--all-projects", "--json"]).stdout)
    assert costs["models"]["m"]["calls"] == 33
    assert "by model" in runner.invoke(app, ["metrics", "costs", "--all-projects"]).stdout
    found = json.loads(
        runner.invoke(app, ["metrics", "anomalies", "--all-projects", "--json"]).stdout
    )
    assert [a["run_id"] for a in found["anomalies"]] == ["slow"]
    table = runner.invoke(app, ["metrics", "anomalies", "--all-projects"])
    assert "slow" in table.stdout


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export(home: Path, tmp_path: Path, fmt: str) -> None:
    """Export writes every call as JSON objects or CSV rows."""
    history(home)
    target = tmp_path / f"out.{fmt}"
    result = runner.invoke(
        app, ["metrics", "export", str(target), "--format", fmt, "--all-projects", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"path": str(target), "format": fmt, "records": 33}
    if fmt == "json":
        rows = json.loads(target.read_text(encoding="utf-8"))
    else:
        with target.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    assert len(rows) == 33
    assert {r["run_id"] for r in rows} >= {"slow", "r0"}


def test_export_to_bad_path_is_one_line_error(home: Path, tmp_path: Path) -> None:
    """An unwritable export path is an ``error:`` line and exit 2."""
    result = runner.invoke(
        app, ["metrics", "export", str(tmp_path / "no" / "dir.json"), "--all-projects"]
    )
    assert result.exit_code == 2
    assert "error:" in result.output


def test_memory_stats_and_clear(home: Path) -> None:
    """Stats count stored items; clear needs --yes off a terminal, then empties the store."""
    every = "--all-projects"
    assert runner.invoke(app, ["memory", "stats", every]).output.startswith("No memory")

    async def fill() -> None:
        async with open_memory(home / "memory" / "memory.sqlite3", project="p") as store:
            await store.record("a", "t", "o")

    trio.run(fill)
    stats = json.loads(runner.invoke(app, ["memory", "stats", every, "--json"]).stdout)
    assert stats["items"] == 1
    refused = runner.invoke(app, ["memory", "clear", every])
    assert refused.exit_code == 2
    cleared = runner.invoke(app, ["memory", "clear", every, "--yes", "--json"])
    assert json.loads(cleared.stdout)["removed"] == 1


def test_doctor_passes_with_the_simulator(home: Path, tmp_path: Path) -> None:
    """All checks ✓ on a valid project with the simulator: exit 0."""
    config = make_project(tmp_path)
    result = runner.invoke(app, ["--config", str(config), "doctor"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("✓") == 6


def test_doctor_fails_on_a_bad_config(home: Path, tmp_path: Path) -> None:
    """A missing config gives ✗ lines and exit 1; --json says ok false."""
    result = runner.invoke(app, ["--config", str(tmp_path / "none.json"), "doctor", "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["checks"][0]["name"] == "config valid"
