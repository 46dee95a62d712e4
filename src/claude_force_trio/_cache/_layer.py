"""``CacheLayer``: the response cache as a stage of the call stack.

It wraps the next layer (resilience, then the HTTP client) and answers a call
in one of three ways:

1. **bypassed** — the cache is off, its policy leaves ``call.agent`` out, or
   the call is marked uncacheable (``Call.cache`` is false: a step whose tools
   have side effects): the call goes straight to the next layer, nothing is
   read or written;
2. **served** — an answer stored for the call's key (written by this process
   moments ago and still pending, or in the store), or the answer of an
   identical call already in flight (single-flight): no API call is made, the
   observer hears ``served(saved_usd)`` once, and the answer comes back with
   zero usage;
3. **live** — the next layer answers, and a complete answer is stored
   (write-behind: the step does not wait for the store, see :mod:`._writer`).

With the semantic cache on for the call's agent (``ResponseCache.semantic``,
docs/semantic-cache.md), an exact miss asks it next, inside the same flight:
a match names the exact key of an answer to a task close enough, which is
served as above (the observer hears the similarity too); a match whose answer
is gone from the store is forgotten and the call goes on as a miss; a live
answer that is stored is indexed under its key. An exact hit never consults
the semantic index, and an ineligible call (tools, several messages…) skips it.

The lookup happens inside the flight, not before it, so a request can never
miss just before an identical call stores its answer and then pay for the
same answer again; and concurrent identical lookups share one read.

When the store is shared by several processes (Redis) and they coordinate
(``_coord``), the one call in flight here for a key is also the one call of
every process: a :class:`~.._coord._flight.SharedFlight` lock decides who
asks the API, the others read the answer from the store once it is there, and
the leader writes its answer straight to the store (not write-behind) before
it lets go of the lock. Bypassed calls are never coalesced, here or there.

It never calls ``observer.text``: a live answer streams through the next
layer as it arrives, and the step delivers a served answer's text itself.
"""

from __future__ import annotations

from collections.abc import Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from ._entry import CachedResponse, cache_key, default_clock

if TYPE_CHECKING:
    from .._call import Call, CallObserver, Layer
    from .._coord._flight import SharedFlight
    from .._types import MessageResult
    from ._policy import ResponseCache

__all__ = ["CacheLayer"]


class CacheLayer:
    """Answers calls from the response cache when it can, else through ``inner``.

    Args:
        inner: the next layer down (it makes the API call).
        cache: the store, policy, counters and flights to use.
        shared: the flights shared with other processes (only for a shared store), or ``None``.
    """

    __slots__ = ("cache", "inner", "shared")

    def __init__(
        self, inner: Layer, cache: ResponseCache, shared: SharedFlight | None = None
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.shared = shared

    def send(self, call: Call, observer: CallObserver) -> Coroutine[Any, Any, MessageResult]:
        """The answer to ``call``: bypassed, served or live (see the module docstring).

        A bypassed call is ``inner``'s coroutine as it is (see ``Layer``).

        Raises:
            CFTError: whatever ``inner`` raised (a copy of it, in identical calls
                that shared the flight).
        """
        if not (call.cache and self.cache.applies_to(call.agent)):
            return self.inner.send(call, observer)
        return self._served_or_sent(call, observer)

    async def _served_or_sent(self, call: Call, observer: CallObserver) -> MessageResult:
        cache = self.cache
        key = cache_key(call.body)
        start = anyio.current_time()
        # A partial, not a lambda: a lambda's cells would be made on every call,
        # bypassed ones too, and kept while the call waits below.
        (message, stored, similarity), shared = await cache.flights.do(
            key, partial(self._lookup_or_send, key, call, observer)
        )
        if not (shared or stored):
            return message
        served, saved = cache.count_served(message, start)
        if similarity is None:
            observer.served(saved)
        else:
            observer.served(saved, similarity=similarity)
        return served

    async def _lookup_or_send(
        self, key: str, call: Call, observer: CallObserver
    ) -> tuple[MessageResult, bool, float | None]:
        """As the one call in flight for ``key``: a kept answer, else ask ``inner`` and keep it.

        Returns:
            ``(message, kept, similarity)``: ``kept`` is False for a live answer;
            ``similarity`` is the semantic match's, for an answer served by one.
        """
        cache = self.cache
        entry = await cache.kept(key)
        if entry is not None:
            return entry.to_message(), True, None
        semantic = cache.semantic
        query = semantic.query(call) if semantic is not None else None
        if query is not None:
            assert semantic is not None
            match = await semantic.find(query)
            if match is not None:
                entry = await cache.kept(match.key)
                if entry is not None:
                    return entry.to_message(), True, match.similarity
                await semantic.forget(query, match.key)  # its answer expired or was evicted
        cache.count_miss()
        if self.shared is not None:
            message, kept = await self.shared.do(
                key,
                partial(self._stored, key),
                partial(self._send_and_write, key, call, observer, query),
            )
            return message, kept, None
        message = await self.inner.send(call, observer)
        await cache.store(key, message)
        if query is not None and cache.policy.storable(message):
            assert semantic is not None
            await semantic.add(query, key)
        return message, False, None

    async def _stored(self, key: str) -> MessageResult | None:
        """The answer in the shared store for ``key``, or ``None`` (a follower's poll)."""
        assert self.cache.backend is not None
        entry = await self.cache.backend.get(key)
        return None if entry is None else entry.to_message()

    async def _send_and_write(
        self, key: str, call: Call, observer: CallObserver, query: Any
    ) -> MessageResult:
        """As every process's leader: ask ``inner`` and write the answer to the store now.

        Written before the lock is let go, not behind, so the followers polling
        the store find it; shielded, since it is paid for. Indexed for the
        semantic cache too when ``query`` is one.
        """
        message = await self.inner.send(call, observer)
        backend = self.cache.backend
        if backend is not None and self.cache.policy.storable(message):
            with anyio.CancelScope(shield=True):
                await backend.set(key, CachedResponse.from_message(message, default_clock()))
                semantic = self.cache.semantic
                if query is not None and semantic is not None:
                    await semantic.add(query, key)
        return message
