"""The response cache: key, entries, DiskCache (TTL, LRU, corruption), policy, pricing.

The ``check_*`` coroutines are backend-agnostic behavioural checks; the Redis
tests (``test_cache_redis.py``) run the same ones against a real server. The
layer and the write-behind are tested in ``test_cache_layer.py``. Every async
test here runs on trio and on asyncio.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio

from claude_force_trio._cache._disk import DiskCache
from claude_force_trio._cache._entry import (
    CacheBackend,
    CachedResponse,
    cache_key,
    canonical_request,
)
from claude_force_trio._cache._policy import (
    CachePolicy,
    min_cacheable_tokens,
    worth_prompt_caching,
)
from claude_force_trio._config import AgentConfig, CacheConfig, Config, Defaults, FeaturesConfig
from claude_force_trio._pricing import cost_usd
from claude_force_trio._prompts import build_request
from claude_force_trio._types import MessageResult, Usage

pytestmark = pytest.mark.anyio

HOUR = 3600.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def agent(definition: str = "# Reviewer\n\nYou review code.", **kw: Any) -> AgentConfig:
    """An in-memory agent."""
    return AgentConfig(name="reviewer", file=Path("/v/reviewer.md"), definition=definition, **kw)


def body(**changes: Any) -> dict[str, Any]:
    """A request body as the engine builds it, with ``changes`` applied."""
    base = build_request(agent(), Defaults(), "# Your task\n\nReview _client.py\n")
    base.update(changes)
    return base


def message(text: str = "LGTM", *, stop_reason: str = "end_turn", **kw: Any) -> MessageResult:
    """A live answer."""
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_input_tokens=2000)
    return MessageResult(
        id="msg_1", model="claude-sonnet-4-5", text=text, stop_reason=stop_reason, usage=usage, **kw
    )


def entry(text: str = "LGTM", created: float = 1_000_000.0) -> CachedResponse:
    """A stored answer."""
    return CachedResponse.from_message(message(text), created)


# -- key ------------------------------------------------------------------------------


def test_same_request_same_key() -> None:
    """Two builds of the same request hash to the same 64-hex-digit key."""
    assert cache_key(body()) == cache_key(body())
    assert len(cache_key(body())) == 64


OUTPUT_CHANGES = {
    "model": "claude-haiku-4-5",
    "max_tokens": 17,
    "temperature": 0.3,
    "top_p": 0.9,
    "top_k": 5,
    "stop_sequences": ["END"],
    "tools": [{"name": "t", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "messages": [{"role": "user", "content": "something else"}],
    "system": [{"type": "text", "text": "another definition"}],
}


@pytest.mark.parametrize("field", sorted(OUTPUT_CHANGES))
def test_output_changing_field_changes_key(field: str) -> None:
    """Changing any field that can change the answer changes the key."""
    assert cache_key(body(**{field: OUTPUT_CHANGES[field]})) != cache_key(body())


@pytest.mark.parametrize(
    "changes",
    [
        {"stream": True},
        {"metadata": {"user_id": "u-42"}},
        {"system": [{"type": "text", "text": "# Reviewer\n\nYou review code."}]},  # no marker
        {
            "system": [
                {
                    "type": "text",
                    "text": "# Reviewer\n\nYou review code.",
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                }
            ]
        },
    ],
    ids=["stream", "metadata", "no-cache_control", "other-cache_control"],
)
def test_non_output_fields_keep_key(changes: dict[str, Any]) -> None:
    """``stream``, ``metadata`` and ``cache_control`` markers are not part of the key."""
    assert cache_key(body(**changes)) == cache_key(body())


def test_nested_cache_control_is_stripped() -> None:
    """A ``cache_control`` deep inside message content does not change the key either."""
    plain = body(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    marked = copy.deepcopy(plain)
    marked["messages"][0]["content"][0]["cache_control"] = {"type": "ephemeral"}
    assert cache_key(marked) == cache_key(plain)
    assert b"cache_control" not in canonical_request(marked)


def test_edited_definition_or_contract_misses() -> None:
    """Editing the agent's definition or contract changes the system text, so the key."""
    task = "# Your task\n\nReview\n"
    base = cache_key(build_request(agent(), Defaults(), task))
    edited = cache_key(build_request(agent("# Reviewer\n\nBe strict."), Defaults(), task))
    contract = cache_key(build_request(agent(contract="Cite lines."), Defaults(), task))
    assert len({base, edited, contract}) == 3


def test_key_is_canonical_json() -> None:
    """Key order and whitespace do not matter: the JSON is sorted and compact."""
    a = {"model": "m", "max_tokens": 1, "messages": []}
    b = {"messages": [], "max_tokens": 1, "model": "m"}
    assert cache_key(a) == cache_key(b)
    assert b" " not in canonical_request(a)


# -- entries --------------------------------------------------------------------------


def test_entry_round_trip() -> None:
    """An entry survives JSON and replays as the same text, model, stop reason and usage."""
    stored = entry()
    back = CachedResponse.from_json(stored.to_json("k"), "k")
    assert back == stored
    assert back.to_message().text == "LGTM"


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\xff garbage", b"[]", b'{"v": 1}', 42, b'{"v":1,"key":"other"}'],
    ids=["empty", "binary", "list", "partial", "not-bytes", "wrong-key"],
)
def test_invalid_entry_rejected(data: object) -> None:
    """Anything but a complete entry for this key is rejected with ValueError."""
    with pytest.raises(ValueError, match="entry"):
        CachedResponse.from_json(data, "k")


# -- behavioural checks shared with the Redis backend -----------------------------------

MakeBackend = Callable[[FakeClock], CacheBackend]


async def check_hit_and_miss(backend: CacheBackend) -> None:
    """Store → get returns the same entry; another key misses."""
    assert await backend.get("a" * 64) is None
    await backend.set("a" * 64, entry("alpha"))
    got = await backend.get("a" * 64)
    assert got == entry("alpha")
    assert await backend.get("b" * 64) is None


async def check_ttl(backend: CacheBackend, clock: FakeClock) -> None:
    """An entry older than the TTL (by the injected clock) misses and is removed."""
    await backend.set("c" * 64, entry(created=clock.now))
    clock.now += 23 * HOUR
    assert await backend.get("c" * 64) is not None
    clock.now += 1 * HOUR
    assert await backend.get("c" * 64) is None
    clock.now -= 10 * HOUR  # even with the clock back, the entry is gone
    assert await backend.get("c" * 64) is None


async def check_stats(backend: CacheBackend) -> None:
    """Recorded hits, misses and saved USD persist through statistics()."""
    backend.record(hit=False)
    backend.record(hit=True, saved_usd=0.25)
    backend.record(hit=True, saved_usd=0.5)
    await backend.set("d" * 64, entry())
    stats = await backend.statistics()
    assert (stats.hits, stats.misses) == (2, 1)
    assert stats.saved_usd == pytest.approx(0.75)
    assert stats.hit_rate == pytest.approx(2 / 3)
    assert stats.entries >= 1
    assert await backend.clear() >= 1
    after = await backend.statistics()
    assert (after.entries, after.hits, after.saved_usd) == (0, 0, 0.0)


# -- DiskCache --------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    """A fake wall clock."""
    return FakeClock()


@pytest.fixture
async def disk(tmp_path: Path, clock: FakeClock) -> AsyncIterator[DiskCache]:
    """A DiskCache in a temporary directory with a 24 h TTL on the fake clock."""
    cache = await DiskCache.open(tmp_path / "cache", ttl_s=24 * HOUR, clock=clock)
    yield cache
    await cache.aclose()


async def test_disk_hit_and_miss(disk: DiskCache) -> None:
    """DiskCache: a stored entry is read back identical; others miss."""
    await check_hit_and_miss(disk)


async def test_disk_ttl(disk: DiskCache, clock: FakeClock) -> None:
    """DiskCache: TTL expiry on the fake clock."""
    await check_ttl(disk, clock)


async def test_disk_stats(disk: DiskCache) -> None:
    """DiskCache: counters persist and clear() resets everything."""
    await check_stats(disk)


async def test_disk_stats_survive_reopen(tmp_path: Path, clock: FakeClock) -> None:
    """Counters recorded in one session are visible in the next (another process, later)."""
    first = await DiskCache.open(tmp_path, clock=clock)
    first.record(hit=True, saved_usd=0.01)
    await first.aclose()
    second = await DiskCache.open(tmp_path, clock=clock)
    stats = await second.statistics()
    await second.aclose()
    assert stats.hits == 1
    assert stats.saved_usd == pytest.approx(0.01)


async def test_disk_size_cap_evicts_least_recently_used(tmp_path: Path, clock: FakeClock) -> None:
    """Over the size cap, the least recently *used* entry goes, and it is counted."""
    cache = await DiskCache.open(tmp_path, size_limit_bytes=200_000, clock=clock)
    big = "x" * 40_000  # inline in SQLite: the file's pages are the size
    for name in "ABCD":
        await cache.set(name * 64, entry(big + name))
    assert await cache.get("A" * 64) is not None  # A is now the most recently used
    await cache.set("E" * 64, entry(big + "E"))
    present = {n for n in "ABCDE" if await cache.get(n * 64) is not None}
    stats = await cache.statistics()
    await cache.aclose()
    assert present == {"A", "C", "D", "E"}
    assert stats.evictions == 1
    assert stats.size_bytes <= 200_000


async def test_disk_miss_asks_no_lock(tmp_path: Path) -> None:
    """A miss is a plain read: it does not wait while a batch (any process's) holds the lock."""
    cache = await DiskCache.open(tmp_path)
    con = sqlite3.connect(tmp_path / "responses" / "cache.db", isolation_level=None)
    con.execute("BEGIN IMMEDIATE")  # another writer, in the middle of its transaction
    got: list[object] = []

    async def look() -> None:
        got.append(await cache.get("f" * 64))

    async with anyio.create_task_group() as group:
        group.start_soon(look)
        await anyio.wait_all_tasks_blocked()
        answered = list(got)
        con.execute("ROLLBACK")  # lets a read that waits for the lock go on
    con.close()
    await cache.aclose()
    assert answered == [None]  # answered while the lock was held


def _sql(cache_dir: Path, statement: str, *args: Any) -> list[Any]:
    with sqlite3.connect(cache_dir / "responses" / "cache.db") as con:
        return con.execute(statement, args).fetchall()


def _garble_value(cache_dir: Path, key: str) -> None:
    _sql(cache_dir, "UPDATE Cache SET value = ? WHERE key = ?", b"\x00\x13garbage{", key)


def _truncate_value(cache_dir: Path, key: str) -> None:
    _sql(cache_dir, "UPDATE Cache SET value = substr(value, 1, 1000) WHERE key = ?", key)


def _drop_value(cache_dir: Path, key: str) -> None:
    _sql(cache_dir, "UPDATE Cache SET value = NULL WHERE key = ?", key)


def _plant_pickle(cache_dir: Path, key: str) -> None:
    _sql(cache_dir, "UPDATE Cache SET mode = 4, value = ? WHERE key = ?", b"cos\nsystem\n.", key)


def _other_key(cache_dir: Path, key: str) -> None:
    other = CachedResponse.from_message(message("wrong"), 1_000_000.0).to_json("f" * 64)
    _sql(cache_dir, "UPDATE Cache SET value = ? WHERE key = ?", other, key)


@pytest.mark.parametrize(
    ("damage", "size"),
    [
        (_garble_value, 100),
        (_truncate_value, 50_000),
        (_drop_value, 50_000),
        (_plant_pickle, 100),
        (_other_key, 100),
    ],
    ids=["garbled-sqlite-value", "truncated-value", "missing-value", "pickle", "wrong-key"],
)
async def test_disk_corrupt_entry_is_miss_and_removed(
    tmp_path: Path, clock: FakeClock, damage: Callable[[Path, str], None], size: int
) -> None:
    """A damaged entry is a miss, is removed from disk, raises nothing; the cache still works."""
    cache = await DiskCache.open(tmp_path, clock=clock)
    key = "e" * 64
    await cache.set(key, entry("y" * size))
    damage(tmp_path, key)
    assert await cache.get(key) is None
    assert _sql(tmp_path, "SELECT count(*) FROM Cache WHERE key = ?", key) == [(0,)]
    await cache.set(key, entry("fresh"))
    got = await cache.get(key)
    await cache.aclose()
    assert got is not None
    assert got.text == "fresh"


# -- policy ----------------------------------------------------------------------------


def config(**cache: Any) -> Config:
    """A config with two agents, one of them opted out, and the given cache section."""
    features = FeaturesConfig(cache_enabled=cache.pop("features_cache", True))
    return Config(
        path=Path("/v/claude.json"),
        root=Path("/v"),
        agents={"reviewer": agent(), "writer": replace(agent(), name="writer", cache=False)},
        cache=CacheConfig(**cache),
        features=features,
    )


@pytest.mark.parametrize(
    ("settings", "no_cache", "agent_name", "expected"),
    [
        ({}, False, "reviewer", True),
        ({}, True, "reviewer", False),
        ({"enabled": False}, False, "reviewer", False),
        ({"features_cache": False}, False, "reviewer", False),
        ({}, False, "writer", False),
        ({"exclude_agents": ("reviewer",)}, False, "reviewer", False),
        ({}, False, None, True),
    ],
    ids=["on", "--no-cache", "cache.enabled", "features", "agent-cache-false", "excluded", "none"],
)
def test_policy(settings: dict[str, Any], no_cache: bool, agent_name: str, expected: bool) -> None:
    """Every switch that turns the cache off does so for reads and writes alike."""
    policy = CachePolicy.from_config(config(**settings), no_cache=no_cache)
    assert policy.uses_cache(agent_name) is expected


@pytest.mark.parametrize(
    ("stop_reason", "store_truncated", "expected"),
    [
        ("end_turn", False, True),
        ("stop_sequence", False, True),
        ("max_tokens", False, False),
        ("max_tokens", True, True),
        ("tool_use", False, True),  # content blocks are kept: a tool turn replays whole
        ("pause_turn", False, True),
        ("refusal", False, False),
    ],
)
def test_storable(stop_reason: str, store_truncated: bool, expected: bool) -> None:
    """Only complete answers are stored; truncated ones only when asked."""
    policy = CachePolicy(store_truncated=store_truncated)
    assert policy.storable(message(stop_reason=stop_reason)) is expected


# -- prompt caching -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "floor"),
    [
        ("claude-sonnet-4-5", 1024),
        ("sonnet", 1024),
        ("claude-opus-4-1", 1024),
        ("claude-haiku-4-5", 4096),
        ("haiku", 4096),
        ("claude-opus-4-5-20251101", 4096),
        ("claude-3-5-haiku-20241022", 2048),
    ],
)
def test_min_cacheable_tokens(model: str, floor: int) -> None:
    """The API's minimum cacheable prefix per model family."""
    assert min_cacheable_tokens(model) == floor


def test_worth_prompt_caching_threshold() -> None:
    """A prefix is worth marking from the floor up (characters ÷ 4 as tokens)."""
    assert not worth_prompt_caching("x" * (4 * 1024 - 4), "claude-sonnet-4-5")
    assert worth_prompt_caching("x" * (4 * 1024), "claude-sonnet-4-5")
    assert not worth_prompt_caching("x" * (4 * 1024), "claude-haiku-4-5")


def test_prompt_cache_pricing_multipliers() -> None:
    """Cache reads cost 0.1× input; writes 1.25× (5 min) or 2× (1 h)."""
    million = 1_000_000
    for model in ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-8"):
        base = cost_usd(Usage(input_tokens=million), model)
        assert base is not None
        read = cost_usd(Usage(cache_read_input_tokens=million), model)
        write = cost_usd(Usage(cache_creation_input_tokens=million), model)
        write_1h = cost_usd(Usage(cache_creation_input_tokens=million), model, cache_ttl="1h")
        assert read == pytest.approx(0.1 * base)
        assert write == pytest.approx(1.25 * base)
        assert write_1h == pytest.approx(2 * base)


# -- CLI ------------------------------------------------------------------------------


def test_cli_stats_and_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cft cache stats --json` shows persisted counters; `clear` asks, `--yes` does not."""
    import json

    from typer.testing import CliRunner

    from claude_force_trio.cli import app

    monkeypatch.setenv("CFT_HOME", str(tmp_path))
    monkeypatch.delenv("CFT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    async def seed() -> None:
        cache = await DiskCache.open(tmp_path / "cache")
        cache.record(hit=True, saved_usd=0.5)
        cache.record(hit=False)
        await cache.set("a" * 64, entry())
        await cache.aclose()

    trio.run(seed)
    runner = CliRunner()
    result = runner.invoke(app, ["cache", "stats", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["backend"], doc["entries"], doc["hits"], doc["misses"]) == ("disk", 1, 1, 1)
    assert (doc["hit_rate"], doc["saved_usd"]) == (0.5, 0.5)
    refused = runner.invoke(app, ["cache", "clear"], input="n\n")
    assert refused.exit_code == 0
    assert json.loads(runner.invoke(app, ["cache", "stats", "--json"]).stdout)["entries"] == 1
    cleared = runner.invoke(app, ["cache", "clear", "--yes"])
    assert cleared.exit_code == 0
    assert "removed 1 cached response" in cleared.stdout
    assert json.loads(runner.invoke(app, ["cache", "stats", "--json"]).stdout)["entries"] == 0
