"""The semantic cache's wiring: its config keys, and the cache layer over a fake index.

The semantic cache itself (embeddings, the literal guard, the vector store)
is tested apart; here a :class:`FakeSemantic` stands in for it, with the
similarities a test gives, so each path of the layer is pinned exactly:
a match served with its similarity at zero usage, a stale match forgotten and
asked live, a live answer indexed, ineligible calls left alone, an exact hit
that never asks the index, and single-flight still sharing one answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from claude_force_trio._cache._disk import DiskCache
from claude_force_trio._cache._entry import cache_key
from claude_force_trio._cache._layer import CacheLayer
from claude_force_trio._cache._policy import CachePolicy, ResponseCache, semantic_thresholds
from claude_force_trio._cache._semantic_use import SemanticIndex
from claude_force_trio._call import Call, CallObserver
from claude_force_trio._config import (
    SEMANTIC_THRESHOLD,
    AgentSemanticConfig,
    Config,
    SemanticConfig,
)
from claude_force_trio._config._load import load_document
from claude_force_trio._config._migrate import config_to_dict
from claude_force_trio._errors import ConfigError
from claude_force_trio._pricing import cost_usd
from claude_force_trio._types import MessageResult, Usage

from .test_cache import body, message
from .test_cache_layer import FakeInner

pytestmark = pytest.mark.anyio

# -- config ---------------------------------------------------------------------------


def load(tmp_path: Path, doc: Mapping[str, Any]) -> Config:
    """``doc`` loaded as a ``claude.json`` in ``tmp_path``, whose agents all read ``a.md``."""
    (tmp_path / "a.md").write_text("# Agent\n\nYou review code.\n", encoding="utf-8")
    return load_document(json.loads(json.dumps(doc)), tmp_path / "claude.json")


def agents(**settings: Mapping[str, Any]) -> dict[str, Any]:
    """An ``agents`` section: each named agent reads ``a.md`` plus its ``settings``."""
    return {name: {"file": "a.md", **extra} for name, extra in settings.items()}


def test_defaults_are_off_at_the_default_threshold(tmp_path: Path) -> None:
    """With nothing said, the semantic cache is off and the threshold is the module constant."""
    config = load(tmp_path, {"agents": agents(a={})})
    assert config.cache.semantic == SemanticConfig(enabled=False, threshold=SEMANTIC_THRESHOLD)
    assert 0.0 < SEMANTIC_THRESHOLD <= 1.0
    assert config.agents["a"].semantic_cache is None
    assert config.agents["a"].cache is True


@pytest.mark.parametrize(
    ("written", "cache", "semantic"),
    [
        (True, True, None),
        (False, False, None),
        ({}, True, None),
        ({"semantic": True}, True, AgentSemanticConfig(True, None)),
        ({"semantic": False}, True, AgentSemanticConfig(False, None)),
        ({"semantic": {}}, True, AgentSemanticConfig(True, None)),
        ({"semantic": {"threshold": 0.97}}, True, AgentSemanticConfig(True, 0.97)),
        ({"semantic": {"enabled": False, "threshold": 1}}, True, AgentSemanticConfig(False, 1.0)),
    ],
    ids=["true", "false", "empty", "on", "off", "empty-object", "threshold", "off-threshold"],
)
def test_agent_cache_forms(
    tmp_path: Path, written: Any, cache: bool, semantic: AgentSemanticConfig | None
) -> None:
    """An agent's ``cache`` is a boolean or ``{"semantic": …}``; an object's ``enabled`` is true."""
    agent = load(tmp_path, {"agents": agents(a={"cache": written})}).agents["a"]
    assert (agent.cache, agent.semantic_cache) == (cache, semantic)


def test_top_level_forms(tmp_path: Path) -> None:
    """``cache.semantic`` takes an object, or a bare boolean for ``enabled``."""
    doc = {"cache": {"semantic": {"enabled": True, "threshold": 0.9}}}
    assert load(tmp_path, doc).cache.semantic == SemanticConfig(True, 0.9)
    assert load(tmp_path, {"cache": {"semantic": True}}).cache.semantic == SemanticConfig(True)


TOOLS = (
    "an agent with tools cannot use the semantic cache"
    " (its answers depend on what its tools return)"
)
RANGE = "expected a number above 0 and at most 1"


@pytest.mark.parametrize(
    ("doc", "line"),
    [
        (
            {"agents": agents(reviewer={"tools": ["read_file"], "cache": {"semantic": True}})},
            f"agents.reviewer.cache.semantic: {TOOLS}",
        ),
        (
            {
                "agents": agents(
                    reviewer={
                        "tools": [{"type": "web_search_20250305", "name": "w"}],
                        "cache": {"semantic": {"threshold": 0.95}},
                    }
                )
            },
            f"agents.reviewer.cache.semantic: {TOOLS}",
        ),
        (
            {"agents": agents(a={"cache": {"semantc": True}})},
            "agents.a.cache.semantc: unknown key (did you mean 'semantic'?)",
        ),
        (
            {"agents": agents(a={"cache": {"semantic": {"treshold": 0.9}}})},
            "agents.a.cache.semantic.treshold: unknown key (did you mean 'threshold'?)",
        ),
        (
            {"agents": agents(a={"cache": {"semantic": "yes"}})},
            'agents.a.cache.semantic: expected true, false or an object with "enabled" and'
            ' "threshold", got "yes"',
        ),
        (
            {"agents": agents(a={"cache": {"semantic": {"enabled": "yes"}}})},
            'agents.a.cache.semantic.enabled: expected true or false, got "yes"',
        ),
        ({"agents": agents(a={"cache": 1})}, "agents.a.cache: expected true or false, got 1"),
        (
            {"cache": {"semantic": {"enabeld": True}}},
            "cache.semantic.enabeld: unknown key (did you mean 'enabled'?)",
        ),
        ({"cache": {"semantic": {"threshold": 0}}}, f"cache.semantic.threshold: {RANGE}, got 0"),
        (
            {"cache": {"semantic": {"threshold": 1.5}}},
            f"cache.semantic.threshold: {RANGE}, got 1.5",
        ),
        (
            {"cache": {"semantic": {"threshold": 1e308}}},
            f"cache.semantic.threshold: {RANGE}, got 1e+308",
        ),
        (
            {"agents": agents(a={"cache": {"semantic": {"threshold": -0.5}}})},
            f"agents.a.cache.semantic.threshold: {RANGE}, got -0.5",
        ),
        (
            {"cache": {"semantic": []}},
            "cache.semantic: expected true, false or an object with"
            ' "enabled" and "threshold", got a list',
        ),
        (
            {"cache": {"semantics": {}}},
            "cache.semantics: unknown key (did you mean 'semantic'?)",
        ),
    ],
    ids=[
        "tools",
        "server-tool",
        "agent-key",
        "agent-inner-key",
        "agent-type",
        "agent-enabled-type",
        "agent-cache-type",
        "top-key",
        "zero",
        "above-one",
        "huge",
        "negative",
        "top-type",
        "section-key",
    ],
)
def test_errors_name_the_json_path(tmp_path: Path, doc: Mapping[str, Any], line: str) -> None:
    """Each wrong setting is one line naming its JSON path (with a hint for a typo)."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, doc)
    assert str(info.value) == line


def test_an_agent_with_tools_may_say_no(tmp_path: Path) -> None:
    """Turning the semantic cache off for an agent with tools is no conflict."""
    doc = {"agents": agents(r={"tools": ["read_file"], "cache": {"semantic": False}})}
    assert load(tmp_path, doc).agents["r"].semantic_cache == AgentSemanticConfig(False)


def test_precedence_top_level_and_agents(tmp_path: Path) -> None:
    """An agent's own setting wins; silence follows the top level; tools, opt-outs never."""
    doc = {
        "cache": {"semantic": {"enabled": True, "threshold": 0.9}, "exclude_agents": ["gone"]},
        "agents": agents(
            quiet={},
            own={"cache": {"semantic": {"threshold": 0.97}}},
            off={"cache": {"semantic": False}},
            tooled={"tools": ["read_file"]},
            nocache={"cache": False},
            gone={"cache": {"semantic": True}},
        ),
    }
    config = load(tmp_path, doc)
    policy = CachePolicy.from_config(config)
    assert semantic_thresholds(config, policy) == {"quiet": 0.9, "own": 0.97}
    assert semantic_thresholds(config, CachePolicy.from_config(config, no_cache=True)) == {}


def test_top_level_off_only_agents_that_ask(tmp_path: Path) -> None:
    """With the top level off, only agents that ask have it, at their or the top threshold."""
    doc = {
        "cache": {"semantic": {"threshold": 0.95}},
        "agents": agents(quiet={}, asks={"cache": {"semantic": True}}),
    }
    config = load(tmp_path, doc)
    assert semantic_thresholds(config, CachePolicy.from_config(config)) == {"asks": 0.95}
    off = replace(config, features=replace(config.features, cache_enabled=False))
    assert semantic_thresholds(off, CachePolicy.from_config(off)) == {}


def test_migrate_writes_the_keys_back(tmp_path: Path) -> None:
    """``cft config migrate`` writes every semantic setting so that it loads back equal."""
    doc = {
        "cache": {"semantic": {"enabled": True, "threshold": 0.9}},
        "agents": agents(
            quiet={},
            on={"cache": {"semantic": True}},
            own={"cache": {"semantic": {"enabled": False, "threshold": 0.97}}},
            off={"cache": False},
        ),
    }
    config = load(tmp_path, doc)
    written = config_to_dict(config)
    assert written["cache"]["semantic"] == {"enabled": True, "threshold": 0.9}
    assert {n: a["cache"] for n, a in written["agents"].items()} == {
        "quiet": True,
        "on": {"semantic": True},
        "own": {"semantic": {"enabled": False, "threshold": 0.97}},
        "off": False,
    }
    assert load(tmp_path, written) == config
    plain = config_to_dict(load(tmp_path, {"agents": agents(a={})}))
    assert plain["cache"]["semantic"] == {"enabled": False, "threshold": SEMANTIC_THRESHOLD}


# -- the layer, over a fake index -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeQuery:
    """What the fake index's ``query`` returns (the real one's fields that matter here)."""

    agent: str
    text: str
    threshold: float


@dataclass(frozen=True, slots=True)
class FakeMatch:
    """A match: the exact key found and the similarity."""

    key: str
    similarity: float


class FakeSemantic:
    """A semantic index whose similarities are given: ``similar[(new, old)]``, else 0.

    It follows the interface's rules: a query only for listed agents and for a
    body of one user message with no tools; ``find`` returns the most similar
    indexed text at or above the agent's threshold. Every call is logged.
    """

    def __init__(self, thresholds: Mapping[str, float], similar: Mapping[tuple[str, str], float]):
        self.thresholds = dict(thresholds)
        self.similar = dict(similar)
        self.index: dict[str, str] = {}  # text -> key
        self.log: list[tuple[str, str]] = []

    def query(self, call: Call) -> FakeQuery | None:
        """A query for an eligible call of a listed agent, else ``None``."""
        messages = call.body.get("messages")
        if call.agent not in self.thresholds or "tools" in call.body or "tool_choice" in call.body:
            return None
        if not isinstance(messages, list) or len(messages) != 1:
            return None
        content = messages[0].get("content")
        if messages[0].get("role") != "user" or not isinstance(content, str):
            return None
        return FakeQuery(call.agent, content, self.thresholds[call.agent])

    async def find(self, query: FakeQuery) -> FakeMatch | None:
        """The most similar indexed text at or above the threshold."""
        self.log.append(("find", query.text))
        await anyio.lowlevel.checkpoint()
        scored = [
            (self.similar.get((query.text, text), 0.0), key) for text, key in self.index.items()
        ]
        best = max(scored, default=(0.0, ""))
        return FakeMatch(best[1], best[0]) if best[0] >= query.threshold else None

    async def add(self, query: FakeQuery, key: str) -> None:
        """Index ``query.text`` under ``key``."""
        self.log.append(("add", query.text))
        self.index[query.text] = key

    async def forget(self, query: FakeQuery, key: str) -> None:
        """Drop the text indexed under ``key``."""
        self.log.append(("forget", key))
        self.index = {text: k for text, k in self.index.items() if k != key}


class Heard(CallObserver):
    """Remembers every ``served`` the layer reported: ``(saved_usd, similarity)``."""

    def __init__(self) -> None:
        self.served_with: list[tuple[float, float | None]] = []

    def served(self, saved_usd: float, similarity: float | None = None) -> None:
        """Note a served answer and its similarity."""
        self.served_with.append((saved_usd, similarity))


ORIGINAL = "Review the error handling in _client.py"
PARAPHRASE = "Check how _client.py handles errors"
OTHER = "Review the error handling in _server.py"


def task_call(text: str, agent: str = "reviewer", **changes: Any) -> Call:
    """A call of ``agent`` whose only message is ``text``."""
    return Call(body(messages=[{"role": "user", "content": text}], **changes), agent=agent)


@pytest.fixture
async def disk(tmp_path: Path) -> AsyncIterator[DiskCache]:
    """A DiskCache in a temporary directory."""
    cache = await DiskCache.open(tmp_path / "cache")
    yield cache
    await cache.aclose()


def stack(
    disk: DiskCache, answer: MessageResult | None = None, *, similarity: float = 0.95
) -> tuple[CacheLayer, FakeInner, FakeSemantic, ResponseCache]:
    """A layer over ``disk`` whose index finds PARAPHRASE ``similarity`` close to ORIGINAL."""
    inner = FakeInner(answer or message())
    semantic = FakeSemantic({"reviewer": 0.9}, {(PARAPHRASE, ORIGINAL): similarity})
    cache = ResponseCache(disk, CachePolicy())
    cache.semantic = semantic
    return CacheLayer(inner, cache), inner, semantic, cache


def test_the_fake_satisfies_the_protocol() -> None:
    """The fake has the shape the layer asks of the real semantic cache."""
    index: SemanticIndex = FakeSemantic({}, {})
    assert index.query(task_call(ORIGINAL)) is None


async def test_miss_goes_live_and_is_indexed(disk: DiskCache) -> None:
    """A first task misses both caches, is asked live, stored, and indexed under its key."""
    layer, inner, semantic, cache = stack(disk)
    heard = Heard()
    answer = await layer.send(task_call(ORIGINAL), heard)
    assert (inner.calls, heard.served_with) == (1, [])
    assert answer.usage == message().usage
    assert semantic.log == [("find", ORIGINAL), ("add", ORIGINAL)]
    assert semantic.index == {ORIGINAL: cache_key(task_call(ORIGINAL).body)}
    assert (cache.hits, cache.misses) == (0, 1)


async def test_paraphrase_is_served_with_its_similarity(disk: DiskCache) -> None:
    """A close task is served the stored answer: no call, zero usage, similarity heard."""
    layer, inner, semantic, cache = stack(disk, similarity=0.9512)
    first = await layer.send(task_call(ORIGINAL), Heard())
    heard = Heard()
    served = await layer.send(task_call(PARAPHRASE), heard)
    saved = cost_usd(first.usage, first.model)
    assert inner.calls == 1
    assert served.text == first.text
    assert served.usage == Usage()
    [(saved_usd, similarity)] = heard.served_with
    assert saved_usd == pytest.approx(saved)
    assert similarity == 0.9512
    assert semantic.log[2:] == [("find", PARAPHRASE)]  # served: nothing indexed anew
    assert (cache.hits, cache.misses) == (1, 1)
    stats = await disk.statistics()
    assert (stats.hits, stats.misses) == (1, 1)


async def test_below_threshold_goes_live(disk: DiskCache) -> None:
    """A task below the agent's threshold is a miss: asked live and indexed too."""
    layer, inner, semantic, cache = stack(disk, similarity=0.85)
    await layer.send(task_call(ORIGINAL), Heard())
    heard = Heard()
    await layer.send(task_call(PARAPHRASE), heard)
    assert (inner.calls, heard.served_with) == (2, [])
    assert set(semantic.index) == {ORIGINAL, PARAPHRASE}
    assert (cache.hits, cache.misses) == (0, 2)


async def test_stale_match_is_forgotten_and_asked_live(disk: DiskCache) -> None:
    """A match whose answer left the store is forgotten; the call goes live and is indexed."""
    layer, inner, semantic, cache = stack(disk)
    semantic.index[ORIGINAL] = "f" * 64  # indexed, but no answer stored under that key
    heard = Heard()
    await layer.send(task_call(PARAPHRASE), heard)
    assert (inner.calls, heard.served_with) == (1, [])
    assert semantic.log == [("find", PARAPHRASE), ("forget", "f" * 64), ("add", PARAPHRASE)]
    assert semantic.index == {PARAPHRASE: cache_key(task_call(PARAPHRASE).body)}
    assert (cache.hits, cache.misses) == (0, 1)


async def test_exact_hit_never_asks_the_index(disk: DiskCache) -> None:
    """The same request again is an exact hit: the semantic index is not consulted."""
    layer, inner, semantic, _ = stack(disk)
    await layer.send(task_call(ORIGINAL), Heard())
    heard = Heard()
    await layer.send(task_call(ORIGINAL), heard)
    assert inner.calls == 1
    [(saved_usd, similarity)] = heard.served_with
    assert saved_usd == pytest.approx(cost_usd(message().usage, "claude-sonnet-4-5"))
    assert similarity is None
    assert [entry for entry in semantic.log if entry[0] == "find"] == [("find", ORIGINAL)]


@pytest.mark.parametrize(
    "make",
    [
        lambda: task_call(PARAPHRASE, agent="writer"),
        lambda: task_call(PARAPHRASE, tools=[{"name": "t", "input_schema": {"type": "object"}}]),
        lambda: Call(
            body(
                messages=[
                    {"role": "user", "content": ORIGINAL},
                    {"role": "assistant", "content": "Sure"},
                    {"role": "user", "content": PARAPHRASE},
                ]
            ),
            agent="reviewer",
        ),
    ],
    ids=["other-agent", "tools", "conversation"],
)
async def test_ineligible_calls_take_the_plain_path(
    disk: DiskCache, make: Callable[[], Call]
) -> None:
    """A call the index gives no query for never asks it: live, stored, not indexed."""
    layer, inner, semantic, _ = stack(disk)
    await layer.send(task_call(ORIGINAL), Heard())
    heard = Heard()
    await layer.send(make(), heard)
    assert (inner.calls, heard.served_with) == (2, [])
    assert semantic.log == [("find", ORIGINAL), ("add", ORIGINAL)]
    again = Heard()
    await layer.send(make(), again)  # and the exact cache still works for it
    assert (inner.calls, len(again.served_with)) == (2, 1)


async def test_uncacheable_call_bypasses_both(disk: DiskCache) -> None:
    """A call marked uncacheable (side-effect tools) reads and writes neither cache."""
    layer, inner, semantic, _ = stack(disk)
    await layer.send(task_call(ORIGINAL), Heard())
    await layer.send(replace(task_call(PARAPHRASE), cache=False), Heard())
    assert inner.calls == 2
    assert semantic.log == [("find", ORIGINAL), ("add", ORIGINAL)]


async def test_an_unstorable_answer_is_not_indexed(disk: DiskCache) -> None:
    """A truncated answer is neither stored nor indexed: no later task may be served it."""
    layer, inner, semantic, _ = stack(disk, message(stop_reason="max_tokens"))
    await layer.send(task_call(ORIGINAL), Heard())
    await layer.send(task_call(PARAPHRASE), Heard())
    assert inner.calls == 2
    assert semantic.log == [("find", ORIGINAL), ("find", PARAPHRASE)]
    assert semantic.index == {}


async def test_single_flight_shares_a_semantic_hit(disk: DiskCache) -> None:
    """Identical paraphrases at once: one lookup, every caller served with the similarity."""
    layer, inner, semantic, cache = stack(disk, similarity=0.97)
    await layer.send(task_call(ORIGINAL), Heard())
    heard = [Heard() for _ in range(3)]
    async with anyio.create_task_group() as group:
        for observer in heard:
            group.start_soon(layer.send, task_call(PARAPHRASE), observer)
    assert inner.calls == 1
    assert [h.served_with[0][1] for h in heard] == [0.97, 0.97, 0.97]
    assert semantic.log.count(("find", PARAPHRASE)) == 1
    assert (cache.hits, cache.misses) == (3, 1)


async def test_single_flight_shares_a_live_answer(disk: DiskCache) -> None:
    """Identical new tasks at once: one live call, indexed once; the followers are served."""
    gate = anyio.Event()
    layer, inner, semantic, _ = stack(disk)
    inner.gate = gate
    heard = [Heard() for _ in range(3)]
    async with anyio.create_task_group() as group:
        for observer in heard:
            group.start_soon(layer.send, task_call(ORIGINAL), observer)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert inner.calls == 1
    assert sorted(len(h.served_with) for h in heard) == [0, 1, 1]
    assert all(s[1] is None for h in heard for s in h.served_with)
    assert semantic.log == [("find", ORIGINAL), ("add", ORIGINAL)]


async def test_pending_answer_is_matched_before_it_is_written(tmp_path: Path) -> None:
    """A paraphrase asked while its answer is still in the write-behind is served from it."""
    from claude_force_trio._cache._policy import open_response_cache

    from .test_cache import config

    async with open_response_cache(config(directory=tmp_path / "c")) as cache:
        semantic = FakeSemantic({"reviewer": 0.9}, {(PARAPHRASE, ORIGINAL): 0.93})
        cache.semantic = semantic
        inner = FakeInner(message())
        layer = CacheLayer(inner, cache)
        await layer.send(task_call(ORIGINAL), Heard())
        assert cache.writer is not None
        assert cache.writer.pending(cache_key(task_call(ORIGINAL).body)) is not None
        heard = Heard()
        await layer.send(task_call(PARAPHRASE), heard)
    assert inner.calls == 1
    assert heard.served_with[0][1] == 0.93


async def test_open_response_cache_opens_no_index_when_nobody_has_it(tmp_path: Path) -> None:
    """Without an agent that has the semantic cache on, none is opened (no extra needed)."""
    from claude_force_trio._cache._policy import open_response_cache

    from .test_cache import config

    async with open_response_cache(config(directory=tmp_path / "c")) as cache:
        assert cache.semantic is None


# -- opening it beside the store ------------------------------------------------------


def opener(opened: list[dict[str, Any]]) -> Callable[..., Any]:
    """A stand-in ``open_semantic_cache`` that notes its arguments and yields a fake index."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def open_semantic_cache(
        thresholds: Mapping[str, float], **where: Any
    ) -> AsyncIterator[FakeSemantic]:
        opened.append({"thresholds": dict(thresholds), **where, "closed": False})
        try:
            yield FakeSemantic(thresholds, {})
        finally:
            opened[-1]["closed"] = True

    return open_semantic_cache


def semantic_config(tmp_path: Path, **cache: Any) -> Config:
    """The config of :func:`~tests.test_cache.config` with the semantic cache on at the top."""
    from .test_cache import config

    base = config(**cache)
    return replace(base, cache=replace(base.cache, semantic=SemanticConfig(True, 0.9)))


async def test_opened_beside_the_disk_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some agent has it on: opened with the disk directory, the TTL and the thresholds."""
    from claude_force_trio._cache import _semantic
    from claude_force_trio._cache._policy import open_response_cache

    opened: list[dict[str, Any]] = []
    monkeypatch.setattr(_semantic, "open_semantic_cache", opener(opened), raising=False)
    config = semantic_config(tmp_path, directory=tmp_path / "c", ttl_hours=2)
    async with open_response_cache(config) as cache:
        assert isinstance(cache.semantic, FakeSemantic)
        assert opened == [
            {
                "thresholds": {"reviewer": 0.9},  # "writer" has the response cache off
                "directory": tmp_path / "c",
                "ttl_s": 7200.0,
                "closed": False,
            }
        ]
    assert opened[0]["closed"] is True
    async with open_response_cache(config, no_cache=True) as cache:
        assert cache.semantic is None
    assert len(opened) == 1


async def test_opened_beside_the_redis_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """With the Redis backend the index goes to the same Redis."""
    from claude_force_trio._cache import _semantic
    from claude_force_trio._cache._policy import open_response_cache

    opened: list[dict[str, Any]] = []
    monkeypatch.setattr(_semantic, "open_semantic_cache", opener(opened), raising=False)
    config = semantic_config(tmp_path, backend="redis", redis_url=redis_url)
    async with open_response_cache(config) as cache:
        assert cache.semantic is not None
    assert opened == [
        {"thresholds": {"reviewer": 0.9}, "redis_url": redis_url, "ttl_s": 86400.0, "closed": True}
    ]
