"""``RedisVectors``: the vectors in the Redis server that holds the response cache.

One Redis **stream** per scope, ``{namespace}:sem:{scope}``: an append log
whose entry ids only grow, so a process reads what others added with
``XRANGE key (last-id +`` — one round trip, nothing transferred when nothing
is new — and trimming the head never shifts what it has not read yet (a list
read by offset would). Each push is one pipeline: ``XADD … MAXLEN max_entries``
(the bound, per scope: the oldest entries go; pushes are one per live answer,
so exact trimming costs nothing that matters) and ``EXPIRE`` to the TTL,
refreshed on each push, so the log of a scope nobody uses any more disappears
with its answers. Entries older than the TTL inside
a live stream are skipped on read and never match.

Removing an entry (``forget``) is ``XDEL`` by the stream id this process saw it
under; an entry it never pulled is left for the processes that hold it, which
forget it themselves when they find its answer gone. redis-py is blocking and
is called from worker threads, one at a time, like the response cache's.
"""

from __future__ import annotations

import logging
from typing import Any

from ._index import IndexEntry
from ._store import FIELDS, decode_entry, encode_entry, valid_namespace

__all__ = ["RedisVectors"]

log = logging.getLogger("claude_force_trio.cache")
_INT_FIELDS = ("contrast", "direction")
_TEXT_FIELDS = ("key", "signature")


def _row(fields: dict[bytes, bytes]) -> dict[str, object]:
    """A stream entry's fields decoded to the types :func:`decode_entry` expects."""
    row: dict[str, object] = {}
    for name in FIELDS:
        value = fields.get(name.encode())
        if value is None:
            return {}
        try:
            if name in _INT_FIELDS:
                row[name] = int(value)
            elif name == "created":
                row[name] = float(value)
            elif name in _TEXT_FIELDS:
                row[name] = value.decode("ascii")
            else:
                row[name] = bytes(value)
        except (ValueError, UnicodeDecodeError):
            return {}
    return row


class RedisVectors:
    """The :class:`~._store.VectorStore` on Redis streams. Blocking: call it from a worker thread.

    Args:
        client: a ``redis.Redis`` client (bytes responses).
        dim: the vectors' length.
        max_entries: the bound of each scope's stream.
        ttl_s: the streams' expiry, refreshed on each push (``None``: none).
        namespace: the key prefix.
    """

    name = "redis"

    def __init__(
        self,
        client: Any,
        *,
        dim: int,
        max_entries: int,
        ttl_s: float | None,
        namespace: str = "cft",
    ) -> None:
        self._redis = client
        self.dim = dim
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.prefix = f"{valid_namespace(namespace)}:sem"
        self._last: dict[str, bytes] = {}  # scope -> the last stream id read
        self._ids: dict[str, bytes] = {}  # key -> its stream id, for XDEL

    def _stream(self, scope: str) -> str:
        return f"{self.prefix}:{scope}"

    def pull(self, scope: str, expired_at: float | None) -> list[IndexEntry]:
        """Stream entries after the last one read (see :class:`~._store.VectorStore`)."""
        last = self._last.get(scope)
        start = b"-" if last is None else b"(" + last
        items = self._redis.xrange(self._stream(scope), min=start, max=b"+")
        if not items:
            return []
        self._last[scope] = items[-1][0]
        entries = []
        for stream_id, fields in items:
            entry = decode_entry(scope, _row(fields), self.dim)
            if entry is None or (expired_at is not None and entry.created <= expired_at):
                continue
            self._ids[entry.key] = stream_id
            entries.append(entry)
        return entries

    def push(self, entry: IndexEntry) -> None:
        """``XADD`` (trimmed to the bound) and ``EXPIRE``, in one pipeline.

        An older entry for the same key stays in the stream until trimmed; the
        index keeps whichever it read last, which is this one.
        """
        fields = encode_entry(entry)
        fields["created"] = repr(float(entry.created))
        name = self._stream(entry.scope)
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(name, fields, maxlen=self.max_entries, approximate=False)
        if self.ttl_s is not None:
            pipe.expire(name, max(1, round(self.ttl_s)))
        stream_id, *_ = pipe.execute()
        self._ids[entry.key] = stream_id

    def drop(self, scope: str, key: str) -> None:
        """``XDEL`` the entry for ``key``, if this process knows its stream id."""
        stream_id = self._ids.pop(key, None)
        if stream_id is not None:
            self._redis.xdel(self._stream(scope), stream_id)

    def clear(self) -> int:
        """Delete every stream under the prefix; return how many (for tests and `cache clear`)."""
        names = list(self._redis.scan_iter(match=f"{self.prefix}:*", count=1000))
        for start in range(0, len(names), 500):
            self._redis.delete(*names[start : start + 500])
        self._last.clear()
        self._ids.clear()
        return len(names)

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()
