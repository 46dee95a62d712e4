"""SemanticCache end to end on trio and asyncio: eligibility, scopes, find/add/forget, the TTL,
statistics, both stores, several processes, and a store that fails."""

from __future__ import annotations

import logging
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from claude_force_trio._cache._semantic import (
    SemanticCache,
    SemanticMatch,
    SemanticQuery,
    open_semantic_cache,
)
from claude_force_trio._cache._semantic._cache import embedded_text
from claude_force_trio._cache._semantic._embedder import WordLlamaEmbedder, model_files
from claude_force_trio._call import Call
from claude_force_trio._prompts import user_message

pytestmark = pytest.mark.anyio

EMBEDDER = WordLlamaEmbedder(model_files())
THRESHOLDS = {"writer": 0.56}
TASK = "Summarise the Q3 2025 earnings report"
PARAPHRASE = "Give me a summary of the Q3 2025 earnings report"


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def body(text: str | list[dict[str, Any]] = TASK, **changes: Any) -> dict[str, Any]:
    """A request body of the writer agent for ``text``, with ``changes``."""
    doc: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [
            {"type": "text", "text": "You write summaries.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [{"role": "user", "content": text}],
    }
    doc.update(changes)
    return doc


def call(
    text: str | list[dict[str, Any]] = TASK, *, agent: str | None = "writer", **changes: Any
) -> Call:
    """A call of ``agent`` for :func:`body`."""
    return Call(body(text, **changes), agent)


def key(n: int) -> str:
    """A response-cache key."""
    return f"{n:064x}"


async def query_of(
    cache: SemanticCache, text: str | list[dict[str, Any]] = TASK, **changes: Any
) -> SemanticQuery:
    """The query of an eligible call (asserted)."""
    query = cache.query(call(text, **changes))
    assert query is not None
    return query


async def test_query_eligibility(tmp_path: Path) -> None:
    """Only a listed agent's single user text message without tools gets a query."""
    async with open_semantic_cache(THRESHOLDS, directory=tmp_path, embedder=EMBEDDER) as cache:
        assert cache.query(call()) == SemanticQuery("writer", cache.query(call()).scope, TASK, 0.56)  # type: ignore[union-attr]
        blocks: list[dict[str, Any]] = [
            {"type": "text", "text": "Summarise"},
            {"type": "text", "text": "the report", "cache_control": {"type": "ephemeral"}},
        ]
        assert cache.query(call(blocks)).text == "Summarise\n\nthe report"  # type: ignore[union-attr]
        refused = [
            call(agent="reviewer"),
            call(agent=None),
            Call(body(), "writer", cache=False),
            call(tools=[{"name": "read_file", "input_schema": {"type": "object"}}]),
            call(tool_choice={"type": "auto"}),
            call(mcp_servers=[{"type": "url", "url": "https://x", "name": "x"}]),
            call(
                [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
                    }
                ]
            ),
            call([{"type": "text", "text": "a"}, {"type": "document", "source": {}}]),
            call([{"type": "text", "text": "a", "citations": True}]),
            call([]),
            call("   \n"),
            Call(
                body(
                    messages=[
                        {"role": "user", "content": "a"},
                        {"role": "assistant", "content": "b"},
                    ]
                ),
                "writer",
            ),
            Call(body(messages=[{"role": "assistant", "content": TASK}]), "writer"),
            Call(body(messages=[{"role": "user", "content": TASK, "name": "x"}]), "writer"),
            Call(body(messages=[]), "writer"),
        ]
        assert [cache.query(c) for c in refused] == [None] * len(refused)


async def test_everything_but_the_user_text_separates_scopes(tmp_path: Path) -> None:
    """Model, system prompt, max_tokens, temperature, output_config… each make their own scope."""
    async with open_semantic_cache(
        {"writer": 0.5, "editor": 0.5}, directory=tmp_path, embedder=EMBEDDER
    ) as cache:
        base = (await query_of(cache)).scope
        assert (await query_of(cache, PARAPHRASE)).scope == base
        assert (await query_of(cache, stream=True, metadata={"user_id": "u"})).scope == base
        assert (await query_of(cache, [{"type": "text", "text": TASK}])).scope == base
        variants: list[dict[str, Any]] = [
            {"model": "claude-opus-4-1"},
            {"system": "You write poems."},
            {"max_tokens": 2048},
            {"temperature": 0.2},
            {"output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
            {"stop_sequences": ["END"]},
        ]
        scopes = {(await query_of(cache, **v)).scope for v in variants}
        assert base not in scopes
        assert len(scopes) == len(variants)
        other_agent = cache.query(call(agent="editor"))
        assert other_agent is not None
        assert other_agent.scope != base


async def test_add_then_find_a_paraphrase_but_not_a_near_miss(tmp_path: Path) -> None:
    """A paraphrase finds the entry with its similarity; a changed literal or scope does not."""
    async with open_semantic_cache(THRESHOLDS, directory=tmp_path, embedder=EMBEDDER) as cache:
        first = await query_of(cache)
        assert await cache.find(first) is None
        await cache.add(first, key(1))
        found = await cache.find(await query_of(cache, PARAPHRASE))
        assert isinstance(found, SemanticMatch)
        assert found.key == key(1)
        expected = float(
            EMBEDDER.embed(embedded_text(TASK)) @ EMBEDDER.embed(embedded_text(PARAPHRASE))
        )
        assert found.similarity == round(expected, 4)
        assert 0.56 <= found.similarity < 1
        assert (
            await cache.find(await query_of(cache, "Summarise the Q4 2025 earnings report")) is None
        )
        assert await cache.find(await query_of(cache, PARAPHRASE, temperature=0.3)) is None
        exact = await cache.find(first)
        assert exact == SemanticMatch(key(1), 1.0)
        assert cache.statistics().lookups == 5
        assert cache.statistics().hits == 2
        assert cache.statistics().entries == 1
        assert cache.statistics().backend == "sqlite"


async def test_the_engine_framing_does_not_change_the_similarity(tmp_path: Path) -> None:
    """Headings of the user message are not embedded: "# Your task" adds nothing."""
    framed = user_message(TASK)
    assert framed.startswith("# Your task")
    assert embedded_text(framed) == embedded_text(TASK)


async def test_the_agents_threshold_decides(tmp_path: Path) -> None:
    """The same pair matches under a low threshold and not under a high one."""
    async with open_semantic_cache(
        {"writer": 0.99}, directory=tmp_path, embedder=EMBEDDER
    ) as cache:
        await cache.add(await query_of(cache), key(1))
        assert await cache.find(await query_of(cache, PARAPHRASE)) is None


async def test_forget_drops_the_entry_and_counts_it(tmp_path: Path) -> None:
    """A forgotten entry is gone here and from the store; statistics count it as stale."""
    async with open_semantic_cache(THRESHOLDS, directory=tmp_path, embedder=EMBEDDER) as cache:
        query = await query_of(cache)
        await cache.add(query, key(1))
        await cache.forget(query, key(1))
        assert await cache.find(query) is None
        assert cache.statistics().stale == 1
        assert cache.statistics().entries == 0
    async with open_semantic_cache(THRESHOLDS, directory=tmp_path, embedder=EMBEDDER) as fresh:
        assert await fresh.find(await query_of(fresh)) is None


async def test_entries_older_than_the_ttl_never_match(tmp_path: Path) -> None:
    """With an injected clock: a match until ttl_s has passed, none from then on."""
    clock = Clock()
    async with open_semantic_cache(
        THRESHOLDS, directory=tmp_path, ttl_s=3600.0, clock=clock, embedder=EMBEDDER
    ) as cache:
        await cache.add(await query_of(cache), key(1))
        clock.now += 3599.0
        assert await cache.find(await query_of(cache, PARAPHRASE)) is not None
        clock.now += 1.0
        assert await cache.find(await query_of(cache, PARAPHRASE)) is None
        await cache.add(await query_of(cache, "Write tests for the parser"), key(2))
        assert cache.statistics().entries == 1  # the expired one was dropped


async def test_entries_persist_and_stay_bounded(tmp_path: Path) -> None:
    """A new cache on the directory finds what an old one added; max_entries bounds both."""
    async with open_semantic_cache(
        THRESHOLDS, directory=tmp_path, embedder=EMBEDDER, max_entries=2
    ) as cache:
        for n, task in enumerate(
            [TASK, "Write tests for parse_config", "Explain recursion to a beginner"]
        ):
            await cache.add(await query_of(cache, task), key(n))
        assert cache.statistics().entries == 2
    async with open_semantic_cache(
        THRESHOLDS, directory=tmp_path, embedder=EMBEDDER, max_entries=2
    ) as fresh:
        assert await fresh.find(await query_of(fresh, PARAPHRASE)) is None  # the oldest went
        found = await fresh.find(await query_of(fresh, "Explain recursion to a beginner, please"))
        assert found is not None
        assert found.key == key(2)


CHILD = textwrap.dedent(
    """
    import sys, trio
    from pathlib import Path
    from claude_force_trio._cache._semantic import open_semantic_cache
    from claude_force_trio._call import Call

    async def main():
        message = {"role": "user", "content": sys.argv[2]}
        body = {"model": "m", "max_tokens": 5, "messages": [message]}
        async with open_semantic_cache({"writer": 0.56}, directory=Path(sys.argv[1])) as cache:
            await cache.add(cache.query(Call(body, "writer")), sys.argv[3])

    trio.run(main)
    """
)


async def test_another_process_adds_and_this_one_finds_it(tmp_path: Path) -> None:
    """A cache already open sees an entry a second process added, at its next find()."""
    async with open_semantic_cache(THRESHOLDS, directory=tmp_path, embedder=EMBEDDER) as cache:

        def q(text: str) -> SemanticQuery:
            query = cache.query(
                Call(
                    {
                        "model": "m",
                        "max_tokens": 5,
                        "messages": [{"role": "user", "content": text}],
                    },
                    "writer",
                )
            )
            assert query is not None
            return query

        assert await cache.find(q(PARAPHRASE)) is None
        await anyio.run_process(
            [sys.executable, "-c", CHILD, str(tmp_path), TASK, key(7)], check=True
        )
        found = await cache.find(q(PARAPHRASE))
        assert found is not None
        assert found.key == key(7)


@pytest.mark.redis
async def test_redis_backend_end_to_end(redis_url: str) -> None:
    """Two caches on the same Redis (two processes' worth) see each other's entries."""
    import redis

    namespace = f"t{uuid.uuid4().hex[:12]}"
    try:
        async with (
            open_semantic_cache(
                THRESHOLDS, redis_url=redis_url, namespace=namespace, ttl_s=60.0, embedder=EMBEDDER
            ) as one,
            open_semantic_cache(
                THRESHOLDS, redis_url=redis_url, namespace=namespace, ttl_s=60.0, embedder=EMBEDDER
            ) as two,
        ):
            await one.add(await query_of(one), key(1))
            found = await two.find(await query_of(two, PARAPHRASE))
            assert found is not None
            assert found.key == key(1)
            assert two.statistics().backend == "redis"
            await two.forget(await query_of(two, PARAPHRASE), key(1))
            assert await two.find(await query_of(two, PARAPHRASE)) is None
    finally:
        client = redis.Redis.from_url(redis_url)
        for name in client.scan_iter(match=f"{namespace}:*"):
            client.delete(name)
        client.close()


async def test_a_failing_store_is_logged_and_the_index_still_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads and writes that fail are one warning; this process's entries still match."""
    async with open_semantic_cache(THRESHOLDS, directory=tmp_path, embedder=EMBEDDER) as cache:

        def broken(*args: object) -> Any:
            raise OSError("disk on fire")

        monkeypatch.setattr(cache.store, "pull", broken)
        monkeypatch.setattr(cache.store, "push", broken)
        with caplog.at_level(logging.WARNING, logger="claude_force_trio.cache"):
            await cache.add(await query_of(cache), key(1))
            found = await cache.find(await query_of(cache, PARAPHRASE))
        assert found is not None
        assert found.key == key(1)
        assert caplog.text.count("disk on fire") == 1


async def test_arguments_are_checked(tmp_path: Path) -> None:
    """One of directory and redis_url; thresholds in (0, 1]; a dead Redis is a ConfigError."""
    from claude_force_trio._errors import ConfigError

    with pytest.raises(ValueError, match="exactly one"):
        async with open_semantic_cache(THRESHOLDS, embedder=EMBEDDER):
            pass  # pragma: no cover
    with pytest.raises(ValueError, match="exactly one"):
        async with open_semantic_cache(
            THRESHOLDS, directory=tmp_path, redis_url="redis://x", embedder=EMBEDDER
        ):
            pass  # pragma: no cover
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        async with open_semantic_cache({"writer": 1.5}, directory=tmp_path, embedder=EMBEDDER):
            pass  # pragma: no cover
    with pytest.raises(ConfigError, match=r"cache\.redis_url: no Redis server answers"):
        async with open_semantic_cache(
            THRESHOLDS, redis_url="redis://127.0.0.1:1/0", embedder=EMBEDDER
        ):
            pass  # pragma: no cover
