"""Where the vectors are kept beside the response cache: the protocol and the row format.

The index lives in each process's memory; a store makes it last across runs
and shared between the processes (and, for Redis, machines) that share the
response cache. Both stores are append logs that a process reads
incrementally: ``pull(scope)`` returns what was appended to that scope since
this process last asked, so a lookup pays one cheap query for what others
added, not a reload. Removals are not replayed: another process that still
holds a forgotten entry finds its answer gone and forgets it itself.

A store's contents are untrusted (a shared directory, a shared server): every
row is validated and renormalised by :func:`decode_entry`; a row that is not
exactly what :func:`encode_entry` writes is skipped, never an exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Protocol

import numpy as np

from ._guard import Fingerprint
from ._index import IndexEntry, pack_words, unpack_words

__all__ = ["FIELDS", "VectorStore", "decode_entry", "encode_entry", "valid_namespace"]

#: The fields of a stored row, in the order the SQLite table has them.
FIELDS = ("key", "signature", "contrast", "direction", "words", "created", "vector")
_KEY = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[0-9a-f]{32}")
_NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_MAX_CODE = (1 << 63) - 1


def valid_namespace(namespace: str) -> str:
    """``namespace`` if it can name a table and a key prefix (letters, digits, ``_``).

    Raises:
        ValueError: it cannot.
    """
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError(f"namespace {namespace!r}: letters, digits and _ only, a letter first")
    return namespace


def encode_entry(entry: IndexEntry) -> dict[str, str | int | float | bytes]:
    """The fields of ``entry`` as a store keeps them (scope apart: it names the log)."""
    fp = entry.fingerprint
    return {
        "key": entry.key,
        "signature": fp.signature,
        "contrast": fp.contrast,
        "direction": fp.direction,
        "words": pack_words(fp.words),
        "created": entry.created,
        "vector": np.asarray(entry.vector, dtype="<f4").tobytes(),
    }


def decode_entry(scope: str, row: Mapping[str, object], dim: int) -> IndexEntry | None:
    """The entry a stored row holds, or ``None`` when the row is not one we wrote.

    Args:
        scope: the log the row was read from.
        row: the stored fields (text as ``str``, blobs as ``bytes``).
        dim: the vectors' length.
    """
    key, signature = row.get("key"), row.get("signature")
    contrast, direction = row.get("contrast"), row.get("direction")
    words, created, vector = row.get("words"), row.get("created"), row.get("vector")
    if not (isinstance(key, str) and _KEY.fullmatch(key)):
        return None
    if not (isinstance(signature, str) and _SIGNATURE.fullmatch(signature)):
        return None
    if not (type(contrast) is int and type(direction) is int):
        return None
    if not (0 <= contrast <= _MAX_CODE and 0 <= direction <= _MAX_CODE):
        return None
    if not (isinstance(words, bytes) and len(words) % 4 == 0 and len(words) <= 4 * 4096):
        return None
    if not (isinstance(created, int | float) and math.isfinite(created)):
        return None
    if not (isinstance(vector, bytes) and len(vector) == 4 * dim):
        return None
    values = np.frombuffer(vector, dtype="<f4").astype(np.float32)
    norm = math.sqrt(float(np.dot(values, values)))
    if not (math.isfinite(norm) and norm > 0):
        return None
    fingerprint = Fingerprint(signature, contrast, direction, unpack_words(words))
    return IndexEntry(key, scope, fingerprint, float(created), values / np.float32(norm))


class VectorStore(Protocol):
    """A persistent, shared log of index entries per scope. Blocking; one thread at a time.

    Attributes:
        name: ``"sqlite"`` or ``"redis"``.
    """

    name: str

    def pull(self, scope: str, expired_at: float | None) -> list[IndexEntry]:
        """Entries of ``scope`` appended since the last pull of it (all of them the first time).

        Args:
            scope: the log.
            expired_at: entries created at or before this may be left out (expired).
        """
        ...

    def push(self, entry: IndexEntry) -> None:
        """Append ``entry`` (replacing a stored entry with its key), within the size bound."""
        ...

    def drop(self, scope: str, key: str) -> None:
        """Remove the entry for ``key`` from ``scope``'s log, if it is there."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
