"""A small least-recently-used map with hit and miss counters: the memory's query cache.

Why an LRU in front of the store: the same (project, agent, task) is asked for
on every run of a workflow, and a hit answers without a thread hop or a query.
Invalidation is by predicate over key *and* value, so a write can drop exactly
the entries it changes (the store knows which from what each entry recalled).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

__all__ = ["LRUCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A least-recently-used map that counts its hits and misses.

    Args:
        maxsize: entries kept; the least recently used is dropped beyond it.
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = self.misses = 0
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recent), or ``None``; counts a hit or a miss."""
        try:
            value = self._data[key]
        except KeyError:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` as the most recent entry."""
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def discard(self, predicate: Callable[[K, V], bool]) -> int:
        """Drop every entry for which ``predicate(key, value)`` is true; how many went."""
        doomed = [k for k, v in self._data.items() if predicate(k, v)]
        for key in doomed:
            del self._data[key]
        return len(doomed)

    def __iter__(self) -> Iterator[K]:
        """The keys held, least recently used first (a snapshot; counts no hit or miss)."""
        return iter(list(self._data))

    def clear(self) -> None:
        """Drop every entry (the counters stay)."""
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
