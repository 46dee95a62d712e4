"""The garbage collector's young-generation threshold while a ``cft`` command runs calls.

Why: CPython collects its youngest generation every 700 net allocations, and
moves what survives ten of those collections to the oldest generation, which
full collections walk again and again. A call waiting for its reply holds
about 50 objects (its coroutine frames, its step's deadline, its request). A
few calls in flight finish long before ten young collections; a thousand do
not, so every call's objects reach the oldest generation just before they
die, and at 1,024 in flight collections took ~15% of the client's CPU
(``benchmarks/throughput.py``, BENCHMARKS.md). A threshold in proportion to
the calls in flight lets their objects die young.

Only the CLI does this, because only an application may: the collector is
one per process, and a library that changed it would change it for its host
(``docs/architecture.md`` shows embedders how). Nothing else changes: reference
counting still frees almost everything at once; only reference cycles wait a
little longer for the collector (at most :data:`MAX_YOUNG` objects' worth).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["MAX_YOUNG", "PER_CALL", "collector_for", "young_threshold"]

#: Young-generation allocations allowed per call in flight (about what one waiting call holds).
PER_CALL = 32
#: The highest threshold set: a young collection then walks at most this many objects (~10 ms).
MAX_YOUNG = 100_000


def young_threshold(in_flight: int, current: int) -> int:
    """The young generation's threshold for ``in_flight`` calls: never below ``current``."""
    return max(current, min(MAX_YOUNG, PER_CALL * in_flight))


@contextlib.contextmanager
def collector_for(in_flight: int) -> Iterator[None]:
    """Raise the young generation's threshold for ``in_flight`` calls, and restore it after.

    A threshold already higher (the user's own, say) is left as it is.
    """
    before = gc.get_threshold()
    young = young_threshold(in_flight, before[0])
    if young == before[0]:
        yield
        return
    gc.set_threshold(young, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
