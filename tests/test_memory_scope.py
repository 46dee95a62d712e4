"""Agent memory per project: never crosses projects, old rows kept but never offered, and hits.

The engine tests answer through an ``httpx.MockTransport`` that keeps every
request body it got, so what reached a prompt is checked on the wire.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from claude_force_trio import load_config, open_engine
from claude_force_trio._memory import MEMORY_FILE, open_memory
from claude_force_trio.cli import app
from tests.engine_support import message
from tests.test_config import BASE, make_project

runner = CliRunner()


class Recorder:
    """A fake Messages API answering ``answer to <task>``, keeping each request's body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        task = body["messages"][-1]["content"].splitlines()[-1]
        return httpx.Response(200, json=message(f"OUTPUT-OF {task}", body["model"]))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def project(root: Path, **extra: Any) -> Path:
    """A project with agents ``linter`` and ``reviewer``, memory on, the cache as asked."""
    doc = copy.deepcopy(BASE)
    doc["memory"] = {"enabled": True}
    doc.update(extra)
    return make_project(root, doc)


async def run(config_path: Path, api: Recorder, *tasks: str) -> list[str]:
    """Run ``linter`` on each task in turn, on a fresh engine; the outputs."""
    config = load_config(config_path)
    async with open_engine(config, transport=api.transport(), metrics=False) as engine:
        return [(await engine.run_agent("linter", task)).output or "" for task in tasks]


def wire(api: Recorder) -> str:
    """Every request body the fake API got, as one text."""
    return json.dumps(api.bodies)


async def test_memory_never_crosses_projects(tmp_path: Path) -> None:
    """Project A's task and output never reach project B's prompt; A's own later prompt has them."""
    a = project(tmp_path / "a", cache={"enabled": False})
    b = project(tmp_path / "b", cache={"enabled": False})
    api_a, api_b = Recorder(), Recorder()
    assert await run(a, api_a, "SECRET-TASK-A") == ["OUTPUT-OF SECRET-TASK-A"]
    await run(b, api_b, "lint b.py", "lint c.py")
    assert "SECRET-TASK-A" not in wire(api_b)
    assert "OUTPUT-OF SECRET-TASK-A" not in wire(api_b)
    assert "OUTPUT-OF lint b.py" in json.dumps(api_b.bodies[1])  # B's memory works for B
    await run(a, api_a, "lint d.py")
    assert "OUTPUT-OF SECRET-TASK-A" in json.dumps(api_a.bodies[1])  # and A's for A
    assert "lint b.py" not in wire(api_a)


async def test_projects_named_alike_share_memory(tmp_path: Path) -> None:
    """Two configs that name the same ``project`` share memory; the file is one store."""
    a = project(tmp_path / "a", project="shared", cache={"enabled": False})
    b = project(tmp_path / "b", project="shared", cache={"enabled": False})
    await run(a, Recorder(), "TASK-FROM-A")
    api = Recorder()
    await run(b, api, "lint b.py")
    assert "OUTPUT-OF TASK-FROM-A" in wire(api)


async def test_repeated_task_hits_the_response_cache_and_the_memory_lru(tmp_path: Path) -> None:
    """Five calls of one task on one engine: one request, four memory-cache hits."""
    config = load_config(project(tmp_path))
    api = Recorder()
    async with open_engine(config, transport=api.transport(), metrics=False) as engine:
        assert engine.memory is not None
        await engine.run_agent("linter", "an earlier task")  # memory to inject
        results = [await engine.run_agent("linter", "lint a.py") for _ in range(5)]
        memory = engine.memory
        hits, misses = memory.cache.hits, memory.cache.misses
    assert [r.cached for r in results] == [False, True, True, True, True]
    assert len(api.bodies) == 2
    assert "OUTPUT-OF an earlier task" in json.dumps(api.bodies[1])  # memory was injected
    assert (hits, misses) == (4, 2)  # per call of "lint a.py": 1 miss, then 4 hits


async def test_repeat_on_a_new_engine_is_served_despite_newer_memories(tmp_path: Path) -> None:
    """A repeat gets the memories its answer was given, not newer ones: the cache serves it."""
    path = project(tmp_path)
    api = Recorder()
    await run(path, api, "first", "lint a.py", "later task")
    await run(path, api, "lint a.py")
    assert len(api.bodies) == 3  # the repeat, on a new engine, was served from the cache
    assert "OUTPUT-OF lint a.py" not in json.dumps(api.bodies[2])  # never its own answer


def legacy_store(path: Path) -> None:
    """A memory file as written before memory was kept per project: one row for ``linter``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE memories (
                agent TEXT NOT NULL, task_hash TEXT NOT NULL, task TEXT NOT NULL,
                output TEXT NOT NULL, model TEXT, input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL, created_at REAL NOT NULL,
                PRIMARY KEY (agent, task_hash)
            );
            INSERT INTO memories VALUES ('linter', 'h', 'OLD-TASK', 'OLD-OUTPUT', NULL, 1, 1, 5.0);
            """
        )
    db.close()


async def test_rows_from_before_projects_are_kept_but_never_offered(tmp_path: Path) -> None:
    """The old table is migrated with no project: counted for all projects, recalled by none."""
    path = tmp_path / MEMORY_FILE
    legacy_store(path)
    async with open_memory(path, project="p") as store:
        assert await store.relevant("linter", "anything") == []
        await store.record("linter", "new task", "new output")
        assert [i.task for i in await store.relevant("linter", "another")] == ["new task"]
        assert (await store.stats()).items == 1
        assert await store.clear() == 1  # this project's only
    async with open_memory(path) as every:
        stats = await every.stats()
        assert (stats.items, stats.unscoped, stats.projects) == (1, 1, 0)
        assert await every.relevant("linter", "anything") == []
        with pytest.raises(ValueError, match="no project"):
            await every.record("linter", "t", "o")
        assert await every.clear() == 1
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert "memories" not in tables


async def test_a_write_keeps_other_projects_cached_recalls(tmp_path: Path) -> None:
    """Two stores on one file: each keeps its recalls cached across the other's writes."""
    path = tmp_path / MEMORY_FILE
    async with open_memory(path, project="a") as a, open_memory(path, project="b") as b:
        await a.record("linter", "ta", "oa")
        await a.relevant("linter", "next")
        await a.record("reviewer", "tr", "or")  # another agent: a's linter recall stays
        assert len(a.cache) == 1
        await b.record("linter", "tb", "ob")  # another project: invisible to a
        assert [i.task for i in await a.relevant("linter", "next")] == ["ta"]
        assert a.cache.hits == 1


def test_cli_memory_stats_and_clear_are_scoped(tmp_path: Path, isolated_state: Path) -> None:
    """``cft memory`` counts and clears the current project only unless --all-projects."""
    a = project(tmp_path / "a")
    b = project(tmp_path / "b")
    db = isolated_state / "memory" / MEMORY_FILE

    async def fill() -> None:
        for config_path, n in ((a, 2), (b, 3)):
            key = load_config(config_path).project_key
            async with open_memory(db, project=key) as store:
                for i in range(n):
                    await store.record("linter", f"task {i}", "out")

    import trio

    trio.run(fill)

    def stats(*args: str) -> dict[str, Any]:
        result = runner.invoke(app, [*args, "memory", "stats", "--json"])
        assert result.exit_code == 0, result.output
        doc: dict[str, Any] = json.loads(result.stdout)
        return doc

    assert stats("--config", str(a))["items"] == 2
    every = json.loads(runner.invoke(app, ["memory", "stats", "--all-projects", "--json"]).stdout)
    assert (every["items"], every["projects"], every["project"]) == (5, 2, None)
    cleared = runner.invoke(app, ["--config", str(b), "memory", "clear", "--yes", "--json"])
    assert json.loads(cleared.stdout)["removed"] == 3
    assert stats("--config", str(a))["items"] == 2
    missing = runner.invoke(app, ["--config", str(tmp_path / "none"), "memory", "stats"])
    assert missing.exit_code == 2
    assert "--all-projects" in missing.output
