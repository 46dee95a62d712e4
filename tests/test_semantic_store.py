"""The vector stores alone: SQLite (semantic.db) and Redis streams — round trips, incremental
reads, bounds, TTL, damage, planted rows."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from claude_force_trio._cache._semantic._guard import fingerprint
from claude_force_trio._cache._semantic._index import IndexEntry
from claude_force_trio._cache._semantic._redis import RedisVectors
from claude_force_trio._cache._semantic._sqlite import DB_NAME, SQLiteVectors

DIM = 256


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def key(n: int) -> str:
    """A response-cache key (64 hex digits)."""
    return f"{n:064x}"


def entry(
    n: int, *, scope: str = "scope-a", created: float = 1_000.0, text: str = ""
) -> IndexEntry:
    """Entry ``n``: its own vector and text."""
    vector = np.random.default_rng(n).standard_normal(DIM).astype(np.float32)
    vector /= np.linalg.norm(vector)
    words = text or f"Summarise report {n} for `team_{n}` without the appendix"
    return IndexEntry(key(n), scope, fingerprint(words), created, vector)


def same(a: IndexEntry, b: IndexEntry) -> bool:
    """Two entries hold the same data (vectors to float32 precision)."""
    return (
        a.key == b.key
        and a.scope == b.scope
        and a.fingerprint == b.fingerprint
        and a.created == b.created
        and np.allclose(a.vector, b.vector, atol=1e-6)
    )


def moved_aside(directory: Path) -> list[Path]:
    """The damaged files moved aside in ``directory`` (without their -wal/-shm companions)."""
    found = directory.glob(f"{DB_NAME}.damaged-*")
    return sorted(p for p in found if not p.name.endswith(("-wal", "-shm", "-journal")))


def sqlite(directory: Path, clock: Clock | None = None, **kwargs: Any) -> SQLiteVectors:
    """A SQLite store in ``directory``."""
    options: dict[str, Any] = {"max_entries": 100, "ttl_s": None, **kwargs}
    return SQLiteVectors(directory, dim=DIM, clock=clock or Clock(), **options)


# -- SQLite -----------------------------------------------------------------------------


def test_sqlite_round_trip_and_incremental_pull(tmp_path: Path) -> None:
    """What one connection pushes another pulls, once; per scope; in push order."""
    writer, reader = sqlite(tmp_path), sqlite(tmp_path)
    try:
        first, second, other = entry(1), entry(2), entry(3, scope="scope-b")
        writer.push(first)
        writer.push(other)
        pulled = reader.pull("scope-a", None)
        assert len(pulled) == 1
        assert same(pulled[0], first)
        assert reader.pull("scope-a", None) == []
        writer.push(second)
        again = reader.pull("scope-a", None)
        assert [e.key for e in again] == [second.key]
        assert same(again[0], second)
        assert [e.key for e in reader.pull("scope-b", None)] == [other.key]
        assert (tmp_path / DB_NAME).is_file()
    finally:
        writer.close()
        reader.close()


def test_sqlite_push_replaces_and_drop_removes(tmp_path: Path) -> None:
    """Pushing a key again leaves one row (seen again by readers); drop deletes it."""
    store, reader = sqlite(tmp_path), sqlite(tmp_path)
    try:
        store.push(entry(1))
        assert len(reader.pull("scope-a", None)) == 1
        store.push(entry(1, created=2_000.0))
        assert store.count() == 1
        assert [e.created for e in reader.pull("scope-a", None)] == [2_000.0]
        store.drop("scope-a", key(1))
        assert store.count() == 0
    finally:
        store.close()
        reader.close()


def test_sqlite_ids_are_never_reused(tmp_path: Path) -> None:
    """After the newest row is deleted, the next push still gets a larger id (readers see it)."""
    store, reader = sqlite(tmp_path), sqlite(tmp_path)
    try:
        store.push(entry(1))
        reader.pull("scope-a", None)
        store.drop("scope-a", key(1))
        store.push(entry(2))
        assert [e.key for e in reader.pull("scope-a", None)] == [key(2)]
    finally:
        store.close()
        reader.close()


def test_sqlite_is_bounded(tmp_path: Path) -> None:
    """Past max_entries rows the oldest are deleted on push."""
    store = sqlite(tmp_path, max_entries=3)
    try:
        for n in range(5):
            store.push(entry(n, scope=f"scope-{n % 2}"))
        assert store.count() == 3
        fresh = sqlite(tmp_path, max_entries=3)
        keys = {e.key for s in ("scope-0", "scope-1") for e in fresh.pull(s, None)}
        fresh.close()
        assert keys == {key(2), key(3), key(4)}
    finally:
        store.close()


def test_sqlite_ttl_deletes_and_skips_expired_rows(tmp_path: Path) -> None:
    """Rows older than the TTL are deleted on push and never pulled."""
    clock = Clock(1_000.0)
    store = sqlite(tmp_path, clock, ttl_s=100.0)
    try:
        store.push(entry(1, created=1_000.0))
        clock.now = 1_150.0
        store.push(entry(2, created=1_150.0))
        assert store.count() == 1
        store.push(entry(3, created=1_060.0))  # written late by a slow process
        reader = sqlite(tmp_path, clock, ttl_s=100.0)
        assert [e.key for e in reader.pull("scope-a", expired_at=1_100.0)] == [key(2)]
        reader.close()
    finally:
        store.close()


def test_sqlite_damaged_file_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file that is not a database is renamed, with one warning, and an empty one used."""
    (tmp_path / DB_NAME).write_bytes(b"this is not a database, " * 200)
    with caplog.at_level(logging.WARNING, logger="claude_force_trio.cache"):
        store = sqlite(tmp_path)
    try:
        store.push(entry(1))
        assert store.count() == 1
        moved = moved_aside(tmp_path)
        assert len(moved) == 1
        assert moved[0].read_bytes().startswith(b"this is not a database")
        assert "was damaged" in caplog.text
    finally:
        store.close()


def test_sqlite_foreign_schema_is_moved_aside(tmp_path: Path) -> None:
    """A database whose table lacks our columns is damage, not a crash."""
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("CREATE TABLE cft_semantic (id INTEGER PRIMARY KEY, junk TEXT)")
    db.commit()
    db.close()
    store = sqlite(tmp_path)
    try:
        store.push(entry(1))
        assert store.count() == 1
        assert len(moved_aside(tmp_path)) == 1
    finally:
        store.close()


class Corrupting:
    """A connection whose next statement fails the way a corrupt page does."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def __enter__(self) -> Corrupting:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, *args: object) -> Any:
        error = sqlite3.DatabaseError("database disk image is malformed")
        error.sqlite_errorcode = 11
        raise error

    executemany = execute

    def close(self) -> None:
        self.real.close()


def test_sqlite_corruption_later_heals_and_rereads(tmp_path: Path) -> None:
    """Corruption reported mid-run moves the file aside, retries once, and reads from id 0."""
    store = sqlite(tmp_path)
    try:
        store.push(entry(1))
        assert len(store.pull("scope-a", None)) == 1
        store._db = Corrupting(store._db)  # type: ignore[arg-type, assignment]
        store.push(entry(2))  # heals, then writes to the fresh file
        assert [e.key for e in store.pull("scope-a", None)] == [key(2)]
        assert len(moved_aside(tmp_path)) == 1
    finally:
        store.close()


def test_sqlite_planted_rows_are_skipped(tmp_path: Path) -> None:
    """Rows with a wrong key, a short vector or a NaN vector are never entries."""
    store = sqlite(tmp_path)
    good = entry(1)
    store.push(good)
    db = sqlite3.connect(tmp_path / DB_NAME)
    row = db.execute(
        "SELECT scope, key, signature, contrast, direction, words, created, vector"
        " FROM cft_semantic"
    ).fetchone()
    plant = (
        "INSERT INTO cft_semantic(scope, key, signature, contrast, direction, words, created,"
        " vector) VALUES (?,?,?,?,?,?,?,?)"
    )
    db.execute(plant, (row[0], "not-a-key", *row[2:]))
    db.execute(plant, (row[0], key(7), *row[2:7], b"\x00" * 12))
    db.execute(plant, (row[0], key(8), *row[2:7], np.full(DIM, np.nan, "<f4").tobytes()))
    db.execute(plant, (row[0], key(9), row[2], -1, *row[4:]))
    db.commit()
    db.close()
    try:
        assert [e.key for e in sqlite(tmp_path).pull("scope-a", None)] == [good.key]
    finally:
        store.close()


def test_namespace_must_be_an_identifier(tmp_path: Path) -> None:
    """A namespace names a table: anything but letters, digits and _ is refused."""
    with pytest.raises(ValueError, match="namespace"):
        sqlite(tmp_path, namespace="x; DROP TABLE y")


# -- Redis ------------------------------------------------------------------------------


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    """A client of the test server (skipped without one)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def namespace(redis_client: Any) -> Iterator[str]:
    """A namespace of this test's own, deleted afterwards."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    for found in redis_client.scan_iter(match=f"{name}:*"):
        redis_client.delete(found)


def redis_store(url: str, namespace: str, **kwargs: Any) -> RedisVectors:
    """A Redis store with its own client."""
    import redis

    options: dict[str, Any] = {"max_entries": 100, "ttl_s": None, **kwargs}
    return RedisVectors(redis.Redis.from_url(url), dim=DIM, namespace=namespace, **options)


@pytest.mark.redis
def test_redis_round_trip_and_incremental_pull(redis_url: str, namespace: str) -> None:
    """What one client pushes another pulls, once; per scope; in push order."""
    writer, reader = redis_store(redis_url, namespace), redis_store(redis_url, namespace)
    try:
        writer.push(entry(1))
        writer.push(entry(3, scope="scope-b"))
        pulled = reader.pull("scope-a", None)
        assert len(pulled) == 1
        assert same(pulled[0], entry(1))
        assert reader.pull("scope-a", None) == []
        writer.push(entry(2))
        assert [e.key for e in reader.pull("scope-a", None)] == [key(2)]
        assert [e.key for e in reader.pull("scope-b", None)] == [key(3)]
    finally:
        writer.close()
        reader.close()


@pytest.mark.redis
def test_redis_is_bounded_and_expires(redis_url: str, namespace: str, redis_client: Any) -> None:
    """Each scope's stream keeps max_entries entries; its expiry is the TTL, refreshed."""
    store = redis_store(redis_url, namespace, max_entries=3, ttl_s=600.0)
    try:
        for n in range(5):
            store.push(entry(n))
        stream = f"{namespace}:sem:scope-a"
        assert redis_client.xlen(stream) == 3
        assert 590 <= redis_client.ttl(stream) <= 600
        fresh = redis_store(redis_url, namespace)
        assert [e.key for e in fresh.pull("scope-a", None)] == [key(2), key(3), key(4)]
        assert [e.key for e in fresh.pull("scope-a", expired_at=2_000.0)] == []
        fresh.close()
    finally:
        store.close()


@pytest.mark.redis
def test_redis_drop_and_planted_entries(redis_url: str, namespace: str, redis_client: Any) -> None:
    """drop() deletes an entry this process saw; entries that are not ours are skipped."""
    store = redis_store(redis_url, namespace)
    try:
        store.push(entry(1))
        store.push(entry(2))
        stream = f"{namespace}:sem:scope-a"
        redis_client.xadd(stream, {"key": "nope", "vector": b"x"})
        store.drop("scope-a", key(1))
        fresh = redis_store(redis_url, namespace)
        assert [e.key for e in fresh.pull("scope-a", None)] == [key(2)]
        assert fresh.clear() == 1
        assert redis_client.exists(stream) == 0
        fresh.close()
    finally:
        store.close()
