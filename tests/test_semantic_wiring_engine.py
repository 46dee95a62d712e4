"""The semantic cache end to end: the engine over loopback HTTP to the simulator, the real model.

A paraphrased task is served from the cache (``cached == "semantic"``, its
similarity reported, no request sent); the same task with another file name
is a near-miss the literal guard refuses, so it is asked for real; an agent
with tools never uses it; and ``cft run --json`` shows the hit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claude_force_trio import Backend, CallFinished, open_engine
from claude_force_trio._config import Config
from claude_force_trio._config._load import load_config
from claude_force_trio.cli import app
from claude_force_trio.simulator import (
    RequestRecord,
    Simulator,
    SimulatorConfig,
    open_simulator,
    run_simulator_in_thread,
)

INSTANT = SimulatorConfig(ttft_ms=0, tokens_per_s=0)
TASK = "Review the error handling in client.py and list the problems you find"
PARAPHRASE = "Review error handling in client.py and list the problems that you find"
NEAR_MISS = "Review the error handling in server.py and list the problems you find"


def messages(sim: Simulator) -> list[RequestRecord]:
    """The /v1/messages requests in the simulator's log."""
    return [r for r in sim.requests if r.path == "/v1/messages"]


def write_config(folder: Path, **cache: Any) -> Path:
    """A ``claude.json`` with a plain ``summariser`` and a ``reader`` that has a tool."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summariser.md").write_text("# Summariser\n\nYou review code.\n", encoding="utf-8")
    doc = {
        "defaults": {"model": "claude-sonnet-4-5", "max_tokens": 256},
        "cache": cache,
        "agents": {
            "summariser": {"file": "summariser.md"},
            "reader": {"file": "summariser.md", "tools": ["read_file"]},
        },
    }
    path = folder / "claude.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def semantic_on(tmp_path: Path) -> Config:
    """The config with ``cache.semantic.enabled``."""
    return load_config(write_config(tmp_path, semantic={"enabled": True}))


async def test_a_paraphrase_is_served_and_a_near_miss_is_asked(tmp_path: Path) -> None:
    """Paraphrase: no request, ``"semantic"`` with its similarity; a changed file name: a call."""
    config = semantic_on(tmp_path)
    async with open_simulator(INSTANT) as sim:
        backend = Backend.url(sim.url, "test-key")
        async with open_engine(config, backend=backend) as engine:
            first = await engine.run_agent("summariser", TASK)
        assert len(messages(sim)) == 1
        calls: list[CallFinished] = []
        hear = [lambda event: calls.append(event) if isinstance(event, CallFinished) else None]
        async with open_engine(config, backend=backend, hooks=hear) as engine:  # a later process
            served = await engine.run_agent("summariser", PARAPHRASE)
            assert len(messages(sim)) == 1
            near = await engine.run_agent("summariser", NEAR_MISS)
        assert len(messages(sim)) == 2
    assert [(c.cached, c.similarity) for c in calls] == [(True, served.similarity), (False, None)]
    assert (first.cached, first.similarity) == (False, None)
    assert served.ok
    assert served.cached == "semantic"
    assert served.similarity is not None
    assert config.cache.semantic.threshold <= served.similarity <= 1.0
    assert served.output == first.output
    assert (served.attempts, served.usage.total_tokens, served.cost_usd) == (0, 0, 0.0)
    assert first.cost_usd is not None
    assert served.saved_usd == pytest.approx(first.cost_usd)
    assert (near.cached, near.similarity) == (False, None)
    doc = served.to_dict()
    assert (doc["cached"], doc["similarity"]) == ("semantic", served.similarity)


async def test_off_by_default_and_never_with_tools(tmp_path: Path) -> None:
    """Without the switch a paraphrase is asked; the switch leaves an agent with tools out."""
    config = load_config(write_config(tmp_path / "off"))
    async with open_simulator(INSTANT) as sim:
        async with open_engine(config, backend=Backend.url(sim.url, "k")) as engine:
            await engine.run_agent("summariser", TASK)
            again = await engine.run_agent("summariser", PARAPHRASE)
        assert len(messages(sim)) == 2
    assert not again.cached
    assert config.cache.semantic.enabled is False
    on = semantic_on(tmp_path / "on")
    from claude_force_trio._cache._policy import CachePolicy, semantic_thresholds

    assert semantic_thresholds(on, CachePolicy.from_config(on)) == {
        "summariser": on.cache.semantic.threshold
    }


def test_cft_run_json_shows_a_semantic_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cft run --json`` of a paraphrase says ``"cached": "semantic"``; the text line ``≈``."""
    path = write_config(tmp_path, semantic={"enabled": True})
    runner = CliRunner()
    args = ["--config", str(path), "run", "summariser"]
    with run_simulator_in_thread(INSTANT) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        first = runner.invoke(app, [*args, TASK, "--json"])
        assert first.exit_code == 0, first.output
        hit = runner.invoke(app, [*args, PARAPHRASE, "--json"])
        assert hit.exit_code == 0, hit.output
        text = runner.invoke(app, [*args, PARAPHRASE])
    doc = json.loads(hit.stdout)
    assert (json.loads(first.stdout)["cached"], doc["cached"]) == (False, "semantic")
    assert isinstance(doc["similarity"], float)
    assert doc["attempts"] == 0
    assert text.exit_code == 0, text.output
    assert "cached ≈" in text.stderr
