"""``SemanticCache``: find a cached answer to a task worded differently.

The response cache answers a call whose body is byte-for-byte one it has seen.
This one answers a call whose *task* is close enough to a cached one, sent the
same way otherwise (the scope: agent, model, system prompt, every parameter).
It only points at an entry of the response cache — it stores no answers —
and the cache layer serves that entry, or calls :meth:`SemanticCache.forget`
when it is gone.

A match needs the same scope, the guards' agreement (:mod:`._guard`: same
literals and polarity, no opposite words split between the two, no reversed
"from … to …", not a one-word substitution) and a cosine at or above the
agent's threshold. The cosine is taken between the *embedded texts*: the user
text without its markdown heading lines (the engine's framing, "# Your task",
is the same in every call and would only pull every pair closer), in lower
case (case is the literal guard's business). ``benchmarks/semantic.py``
measures all of it on ``tests/data/semantic_pairs.jsonl``.

Importing this package imports neither numpy nor the model: both come with
``open_semantic_cache`` (:mod:`._open`), so a configuration without the semantic cache
pays nothing for it. Everything blocking — embedding (and, the first time, loading the model),
reading what other processes added, the search, the store's writes — runs in
a worker thread, one at a time (``CapacityLimiter(1)``: the index and the
store's connection are not thread-safe). A store that fails is logged and
skipped: the index in memory still answers, and a cache that cannot write is
a cache that misses.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ..._call import Call
from .._entry import Clock, default_clock
from ._embedder import Embedder
from ._guard import Fingerprint, fingerprint
from ._query import SemanticQuery, build_query

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ._store import VectorStore

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "SemanticCache",
    "SemanticMatch",
    "SemanticStatistics",
    "embedded_text",
]

log = logging.getLogger("claude_force_trio.cache")

#: The most entries the index (and the SQLite file, and each Redis stream) keeps.
DEFAULT_MAX_ENTRIES = 200_000
#: How many recent texts keep their vector and fingerprint (``add`` follows ``find``).
_MEMO = 256
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t].*$", re.MULTILINE)


def embedded_text(text: str) -> str:
    """What is embedded of a user text: no markdown heading lines, lower case, spaces collapsed.

    Args:
        text: the user message's text.
    """
    return " ".join(_HEADING.sub(" ", text).lower().split())


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    """A cached entry close enough to a query.

    Attributes:
        key: the exact response-cache key of the answer found.
        similarity: the cosine similarity, rounded to 4 decimals.
    """

    key: str
    similarity: float


@dataclass(frozen=True, slots=True)
class SemanticStatistics:
    """A snapshot of one process's semantic cache.

    Attributes:
        entries: entries in the index now.
        lookups: ``find`` calls.
        hits: ``find`` calls that returned a match.
        stale: entries forgotten because their answer was gone.
        backend: ``"sqlite"`` or ``"redis"``.
    """

    entries: int
    lookups: int
    hits: int
    stale: int
    backend: str


class SemanticCache:
    """The index in memory, the store beside the response cache, and the embedder.

    Create it with ``open_semantic_cache``.

    Args:
        thresholds: agent name -> threshold, for the agents with the semantic cache on.
        store: where the vectors persist.
        embedder: turns texts into vectors.
        ttl_s: entries older than this never match (``None``: no limit).
        clock: wall-clock seconds (the TTL's clock, shared by every process).
        max_entries: the index's bound.
    """

    def __init__(
        self,
        thresholds: Mapping[str, float],
        store: VectorStore,
        embedder: Embedder,
        *,
        ttl_s: float | None = None,
        clock: Clock = default_clock,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.thresholds = dict(thresholds)
        self.store = store
        self.embedder = embedder
        self.ttl_s = ttl_s
        self._clock = clock
        from ._index import VectorIndex  # numpy: imported only when the cache is opened

        self._index = VectorIndex(embedder.dim, max_entries=max_entries)
        self._memo: OrderedDict[str, tuple[npt.NDArray[np.float32], Fingerprint]] = OrderedDict()
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop
        self._lookups = self._hits = self._stale = 0
        self._store_failing = False

    def query(self, call: Call) -> SemanticQuery | None:
        """``None`` unless ``call.agent`` has the semantic cache on and ``call.body`` is eligible.

        Eligible: no ``tools``/``tool_choice``/``mcp_servers``, exactly one message, from the
        user, its content a string or a list of only text blocks (see :mod:`._query`).
        """
        return build_query(call, self.thresholds, self.embedder.id)

    async def find(self, query: SemanticQuery) -> SemanticMatch | None:
        """The nearest stored entry of ``query.scope`` that the guards allow, at or above
        ``query.threshold``; ``None`` when there is none."""
        self._lookups += 1
        found = await self._in_thread(self._find_sync, query)
        if found is None:
            return None
        self._hits += 1
        key, similarity = found
        return SemanticMatch(key, round(similarity, 4))

    async def add(self, query: SemanticQuery, key: str) -> None:
        """Index ``query.text`` under ``key``: visible to :meth:`find` at once, and persisted."""
        await self._in_thread(self._add_sync, query, key)

    async def forget(self, query: SemanticQuery, key: str) -> None:
        """Drop the entry for ``key`` (its answer is gone from the response store)."""
        self._stale += 1
        await self._in_thread(self._forget_sync, query, key)

    def statistics(self) -> SemanticStatistics:
        """A frozen snapshot of this process's counts."""
        return SemanticStatistics(
            len(self._index), self._lookups, self._hits, self._stale, self.store.name
        )

    async def aclose(self) -> None:
        """Close the store (after the operation in progress, if any)."""
        with anyio.CancelScope(shield=True):
            await self._in_thread(self.store.close)

    # -- in the worker thread --------------------------------------------------------

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def _cutoff(self) -> float | None:
        """Entries created at or before this are expired (as the response cache's TTL)."""
        return None if self.ttl_s is None else self._clock() - self.ttl_s

    def _prepared(self, text: str) -> tuple[npt.NDArray[np.float32], Fingerprint]:
        memo = self._memo.get(text)
        if memo is not None:
            self._memo.move_to_end(text)
            return memo
        memo = (self.embedder.embed(embedded_text(text)), fingerprint(text))
        self._memo[text] = memo
        if len(self._memo) > _MEMO:
            self._memo.popitem(last=False)
        return memo

    def _guarded(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``; a store failure is logged (once until the store works again), not raised."""
        try:
            result = fn()
        except Exception as exc:
            if not self._store_failing:
                log.warning(
                    "cache: the semantic %s store could not %s: %s", self.store.name, what, exc
                )
            self._store_failing = True
            return None
        self._store_failing = False
        return result

    def _pull(self, scope: str) -> None:
        entries = self._guarded("be read", lambda: self.store.pull(scope, self._cutoff()))
        if entries:
            self._index.add_many(entries)

    def _find_sync(self, query: SemanticQuery) -> tuple[str, float] | None:
        vector, fp = self._prepared(query.text)
        self._pull(query.scope)
        return self._index.search(
            query.scope, fp, vector, threshold=query.threshold, expired_at=self._cutoff()
        )

    def _add_sync(self, query: SemanticQuery, key: str) -> None:
        from ._index import IndexEntry

        vector, fp = self._prepared(query.text)
        entry = IndexEntry(key, query.scope, fp, self._clock(), vector)
        self._guarded("store a vector", lambda: self.store.push(entry))
        self._pull(query.scope)  # what others added meanwhile, and this entry
        self._index.add(entry)
        if (cutoff := self._cutoff()) is not None:
            self._index.drop_expired(cutoff)

    def _forget_sync(self, query: SemanticQuery, key: str) -> None:
        self._index.remove(key)
        self._guarded("remove a vector", lambda: self.store.drop(query.scope, key))
