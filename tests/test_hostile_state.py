"""Hostile state files: planted cache rows, garbled databases, torn and unwritable metrics.

The state under ``$CFT_HOME`` (and a cache directory shared by several users)
may hold anything. These tests plant rows that name files outside the store,
garble every state file byte by byte over hundreds of seeds, tear the metrics
file, and make metrics writes fail — and check that no file outside a store is
ever read or deleted, no command crashes, and no metrics record is lost.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from typer.testing import CliRunner, Result

from claude_force_trio._cache._disk import DiskCache
from claude_force_trio._cache._disk_store import warn_foreign
from claude_force_trio._cache._entry import CachedResponse
from claude_force_trio._events import StepSucceeded
from claude_force_trio._memory import MemoryStore
from claude_force_trio._metrics import MetricsRecorder, ReadStats, aggregate, read_records
from claude_force_trio._metrics import _recorder as _metrics
from claude_force_trio._metrics._files import MetricsFile
from claude_force_trio._quarantine import quarantine
from claude_force_trio._results import StepResult
from claude_force_trio._types import Usage
from claude_force_trio.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / ".claude"
WHEN = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
MODE_BINARY, MODE_TEXT = 2, 3  # diskcache's modes for values kept in side files

# -- helpers ------------------------------------------------------------------------


def entry(text: str = "an answer") -> CachedResponse:
    """A valid cache entry, created just now (so no TTL expires it)."""
    return CachedResponse(
        model="claude-haiku-4-5",
        text=text,
        stop_reason="end_turn",
        usage=Usage(10, 5),
        created=datetime.now(UTC).timestamp(),
    )


def finished(run: str, step: str = "s") -> StepSucceeded:
    """A finished-step event for the metrics recorder."""
    result = StepResult(step, "agent", "succeeded", elapsed_s=0.5, finished_at=WHEN)
    return StepSucceeded(run, step, result, 0.0)


def cft(*args: str, config: Path | None = None) -> Result:
    """Invoke ``cft [--config CONFIG] ARGS`` in-process."""
    prefix = ["--config", str(config)] if config is not None else []
    return CliRunner().invoke(app, [*prefix, *args])


def quarantine_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The "moved it aside" warnings logged so far."""
    return [r.getMessage() for r in caplog.records if "was damaged" in r.getMessage()]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key or config from the environment, instant simulator, and a fresh warn-once."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "CFT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CFT_SIM_LATENCY_SCALE", "0")
    monkeypatch.chdir(tmp_path)  # no ./.claude here: cache commands use the defaults
    warn_foreign.cache_clear()


# -- who touches which file: an audit hook ----------------------------------------------

_AUDITED = {"open", "os.remove", "os.rmdir", "os.rename", "os.truncate", "shutil.rmtree"}
_recording: list[tuple[str, str]] | None = None
_recording_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording is None or event not in _AUDITED or not args:
        return
    path = args[0]
    if isinstance(path, str | bytes | os.PathLike):
        with _recording_lock:
            _recording.append((event, os.fsdecode(path)))


sys.addaudithook(_audit)  # hooks cannot be removed; this one is idle outside `touched()`


@contextlib.contextmanager
def touched() -> Iterator[list[tuple[str, str]]]:
    """Record every file Python opens, removes or renames (any thread) inside the block."""
    global _recording
    seen: list[tuple[str, str]] = []
    _recording = seen
    try:
        yield seen
    finally:
        _recording = None


# -- planted rows ------------------------------------------------------------------------


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A precious file outside every store, two folders deep (diskcache would prune them)."""
    secret = tmp_path / "victim" / "sub" / "deep" / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("precious")
    return secret


def plant_rows(
    store: Path,
    victim: Path,
    *,
    expire_time: float | None = None,
    keys: tuple[str, ...] | None = None,
) -> list[str]:
    """Rows naming the victim four ways: relative, absolute, via a symlinked file and folder.

    Args:
        store: a diskcache directory (``…/responses`` or ``…/stats``) with its ``cache.db``.
        victim: the file every row leads to.
        expire_time: diskcache's expiry column (a past time makes the rows cullable).
        keys: the rows' keys (replacing rows already there); 64-character labels by default.

    Returns:
        The planted keys.
    """
    (store / "ab" / "cd").mkdir(parents=True, exist_ok=True)
    link = store / "ab" / "cd" / "planted.val"
    if not link.is_symlink():
        link.symlink_to(victim)
    if not (store / "ef").is_symlink():
        (store / "ef").symlink_to(victim.parent, target_is_directory=True)
    names = {
        "relative": os.path.relpath(victim, store),
        "absolute": str(victim),
        "symlinked-file": "ab/cd/planted.val",
        "symlinked-folder": f"ef/{victim.name}",
    }
    keys = keys or tuple(f"{label:x<64}"[:64] for label in names)
    with sqlite3.connect(store / "cache.db") as con:
        for n, (key, filename) in enumerate(zip(keys, names.values(), strict=True)):
            mode = MODE_TEXT if n % 2 else MODE_BINARY
            rowid = -7 if n == 3 else None  # diskcache's own clear never reaches rowid <= 0
            con.execute(
                "INSERT OR REPLACE INTO Cache (rowid, key, raw, store_time, expire_time,"
                " access_time, access_count, tag, size, mode, filename, value)"
                " VALUES (?, ?, 1, 0, ?, 0, 0, NULL, 8, ?, ?, NULL)",
                (rowid, key, expire_time, mode, filename),
            )
    return list(keys)


def assert_untouched(victim: Path, seen: list[tuple[str, str]]) -> None:
    """The victim and its folders still exist, and nothing opened or removed a path there."""
    assert victim.read_text() == "precious"
    outside = str(victim.parents[2].resolve())
    reached = [(e, p) for e, p in seen if os.path.realpath(p).startswith(outside)]
    assert reached == []


def rows(store: Path) -> int:
    """How many rows the store's ``Cache`` table holds."""
    with sqlite3.connect(store / "cache.db") as con:
        return int(con.execute("SELECT COUNT(*) FROM Cache").fetchone()[0])


async def new_cache(directory: Path, **kwargs: Any) -> DiskCache:
    """A DiskCache opened once and closed, so its files exist, then opened again."""
    await (await DiskCache.open(directory)).aclose()
    return await DiskCache.open(directory, **kwargs)


async def test_planted_rows_are_never_read_or_deleted_on_lookup(
    tmp_path: Path, victim: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A lookup of a row naming an outside file is a miss; the row goes, the file stays."""
    await (await DiskCache.open(tmp_path / "cache")).aclose()
    keys = plant_rows(tmp_path / "cache" / "responses", victim)
    cache = await DiskCache.open(tmp_path / "cache")
    with touched() as seen:
        results = [await cache.get(key) for key in keys]
        stats = await cache.statistics()
    await cache.aclose()
    assert results == [None] * 4
    assert_untouched(victim, seen)
    assert rows(tmp_path / "cache" / "responses") == 0
    assert stats.foreign_rows == 4
    assert len([r for r in caplog.records if "side file" in r.getMessage()]) == 1


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "one-batch"])
@pytest.mark.parametrize("how", ["expired", "evicted"])
async def test_planted_rows_culled_by_a_write_leave_the_file(
    tmp_path: Path, victim: Path, how: str, batched: bool
) -> None:
    """With no lookup, the cull in the next writes (or one batch) drops the rows, not the file."""
    await (await DiskCache.open(tmp_path / "cache")).aclose()
    expire_time = 1.0 if how == "expired" else None
    keys = plant_rows(tmp_path / "cache" / "responses", victim, expire_time=expire_time)
    size = 1 if how == "evicted" else 100 * 2**20  # over the cap: every write culls one
    cache = await DiskCache.open(tmp_path / "cache", size_limit_bytes=size, ttl_s=None)
    with touched() as seen:
        if batched:
            await cache.set_many([(f"{n:064d}", entry()) for n in range(len(keys))])
        for n in range(0 if batched else len(keys)):
            await cache.set(f"{n:064d}", entry())
        stats = await cache.statistics()
    await cache.aclose()
    assert_untouched(victim, seen)
    with sqlite3.connect(tmp_path / "cache" / "responses" / "cache.db") as con:
        assert con.execute("SELECT COUNT(*) FROM Cache WHERE filename IS NOT NULL").fetchone() == (
            0,
        )
    assert stats.foreign_rows == 4


async def test_batch_over_planted_rows_of_its_own_keys_leaves_the_file(
    tmp_path: Path, victim: Path
) -> None:
    """A batch writing the very keys planted rows hold replaces them, counted, the file kept."""
    await (await DiskCache.open(tmp_path / "cache")).aclose()
    keys = plant_rows(tmp_path / "cache" / "responses", victim)
    cache = await DiskCache.open(tmp_path / "cache")
    with touched() as seen:
        await cache.set_many([(key, entry(f"fresh {key[:8]}")) for key in keys])
        got = [await cache.get(key) for key in keys]
        stats = await cache.statistics()
    await cache.aclose()
    assert_untouched(victim, seen)
    assert [g.text if g else None for g in got] == [f"fresh {key[:8]}" for key in keys]
    assert (stats.entries, stats.foreign_rows) == (4, 4)


async def test_planted_key_index_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store whose (key, raw) index is not unique would take duplicate rows: it is healed."""
    await (await DiskCache.open(tmp_path / "cache")).aclose()
    with sqlite3.connect(_cache_db(tmp_path)) as con:
        con.execute("DROP INDEX Cache_key_raw")
        con.execute("CREATE INDEX Cache_key_raw ON Cache(key)")
    cache = await DiskCache.open(tmp_path / "cache")
    await cache.set_many([("a" * 64, entry("after healing"))])
    got = await cache.get("a" * 64)
    await cache.aclose()
    assert got is not None
    assert got.text == "after healing"
    assert len(quarantine_warnings(caplog)) == 1


async def test_planted_settings_cannot_retarget_the_store(tmp_path: Path, victim: Path) -> None:
    """Settings rows naming our attributes or pragmas are ignored: no file lands elsewhere."""
    await (await DiskCache.open(tmp_path / "cache")).aclose()
    planted = [
        ("_directory", str(victim.parent)),  # would reopen the connection over there
        ("sqlite_query_only", 1),  # would make every write fail
        ("sqlite_journal_mode", "delete"),
        ("disk_planted", 1),  # would be a keyword our Disk does not take
    ]
    with sqlite3.connect(tmp_path / "cache" / "responses" / "cache.db") as con:
        con.executemany("INSERT OR REPLACE INTO Settings VALUES (?, ?)", planted)
    with touched() as seen:
        cache = await DiskCache.open(tmp_path / "cache")
        await cache.set("a" * 64, entry("kept"))
        got = await cache.get("a" * 64)
        await cache.aclose()
    assert got is not None
    assert got.text == "kept"
    assert sorted(p.name for p in victim.parent.iterdir()) == ["secret.txt"]
    assert_untouched(victim, seen)


def test_cli_cache_stats_and_clear_never_touch_planted_files(
    tmp_path: Path, victim: Path, isolated_state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`cft cache stats` and `cft cache clear --yes` drop planted rows in both databases."""

    async def seed() -> None:
        cache = await DiskCache.open(isolated_state / "cache")
        await cache.set("b" * 64, entry())
        cache.record(hit=True)
        await cache.aclose()

    trio.run(seed)
    plant_rows(isolated_state / "cache" / "responses", victim)
    counters = ("hits", "misses", "evictions", "expired")
    plant_rows(isolated_state / "cache" / "stats", victim, keys=counters)
    with touched() as seen:
        stats = cft("cache", "stats", "--json")
        table = cft("cache", "stats")
        cleared = cft("cache", "clear", "--yes")
        after = cft("cache", "stats", "--json")
    assert_untouched(victim, seen)
    assert [r.exit_code for r in (stats, table, cleared, after)] == [0, 0, 0, 0], stats.output
    assert json.loads(stats.stdout)["foreign_rows"] == 4  # the counter rows, read by stats
    assert "foreign rows dropped" in table.stdout
    assert "removed 5 cached responses" in cleared.stdout
    assert json.loads(after.stdout)["entries"] == 0
    assert rows(isolated_state / "cache" / "responses") == 0
    assert len([r for r in caplog.records if "side file" in r.getMessage()]) == 1


# -- damaged stores ------------------------------------------------------------------------


def _cache_db(home: Path) -> Path:
    return home / "cache" / "responses" / "cache.db"


def _stats_db(home: Path) -> Path:
    return home / "cache" / "stats" / "cache.db"


def _memory_db(home: Path) -> Path:
    return home / "memory" / "memory.sqlite3"


async def use_cache(home: Path) -> None:
    """Open the disk cache at ``home``: a write, a hit, stats and clear all work."""
    cache = await DiskCache.open(home / "cache")
    await cache.get("0" * 64)
    for _ in range(2):  # a first write may only reveal the damage; the second must land
        await cache.set("f" * 64, entry("fresh"))
        got = await cache.get("f" * 64)
        if got is not None:
            break
    assert got is not None
    assert got.text == "fresh"
    assert (await cache.statistics()).entries >= 1
    await cache.clear()  # may itself meet the damage: then it empties the fresh store
    assert (await cache.statistics()).entries == 0
    await cache.aclose()


async def use_memory(home: Path) -> None:
    """Open the memory at ``home``: recall, record, recall the new item for a new task, clear."""
    store = MemoryStore(_memory_db(home), project="p")
    await store.relevant("agent", "task 1")
    for _ in range(2):  # the recall may be what reveals the damage: the second record lands
        await store.record("agent", "a new task", "its answer")
        items = await store.relevant("agent", "a task never seen")
        if items:
            break
    assert items[0].task == "a new task"
    assert items[0].output == "its answer"
    await store.clear()  # may itself meet the damage: then it empties the fresh store
    assert (await store.stats()).items == 0
    await store.aclose()


@pytest.mark.parametrize(
    "which", [_cache_db, _stats_db, _memory_db], ids=["cache", "stats", "memory"]
)
async def test_garbage_store_is_moved_aside_with_one_warning(
    tmp_path: Path, which: Callable[[Path], Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A file that is not a database (and its -wal) is renamed aside; the store starts empty."""
    path = which(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database " * 300)
    Path(f"{path}-wal").write_bytes(b"nor is this a write-ahead log")
    await (use_memory(tmp_path) if which is _memory_db else use_cache(tmp_path))
    (warning,) = quarantine_warnings(caplog)
    (moved,) = path.parent.glob(f"{path.name}.damaged-*Z")
    assert str(path) in warning
    assert str(moved) in warning
    assert moved.read_bytes().startswith(b"this is not a database")
    assert Path(f"{moved}-wal").read_bytes() == b"nor is this a write-ahead log"


@pytest.mark.parametrize("which", [_cache_db, _memory_db], ids=["cache", "memory"])
async def test_planted_fifo_is_moved_aside_not_read(
    tmp_path: Path, which: Callable[[Path], Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A FIFO where the database should be would hang the first read: it is renamed first."""
    path = which(tmp_path)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    await (use_memory(tmp_path) if which is _memory_db else use_cache(tmp_path))
    (warning,) = quarantine_warnings(caplog)
    assert "a FIFO" in warning
    assert path.is_file()


def _break_overflow_page(db: Path, marker: bytes) -> None:
    """Point the first overflow page full of ``marker`` at a page that does not exist."""
    data = bytearray(db.read_bytes())
    for start in range(0, len(data), 4096):
        if data[start + 4 : start + 4096] == marker * ((4096 - 4) // len(marker)):
            data[start : start + 4] = b"\xff\xff\xff\xf0"
            db.write_bytes(bytes(data))
            return
    raise AssertionError("no overflow page found")


async def test_damage_found_after_opening_heals_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Corruption the first queries do not see is caught by the lookup that hits it."""
    cache = await DiskCache.open(tmp_path)
    await cache.set("a" * 64, entry("Z" * 30_000))  # spills into overflow pages
    await cache.set("b" * 64, entry("small"))
    await cache.aclose()
    _break_overflow_page(tmp_path / "responses" / "cache.db", b"Z")
    cache = await DiskCache.open(tmp_path)
    assert quarantine_warnings(caplog) == []  # the probe passed
    assert await cache.get("a" * 64) is None
    assert len(quarantine_warnings(caplog)) == 1
    assert await cache.get("b" * 64) is None  # a fresh, empty store
    await cache.set("c" * 64, entry("after"))
    got = await cache.get("c" * 64)
    await cache.aclose()
    assert got is not None
    assert got.text == "after"
    assert len(quarantine_warnings(caplog)) == 1


async def test_memory_damage_found_later_forgets_every_cached_recall(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A recall that meets corruption heals the store, and cached recalls of the old file go."""
    store = MemoryStore(_memory_db(tmp_path), project="p")
    await store.record("big", "task", "Z" * 30_000)  # spills into overflow pages
    await store.record("small", "task", "tiny")
    await store.aclose()
    _break_overflow_page(_memory_db(tmp_path), b"Z")
    store = MemoryStore(_memory_db(tmp_path), project="p")
    assert [i.output for i in await store.relevant("small", "new")] == ["tiny"]  # now cached
    assert quarantine_warnings(caplog) == []  # the probe passed
    assert await store.relevant("big", "new") == []  # hits the broken page: a fresh store
    assert len(quarantine_warnings(caplog)) == 1
    assert await store.relevant("small", "new") == []  # not answered from the old file's cache
    await store.aclose()


async def test_a_second_process_does_not_move_the_fresh_store_aside(tmp_path: Path) -> None:
    """Two openers see the same damage: only the first renames, the second joins the new file."""
    first = await DiskCache.open(tmp_path)
    second = await DiskCache.open(tmp_path)
    first._responses.recover("test damage", first._responses.generation)
    await first.set("a" * 64, entry("written after healing"))
    second._responses.recover("the same damage, seen later", second._responses.generation)
    got = await second.get("a" * 64)
    await first.aclose()
    await second.aclose()
    assert got is not None
    assert len(list((tmp_path / "responses").glob("cache.db.damaged-*Z"))) == 1


def test_renaming_an_open_database_leaves_the_new_one_alone(tmp_path: Path) -> None:
    """SQLite closing a connection to a moved file never deletes the new file's -wal."""
    path = tmp_path / "x.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE t (x)")
    old.execute("INSERT INTO t VALUES (1)")
    assert quarantine(path, expect=None) is not None
    new = sqlite3.connect(path, isolation_level=None)
    new.execute("PRAGMA journal_mode=WAL")
    new.execute("CREATE TABLE u (y)")
    new.execute("INSERT INTO u VALUES (2)")
    old.close()
    del old
    gc.collect()
    assert Path(f"{path}-wal").exists()
    new.execute("INSERT INTO u VALUES (3)")
    new.close()
    with contextlib.closing(sqlite3.connect(path)) as again:
        assert again.execute("SELECT y FROM u").fetchall() == [(2,), (3,)]


# -- metrics: torn lines and failed writes -------------------------------------------------


def records(directory: Path) -> tuple[list[str], ReadStats]:
    """The run ids of every record read back, and what the reader counted."""
    stats = ReadStats()
    return [str(r["run_id"]) for r in read_records(directory, stats=stats)], stats


def test_torn_last_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    """A line cut short by a killed process is ended before the next record is appended."""
    with MetricsRecorder(tmp_path) as rec:
        rec(finished("before"))
    with (tmp_path / "executions.jsonl").open("ab") as out:
        out.write(b'{"ts":"2026-03-01T12:00:00.000+00:00","run_id":"torn","work')
    with MetricsRecorder(tmp_path) as rec:
        rec(finished("after"))
    ids, stats = records(tmp_path)
    assert ids == ["before", "after"]
    assert stats.malformed == 1
    last = (tmp_path / "executions.jsonl").read_bytes().splitlines()[-1]
    assert json.loads(last)["run_id"] == "after"  # on a line of its own, not glued


def test_a_line_glued_by_an_older_writer_still_yields_its_record(tmp_path: Path) -> None:
    """Files written before the fix may hold torn+whole on one line: the whole record is kept."""
    with MetricsRecorder(tmp_path) as rec:
        rec(finished("whole"))
    path = tmp_path / "executions.jsonl"
    path.write_bytes(b'{"ts":"2026-03-01T12:00:00","run_id":"torn","ag' + path.read_bytes())
    ids, stats = records(tmp_path)
    assert ids == ["whole"]
    assert stats.malformed == 1


@contextlib.contextmanager
def no_free_descriptors() -> Iterator[Callable[[], None]]:
    """Lower ``RLIMIT_NOFILE`` and use up what is left, so the next open fails with EMFILE.

    Yields:
        A function that frees the descriptors before the block ends (the shortage passes).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, in_use + 16), hard))
    spare: list[int] = []

    def release() -> None:
        while spare:
            os.close(spare.pop())

    try:
        with contextlib.suppress(OSError):
            while True:
                spare.append(os.open(os.devnull, os.O_RDONLY))
        yield release
    finally:
        release()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_emfile_keeps_every_record_for_the_next_flush(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A flush that cannot open the file keeps its records; a later one and close() write them."""
    rec = MetricsRecorder(tmp_path, flush_every=3)
    with no_free_descriptors():
        for n in range(7):  # two flushes are triggered, and both fail
            rec(finished(f"r{n}"))
        with pytest.raises(OSError, match="Too many open files") as info:
            os.open(os.devnull, os.O_RDONLY)
    assert info.value.errno == errno.EMFILE
    assert rec.pending == 7
    assert not rec.path.exists()
    warnings = [r for r in caplog.records if "keeping" in r.getMessage()]
    assert len(warnings) == 1
    assert "Too many open files" in warnings[0].getMessage()
    rec(finished("r7"))
    rec.close()
    assert records(tmp_path)[0] == [f"r{n}" for n in range(8)]
    assert rec.pending == 0


def metrics_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The metrics recorder's warnings logged so far."""
    return [r.getMessage() for r in caplog.records if r.name == "claude_force_trio.metrics"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_close_retries_then_counts_the_unwritten_records_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """close() tries three writes; what is still unwritten is counted in a single warning."""
    rec = MetricsRecorder(tmp_path)
    for n in range(3):
        rec(finished(f"r{n}"))
    with no_free_descriptors(), touched() as seen:
        rec.close()
    assert [p for e, p in seen if e == "open" and p == str(rec.path)] == [str(rec.path)] * 3
    (line,) = metrics_warnings(caplog)
    assert f"3 records could not be written to {rec.path} after 3 attempts" in line
    assert "Too many open files" in line
    assert rec.pending == 3  # kept: a later flush may still land them
    rec.close()
    assert records(tmp_path)[0] == ["r0", "r1", "r2"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
async def test_aclose_waits_out_a_passing_descriptor_shortage(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aclose pauses 0.05 s, then 0.25 s, between tries: a shortage that ends loses nothing."""
    rec = MetricsRecorder(tmp_path)
    for n in range(3):
        rec(finished(f"r{n}"))
    tries: list[float] = []
    real_append = MetricsFile.append
    with no_free_descriptors() as release:

        def append(self: MetricsFile, data: bytes) -> None:
            tries.append(autojump_clock.current_time())
            if len(tries) == 3:
                release()  # the shortage passes just before the third try
            real_append(self, data)

        monkeypatch.setattr(MetricsFile, "append", append)
        await rec.aclose()
    assert tries == [0.0, 0.05, 0.3]
    assert trio.current_time() == 0.3
    assert records(tmp_path)[0] == ["r0", "r1", "r2"]
    assert metrics_warnings(caplog) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
async def test_aclose_gives_up_after_three_tries_in_one_line(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lasting shortage: three tries over 0.3 s, then one line with what is lost and dropped."""
    monkeypatch.setattr(_metrics, "MAX_BUFFERED", 3)
    rec = MetricsRecorder(tmp_path)
    for n in range(4):
        rec(finished(f"r{n}"))
    caplog.clear()  # the buffer's own "dropping the oldest" line
    with no_free_descriptors():
        await rec.aclose()
    assert trio.current_time() == 0.3
    (line,) = metrics_warnings(caplog)
    assert f"3 records (and 1 dropped earlier) could not be written to {rec.path}" in line
    assert "after 3 attempts (OSError: [Errno 24] Too many open files" in line


def test_a_write_cut_short_keeps_the_rest_exactly_once(tmp_path: Path) -> None:
    """A write stopped half-way (file size limit: EFBIG) rewrites only the unwritten lines."""
    with MetricsRecorder(tmp_path) as rec:
        rec(finished("first"))
    rec = MetricsRecorder(tmp_path, flush_every=100)
    for n in range(3):
        rec(finished(f"r{n}"))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    line_size = rec.path.stat().st_size
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        # Room for one more whole line and a third of the next: a short write, then EFBIG.
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 * line_size + line_size // 3, hard))
        rec.flush()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert rec.pending == 2
    rec.close()
    ids, stats = records(tmp_path)
    assert ids == ["first", "r0", "r1", "r2"]
    assert stats.malformed == 1  # the third of a line the limit cut


def test_buffer_is_bounded_and_drops_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While writes keep failing, only the newest MAX_BUFFERED records are kept."""
    monkeypatch.setattr(_metrics, "MAX_BUFFERED", 5)
    blocker = tmp_path / "metrics"
    blocker.write_text("a file where the folder should be")
    rec = MetricsRecorder(blocker, flush_every=1)
    for n in range(8):
        rec(finished(f"r{n}"))
    assert (rec.pending, rec.dropped) == (5, 3)
    assert len([r for r in caplog.records if "dropping the oldest" in r.getMessage()]) == 1
    blocker.unlink()
    rec.close()
    assert records(blocker)[0] == [f"r{n}" for n in range(3, 8)]


def test_planted_symlink_is_moved_aside_not_appended_to(tmp_path: Path, victim: Path) -> None:
    """A symlink where the metrics file should be is renamed; lines never reach its target."""
    tmp_path.joinpath("metrics").mkdir()
    (tmp_path / "metrics" / "executions.jsonl").symlink_to(victim)
    with MetricsRecorder(tmp_path / "metrics") as rec:
        rec(finished("mine"))
    assert victim.read_text() == "precious"
    assert records(tmp_path / "metrics")[0] == ["mine"]
    (moved,) = (tmp_path / "metrics").glob("executions.jsonl.damaged-*")
    assert moved.is_symlink()


# -- byte garbling: every state file, hundreds of seeds --------------------------------------


def _metrics_file(home: Path) -> Path:
    return home / "metrics" / "executions.jsonl"


STATE_FILES: dict[str, Callable[[Path], Path]] = {
    "cache": _cache_db,
    "stats": _stats_db,
    "memory": _memory_db,
    "metrics": _metrics_file,
}


def garble(path: Path, rng: random.Random) -> str:
    """Damage ``path`` one of six ways chosen by ``rng``; return which."""
    data = bytearray(path.read_bytes())
    kind = rng.choice(["bytes", "truncate", "page", "zeros", "replace", "header"])
    if kind == "bytes":
        for _ in range(rng.randint(1, 64)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == "truncate":
        del data[rng.randrange(len(data)) :]
    elif kind == "page":
        page = rng.randrange(max(1, len(data) // 4096))
        data[page * 4096 : (page + 1) * 4096] = rng.randbytes(4096)
    elif kind == "zeros":
        start = rng.randrange(len(data))
        end = min(len(data), start + rng.randint(1, 8192))
        data[start:end] = bytes(end - start)
    elif kind == "replace":
        data = bytearray(rng.randbytes(rng.randint(0, 20_000)))
    else:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(min(100, len(data)))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return kind


async def _build_state(home: Path) -> None:
    cache = await DiskCache.open(home / "cache")
    for n in range(12):
        await cache.set(f"{n:064d}", entry("x" * (300 * n)))
        cache.record(hit=bool(n % 2), saved_usd=0.001)
    await cache.aclose()
    store = MemoryStore(_memory_db(home), project="p")
    for n in range(12):
        await store.record("agent", f"task {n}", "an answer " * n)
    await store.aclose()
    with MetricsRecorder(home / "metrics") as rec:
        for n in range(40):
            rec(finished(f"run{n}", f"step{n}"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CFT_HOME with every state file written by the stores themselves."""
    home = tmp_path_factory.mktemp("pristine")
    trio.run(_build_state, home)
    return home


async def use_metrics(home: Path) -> None:
    """Read whatever is there, append a record, and read it back."""
    aggregate(home / "metrics")
    with MetricsRecorder(home / "metrics") as rec:
        rec(finished("appended-after-damage"))
    assert records(home / "metrics")[0][-1] == "appended-after-damage"


_USE = {"cache": use_cache, "stats": use_cache, "memory": use_memory, "metrics": use_metrics}


async def test_garbled_state_files_never_break_a_store(
    pristine: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """300 seeds over the four state files: each store opens, works, heals with <= 1 warning."""
    for seed in range(300):
        name = list(STATE_FILES)[seed % len(STATE_FILES)]
        home = tmp_path / str(seed)
        shutil.copytree(pristine, home)
        kind = garble(STATE_FILES[name](home), random.Random(seed))
        caplog.clear()
        try:
            await _USE[name](home)
        except Exception as exc:
            raise AssertionError(f"seed {seed}: {name} garbled ({kind})") from exc
        assert len(quarantine_warnings(caplog)) <= 1, (seed, name, kind)
        shutil.rmtree(home)


# -- byte garbling: the real commands ---------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project with agent memory switched on, so a run uses every state file."""
    root = tmp_path_factory.mktemp("project") / ".claude"
    shutil.copytree(EXAMPLE, root)
    config = json.loads((root / "claude.json").read_text())
    config["memory"] = {"enabled": True}
    (root / "claude.json").write_text(json.dumps(config))
    return root / "claude.json"


@pytest.fixture(scope="module")
def pristine_home(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Path:
    """A CFT_HOME whose state files a real `cft run` wrote (twice: a miss, then a hit)."""
    home = tmp_path_factory.mktemp("pristine-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CFT_HOME", str(home))
        mp.setenv("CFT_SIM_LATENCY_SCALE", "0")
        mp.delenv("ANTHROPIC_API_KEY", raising=False)
        mp.delenv("ANTHROPIC_BASE_URL", raising=False)
        for task in ("review this", "review this", "and this"):
            assert cft("run", "linter", task, config=project).exit_code == 0
    assert all(which(home).exists() for which in STATE_FILES.values())
    return home


COMMANDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "cache": (("cache", "stats", "--json"), ("cache", "clear", "--yes"), ("run", "linter", "x")),
    "stats": (("cache", "stats", "--json"), ("cache", "clear", "--yes"), ("run", "linter", "x")),
    "memory": (("memory", "stats", "--json"), ("memory", "clear", "--yes"), ("run", "linter", "x")),
    "metrics": (("metrics", "summary", "--json"), ("run", "linter", "x")),
}


def sweep(
    seeds: range, pristine_home: Path, project: Path, tmp_path: Path, mp: pytest.MonkeyPatch
) -> None:
    """Each seed garbles one state file (in turn) of a fresh copy per command: all exit 0."""
    for seed in seeds:
        name = list(COMMANDS)[seed % len(COMMANDS)]
        for args in COMMANDS[name]:
            home = tmp_path / f"{seed}-{name}-{args[0]}-{args[1]}"
            shutil.copytree(pristine_home, home)
            kind = garble(STATE_FILES[name](home), random.Random(seed))
            mp.setenv("CFT_HOME", str(home))
            result = cft(*args, config=project)
            where = f"seed {seed}: {name} garbled ({kind}), cft {' '.join(args)}"
            assert result.exit_code == 0, (where, result.output, result.exception)
            assert "Traceback" not in result.output, where
            shutil.rmtree(home)


def test_garbled_state_never_crashes_a_command(
    pristine_home: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cache/memory/metrics commands and a run exit 0 on garbled state (two seeds a file)."""
    sweep(range(8), pristine_home, project, tmp_path, monkeypatch)


@pytest.mark.slow
def test_garbled_state_never_crashes_a_command_full_sweep(
    pristine_home: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same over 300 more seeds (75 for each state file)."""
    sweep(range(8, 308), pristine_home, project, tmp_path, monkeypatch)


def test_a_real_process_prints_one_warning_line(tmp_path: Path) -> None:
    """Outside pytest's log capture, the warning reaches stderr as one line; exit 0."""
    _cache_db(tmp_path).parent.mkdir(parents=True)
    _cache_db(tmp_path).write_bytes(b"garbage" * 1000)
    env = {k: v for k, v in os.environ.items() if k != "CFT_CONFIG"}
    env["CFT_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "claude_force_trio", "cache", "stats", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    assert "was damaged" in line
    assert str(_cache_db(tmp_path)) in line
    assert json.loads(done.stdout)["entries"] == 0
