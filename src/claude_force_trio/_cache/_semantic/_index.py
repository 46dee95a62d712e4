"""``VectorIndex``: the vectors of cached tasks in memory, grouped so a lookup compares few.

Entries are grouped by ``(scope, literal signature)``: a match needs both equal
(same agent, model, system prompt… and the same literals), so a lookup only
ever looks at one group. Each group keeps its rows in growable numpy arrays
(capacity doubles), with the keys and the guards' codes beside them; a
removal moves the last row into the hole, so rows stay dense.

**Lookup.** Up to :data:`EXACT_ROWS` rows, one matrix-vector product over the
group. A bigger group — all of a busy agent's tasks without literals, say — is
first narrowed by the sign bits of its vectors: the Hamming distance to the
query's bits (``np.bitwise_count`` over four ``uint64`` words a row, stored
column-wise) ranks the rows, and only the best :data:`CANDIDATES` are scored
exactly. Measured here (``benchmarks/semantic.py``): the full product costs
~0.7 ms at 10 000 rows and 9–16 ms at 100 000, the prefiltered search ~0.45 ms
at 10 000 and ~2.3 ms at 100 000. Sign bits approximate the angle, so the true
best row could rank outside the candidates; the benchmark counts how often the
prefiltered answer differs from an exact scan's. The similarity reported is
always the exact cosine.

Then the guards: rows at or above the threshold, not expired, without a
contrast or direction conflict (vectorised), and — best first, the first few
only — not a word substitution of the query (:mod:`._substitution`).

**Bounded.** At most ``max_entries`` entries: adding one more drops the oldest
(insertion order, kept in a dict). Not thread-safe: the cache calls it from one
worker thread at a time.
"""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._guard import Fingerprint, incompatible
from ._substitution import substitution

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["CANDIDATES", "EXACT_ROWS", "IndexEntry", "VectorIndex", "pack_words", "unpack_words"]

#: Groups up to this many rows are scored exactly; bigger ones are prefiltered.
EXACT_ROWS = 4096
#: How many rows the sign-bit prefilter keeps for exact scoring.
CANDIDATES = 512
#: How many rows over the threshold the pairwise substitution check may look at.
_CHECKED = 32
_START = 2


def pack_words(words: tuple[int, ...]) -> bytes:
    """Content-word codes as bytes (4 a word), for the index and the stores."""
    return np.asarray(words, dtype="<u4").tobytes()


def unpack_words(data: bytes) -> tuple[int, ...]:
    """The inverse of :func:`pack_words`."""
    words = array.array("I", data)  # "I" is 4 bytes on every platform numpy supports
    if sys.byteorder == "big":
        words.byteswap()
    return tuple(words)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One cached task: where its answer is, what the guards know of it, and its vector.

    Attributes:
        key: the exact response-cache key of its answer.
        scope: agent, model, system prompt… (see ``SemanticQuery.scope``).
        fingerprint: the guards' view of its text.
        created: wall-clock seconds when it was added (for the TTL).
        vector: its unit vector, float32.
    """

    key: str
    scope: str
    fingerprint: Fingerprint
    created: float
    vector: npt.NDArray[np.float32]


class _Group:
    """The rows of one (scope, signature): dense arrays that double when full."""

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.vectors = np.empty((_START, dim), dtype=np.float32)
        self.bits = np.empty((dim // 64, _START), dtype=np.uint64)  # a row's sign bits per column
        self.created = np.empty(_START, dtype=np.float64)
        self.contrast = np.empty(_START, dtype=np.uint64)
        self.direction = np.empty(_START, dtype=np.uint64)
        self.keys: list[str] = []
        self.words: list[bytes] = []

    def _grow(self, needed: int = 1) -> None:
        size = max(2 * len(self.created), self.n + needed)
        self.vectors = np.resize(self.vectors, (size, self.vectors.shape[1]))
        bits = np.empty((self.bits.shape[0], size), dtype=np.uint64)
        bits[:, : self.n] = self.bits[:, : self.n]
        self.bits = bits
        for name in ("created", "contrast", "direction"):
            setattr(self, name, np.resize(getattr(self, name), size))

    def append(self, entry: IndexEntry) -> int:
        if self.n == len(self.created):
            self._grow()
        row, fp = self.n, entry.fingerprint
        self.vectors[row] = entry.vector
        self.bits[:, row] = np.packbits(entry.vector > 0).view(np.uint64)
        self.created[row] = entry.created
        self.contrast[row] = fp.contrast
        self.direction[row] = fp.direction
        self.keys.append(entry.key)
        self.words.append(pack_words(fp.words))
        self.n += 1
        return row

    def extend(self, entries: list[IndexEntry]) -> int:
        """Append every entry at once (a store's batch); return the first new row."""
        if self.n + len(entries) > len(self.created):
            self._grow(len(entries))
        first, last = self.n, self.n + len(entries)
        vectors = np.stack([e.vector for e in entries])
        self.vectors[first:last] = vectors
        self.bits[:, first:last] = np.packbits(vectors > 0, axis=1).view(np.uint64).T
        self.created[first:last] = [e.created for e in entries]
        self.contrast[first:last] = [e.fingerprint.contrast for e in entries]
        self.direction[first:last] = [e.fingerprint.direction for e in entries]
        self.keys.extend(e.key for e in entries)
        self.words.extend(pack_words(e.fingerprint.words) for e in entries)
        self.n = last
        return first

    def pop(self, row: int) -> str | None:
        """Remove ``row`` by moving the last row into it; return the moved row's key."""
        last = self.n - 1
        moved = None
        if row != last:
            self.vectors[row] = self.vectors[last]
            self.bits[:, row] = self.bits[:, last]
            for array in (self.created, self.contrast, self.direction):
                array[row] = array[last]
            self.keys[row], self.words[row] = self.keys[last], self.words[last]
            moved = self.keys[row]
        self.keys.pop()
        self.words.pop()
        self.n = last
        return moved

    def candidates(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.intp] | None:
        """The rows worth scoring exactly (``None``: all of them)."""
        if self.n <= EXACT_ROWS:
            return None
        query = np.packbits(vector > 0).view(np.uint64)
        distance = np.bitwise_count(self.bits[0, : self.n] ^ query[0])
        for word in range(1, len(query)):
            distance += np.bitwise_count(self.bits[word, : self.n] ^ query[word])
        return np.argpartition(distance, CANDIDATES)[:CANDIDATES]


class VectorIndex:
    """Cached tasks' vectors by (scope, signature), bounded, searched with the guards.

    Args:
        dim: the vectors' length (a multiple of 64).
        max_entries: the most entries kept; adding more drops the oldest.
    """

    def __init__(self, dim: int, *, max_entries: int) -> None:
        if dim % 64 or max_entries < 1:
            raise ValueError("dim must be a multiple of 64 and max_entries positive")
        self.dim = dim
        self.max_entries = max_entries
        self._groups: dict[tuple[str, str], _Group] = {}
        self._where: dict[str, tuple[tuple[str, str], int]] = {}  # key -> group, row
        self._order: dict[str, None] = {}  # keys, oldest first

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def add(self, entry: IndexEntry) -> None:
        """Add ``entry`` (replacing an entry with its key); drop the oldest beyond the bound."""
        self.remove(entry.key)
        group_id = (entry.scope, entry.fingerprint.signature)
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = _Group(self.dim)
        self._where[entry.key] = (group_id, group.append(entry))
        self._order[entry.key] = None
        while len(self._order) > self.max_entries:
            self.remove(next(iter(self._order)))

    def add_many(self, entries: list[IndexEntry]) -> None:
        """:meth:`add` for a batch (what a store returns), with one append per group."""
        batch = {entry.key: entry for entry in entries}  # the last of a key wins
        for key in batch:
            self.remove(key)
        groups: dict[tuple[str, str], list[IndexEntry]] = {}
        for entry in batch.values():
            groups.setdefault((entry.scope, entry.fingerprint.signature), []).append(entry)
        for group_id, members in groups.items():
            group = self._groups.get(group_id)
            if group is None:
                group = self._groups[group_id] = _Group(self.dim)
            first = group.extend(members)
            for row, entry in enumerate(members, start=first):
                self._where[entry.key] = (group_id, row)
        self._order.update(dict.fromkeys(batch))
        while len(self._order) > self.max_entries:
            self.remove(next(iter(self._order)))

    def remove(self, key: str) -> bool:
        """Drop the entry for ``key``; ``False`` when there was none."""
        found = self._where.pop(key, None)
        if found is None:
            return False
        del self._order[key]
        group_id, row = found
        group = self._groups[group_id]
        moved = group.pop(row)
        if moved is not None:
            self._where[moved] = (group_id, row)
        if group.n == 0:
            del self._groups[group_id]
        return True

    def drop_expired(self, cutoff: float) -> int:
        """Drop entries created at or before ``cutoff`` from the oldest end; return how many."""
        dropped = 0
        while self._order:
            key = next(iter(self._order))
            group_id, row = self._where[key]
            if self._groups[group_id].created[row] > cutoff:
                break
            self.remove(key)
            dropped += 1
        return dropped

    def search(
        self,
        scope: str,
        fingerprint: Fingerprint,
        vector: npt.NDArray[np.float32],
        *,
        threshold: float,
        expired_at: float | None = None,
    ) -> tuple[str, float] | None:
        """The best entry of the query's group that passes every guard, and its cosine.

        Args:
            scope: the query's scope.
            fingerprint: the guards' view of the query's text.
            vector: the query's unit vector.
            threshold: the lowest cosine that matches.
            expired_at: entries created at or before this never match (``None``: no TTL).
        """
        group = self._groups.get((scope, fingerprint.signature))
        if group is None:
            return None
        rows = group.candidates(vector)
        if rows is None:
            scores = group.vectors[: group.n] @ vector
            hits = np.flatnonzero(scores >= threshold)
            hit_scores = scores[hits]
        else:
            scores = group.vectors[rows] @ vector
            above = scores >= threshold
            hits, hit_scores = rows[above], scores[above]
        if hits.size == 0:
            return None
        ok = ~incompatible(group.contrast[hits], group.direction[hits], fingerprint)
        if expired_at is not None:
            ok &= group.created[hits] > expired_at
        hits, hit_scores = hits[ok], hit_scores[ok]
        for at in np.argsort(-hit_scores, kind="stable")[:_CHECKED]:
            row = int(hits[at])
            if not substitution(fingerprint.words, unpack_words(group.words[row])):
                return group.keys[row], float(hit_scores[at])
        return None
