"""``cft cache clear`` empties the semantic index too (SQLite beside the disk cache, Redis)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from claude_force_trio._cache._semantic._redis import RedisVectors
from claude_force_trio._cache._semantic._sqlite import SQLiteVectors
from claude_force_trio.cli import app

from .test_semantic_store import DIM, entry


def clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: Mapping[str, object]) -> str:
    """Run ``cft cache clear --yes`` in a project of ``config``; return its output."""
    monkeypatch.setenv("CFT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CFT_CONFIG", raising=False)
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    (project / ".claude" / "claude.json").write_text(json.dumps(config), encoding="utf-8")
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["cache", "clear", "--yes"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_clear_empties_semantic_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectors in ``<cache dir>/semantic.db`` go with the answers they pointed at."""
    directory = tmp_path / "home" / "cache"
    store = SQLiteVectors(directory, dim=DIM, max_entries=100, ttl_s=None, clock=time.time)
    store.push_many([entry(1), entry(2)])
    assert store.count() == 2
    store.close()
    config: dict[str, object] = {"agents": {}, "workflows": {}}
    assert "removed 0 cached responses" in clear(tmp_path, monkeypatch, config)
    store = SQLiteVectors(directory, dim=DIM, max_entries=100, ttl_s=None, clock=time.time)
    assert store.count() == 0
    store.close()


def test_clear_without_a_semantic_db_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No semantic cache was ever used: clearing leaves no ``semantic.db`` behind."""
    directory = tmp_path / "home" / "cache"
    clear(tmp_path, monkeypatch, {"agents": {}, "workflows": {}})
    assert not (directory / "semantic.db").exists()


@pytest.mark.redis
def test_clear_empties_the_redis_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """With the Redis backend the ``cft:sem:*`` streams are deleted, other keys kept."""
    client = redis.Redis.from_url(redis_url)
    store = RedisVectors(client, dim=DIM, max_entries=100, ttl_s=None, namespace="cft")
    store.push(entry(1, scope="scope-clear"))
    client.set("cft-test:keep", b"1")
    assert list(client.scan_iter(match="cft:sem:scope-clear*"))
    config = {"agents": {}, "workflows": {}, "cache": {"backend": "redis", "redis_url": redis_url}}
    clear(tmp_path, monkeypatch, config)
    assert not list(client.scan_iter(match="cft:sem:*"))
    assert client.get("cft-test:keep") == b"1"
    client.delete("cft-test:keep")
    client.close()
