"""The response cache's core: its key, what an entry holds, stats, and the backend protocol.

**Key.** sha256 over canonical JSON (sorted keys, no whitespace) of the request
body minus what cannot change the answer: ``stream``, ``metadata`` and every
``cache_control`` marker, at any depth. Everything else is *in* the key — a
deny-list, not an allow-list, so a field the API adds later makes a miss,
never a wrong hit. The system text is in it, so editing an agent's definition
or contract misses automatically. :data:`KEY_VERSION` is hashed too: bump it
when the entry format or the key's meaning changes.

**Entries** are JSON bytes (never pickles: a shared directory must not be able
to run code in us), validated on read; anything unreadable — garbage bytes, a
truncated or missing value file, a wrong key inside, a wrong type — is a miss
and is removed, never an exception. The cache must not be able to break a run.

**Backends** implement :class:`CacheBackend`: ``DiskCache`` (``_disk``,
one machine, several processes) and ``RedisCache`` (``_redis``, several
machines). Both check the TTL against an injectable wall clock (default
``time.time``), not the event loop's clock: entries are shared between
processes and runs, and only wall time means the same thing in all of them.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._types import MessageResult, Usage

__all__ = [
    "COUNTERS",
    "KEY_VERSION",
    "CacheBackend",
    "CacheStats",
    "CachedResponse",
    "Clock",
    "Tally",
    "cache_key",
    "canonical_request",
    "default_clock",
    "expired",
    "nano_usd",
]

KEY_VERSION = 1
#: Request fields that cannot change the answer, left out of the key.
_NOT_IN_KEY = frozenset({"stream", "metadata"})

Clock = Callable[[], float]


#: Types :func:`_strip` returns as they are without asking further (the common leaves).
_LEAVES = frozenset({str, int, float, bool, type(None)})


def _strip(value: Any) -> Any:
    """``value`` without any ``cache_control`` key, at any depth."""
    kind = type(value)
    if kind in _LEAVES:  # exact type checks first: the ABC check below costs ~10× more
        return value
    if kind is dict or isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if k != "cache_control"}
    if kind is list or isinstance(value, list | tuple):
        return [_strip(v) for v in value]
    return value


def canonical_request(body: Mapping[str, Any]) -> bytes:
    """The bytes the cache key hashes: the output-relevant part of ``body``, canonical JSON.

    Args:
        body: a Messages request body, as built by ``_prompts.build_request``.
    """
    kept = {k: _strip(v) for k, v in body.items() if k not in _NOT_IN_KEY}
    doc = {"v": KEY_VERSION, "request": kept}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def cache_key(body: Mapping[str, Any]) -> str:
    """The cache key of ``body``: 64 hex digits of sha256 over :func:`canonical_request`.

    Args:
        body: a Messages request body.
    """
    return hashlib.sha256(canonical_request(body)).hexdigest()


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """One stored answer: what the engine needs to replay it, and when it was made.

    ``created`` is wall-clock seconds (``time.time()``), for the TTL.
    """

    model: str
    text: str
    stop_reason: str | None
    usage: Usage = field(default_factory=Usage)
    stop_sequence: str | None = None
    message_id: str = ""
    created: float = 0.0
    content: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_message(cls, message: MessageResult, created: float) -> CachedResponse:
        """Keep what a replay needs from a live answer."""
        return cls(
            model=message.model,
            text=message.text,
            stop_reason=message.stop_reason,
            usage=message.usage,
            stop_sequence=message.stop_sequence,
            message_id=message.id,
            created=created,
            content=message.content,
        )

    def to_message(self) -> MessageResult:
        """The stored answer as a ``MessageResult`` (no request id or headers: nothing was sent)."""
        return MessageResult(
            id=self.message_id,
            model=self.model,
            text=self.text,
            stop_reason=self.stop_reason,
            usage=self.usage,
            stop_sequence=self.stop_sequence,
            content=self.content,
        )

    def to_json(self, key: str) -> bytes:
        """Encode as JSON bytes, with ``key`` inside so a read can check it got its own entry."""
        doc = {
            "v": KEY_VERSION,
            "key": key,
            "model": self.model,
            "text": self.text,
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "id": self.message_id,
            "usage": self.usage.to_dict(),
            "created": self.created,
            "content": list(self.content),
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: object, key: str) -> CachedResponse:
        """Decode and validate a stored entry.

        Args:
            data: what the store returned (should be JSON bytes).
            key: the key it was stored under.

        Raises:
            ValueError: the entry is not exactly what :meth:`to_json` writes for ``key``.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValueError(f"entry is a {type(data).__name__}, not bytes")
        try:
            doc = json.loads(bytes(data))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"entry is not JSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("v") != KEY_VERSION or doc.get("key") != key:
            raise ValueError("entry has the wrong version or key")
        usage, created = doc.get("usage"), doc.get("created")
        created_ok = (
            isinstance(created, int | float)
            and not isinstance(created, bool)
            and math.isfinite(created)
        )
        strings = (doc.get("model"), doc.get("text"), doc.get("id"))
        optional = (doc.get("stop_reason"), doc.get("stop_sequence"))
        valid = (
            all(isinstance(s, str) for s in strings)
            and all(o is None or isinstance(o, str) for o in optional)
            and isinstance(usage, dict)
            and all(_is_count(usage.get(n)) for n in Usage().to_dict())
            and created_ok
        )
        if not valid or not isinstance(created, int | float):
            raise ValueError("entry has missing or mistyped fields")
        content = _stored_content(doc.get("content"), doc["text"])
        return cls(
            model=doc["model"],
            text=doc["text"],
            stop_reason=doc["stop_reason"],
            usage=Usage.from_api(usage),
            stop_sequence=doc["stop_sequence"],
            message_id=doc["id"],
            created=float(created),
            content=content,
        )


def _stored_content(content: object, text: str) -> tuple[Mapping[str, Any], ...]:
    """An entry's content blocks; for an entry written before they were kept, its text as one.

    Raises:
        ValueError: ``content`` is not a list of objects with a string ``type``.
    """
    if content is None:
        return ({"type": "text", "text": text},) if text else ()
    if not isinstance(content, list) or not all(
        isinstance(block, dict) and isinstance(block.get("type"), str) for block in content
    ):
        raise ValueError("entry has mistyped content blocks")
    return tuple(content)


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of a cache: what it holds and what it has done, across runs."""

    backend: str
    location: str
    entries: int
    size_bytes: int
    hits: int
    misses: int
    evictions: int
    expired: int
    saved_usd: float
    #: Rows dropped because they named a file outside the store (planted, or legacy).
    foreign_rows: int = 0

    @property
    def hit_rate(self) -> float | None:
        """Hits ÷ lookups, or ``None`` before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None

    def to_dict(self) -> dict[str, Any]:
        """The ``cft cache stats --json`` document."""
        return {
            "backend": self.backend,
            "location": self.location,
            "entries": self.entries,
            "size_bytes": self.size_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate,
            "evictions": self.evictions,
            "expired": self.expired,
            "saved_usd": round(self.saved_usd, 9),
            "foreign_rows": self.foreign_rows,
        }


#: Stats counter names, as persisted by both backends.
COUNTERS = ("hits", "misses", "evictions", "expired", "saved_nanousd", "foreign_rows")


@dataclass(slots=True)
class Tally:
    """Counter deltas not yet persisted.

    Counting in memory and flushing with the next write (or on close) keeps a
    hit free of any write of its own; a crash loses at most one run's counts.
    Saved money is counted in integer nano-USD so concurrent increments add exactly.
    """

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        self.counts[name] += amount

    def take(self) -> dict[str, int]:
        """Return the non-zero deltas and reset them."""
        taken = {k: v for k, v in self.counts.items() if v}
        self.counts = dict.fromkeys(COUNTERS, 0)
        return taken

    def give_back(self, deltas: Mapping[str, int]) -> None:
        """Re-add deltas whose flush failed, so they go out with the next one."""
        for name, amount in deltas.items():
            self.counts[name] += amount


def nano_usd(usd: float) -> int:
    """USD as integer nano-dollars (the unit the saved-money counter is kept in)."""
    return round(usd * 1e9)


class CacheBackend(Protocol):
    """Where cached responses live: ``DiskCache`` or ``RedisCache``.

    ``get``, ``set`` and ``set_many`` never raise for a broken entry or store: a
    cache that fails is a cache that misses. ``record`` is synchronous and only
    counts in memory; the counts reach the store on the next write, ``flush`` or
    ``aclose``.

    Attributes:
        name: ``"disk"`` or ``"redis"``.
        ttl_s: entries older than this are misses (``None``: never).
    """

    name: str
    ttl_s: float | None

    async def get(self, key: str) -> CachedResponse | None:
        """The live entry for ``key``, or ``None`` (missing, expired or corrupt — then removed)."""
        ...

    async def set(self, key: str, entry: CachedResponse) -> None:
        """Store ``entry`` under ``key`` atomically, with the backend's TTL."""
        ...

    async def set_many(self, entries: Sequence[tuple[str, CachedResponse]]) -> None:
        """Store every ``(key, entry)`` in one round trip and one transaction."""
        ...

    def record(self, *, hit: bool, saved_usd: float = 0.0) -> None:
        """Count one lookup (and, for a hit, the money it saved)."""
        ...

    async def flush(self) -> None:
        """Persist the counts recorded so far."""
        ...

    async def statistics(self) -> CacheStats:
        """A snapshot of entries, size and the persisted counters (after a flush)."""
        ...

    async def clear(self) -> int:
        """Remove every entry and reset the counters; return how many entries were removed."""
        ...

    async def aclose(self) -> None:
        """Flush the counters and release the store."""
        ...


def expired(entry: CachedResponse, ttl_s: float | None, clock: Clock) -> bool:
    """True when ``entry`` is older than ``ttl_s`` by ``clock`` (``None``: never expires)."""
    return ttl_s is not None and clock() - entry.created >= ttl_s


def default_clock() -> float:
    """Wall-clock seconds: the TTL clock every process sharing a cache agrees on."""
    return time.time()
