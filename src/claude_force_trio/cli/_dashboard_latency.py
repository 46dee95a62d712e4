"""Latency percentiles for the dashboard's window: exact when small, a cheap-to-merge sketch beyond.

Why not :class:`~.._metrics.Quantiles` per second: the window's percentiles
are a merge of 60 per-second summaries on every refresh, and a ``Quantiles``
past its exact limit turns every kept value into a bucket in Python — tens of
milliseconds at a few thousand calls a second. Here each second keeps its values
*and* their log-bucket counts (the same buckets and guarantee as ``Quantiles``:
within :data:`~.._metrics._quantiles.RELATIVE_ERROR` of a true value), so a
merge is an array ``extend`` plus a few hundred dictionary adds, and the
window is exact (sorted values, linear between ranks, as ``cft metrics``)
while it holds at most :data:`~.._metrics._quantiles.EXACT_LIMIT` values.
"""

from __future__ import annotations

import math
from array import array

from .._metrics._quantiles import EXACT_LIMIT, RELATIVE_ERROR

__all__ = ["Latencies"]

_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
_TINY = 1e-9
_log = math.log
_ceil = math.ceil
#: The bucket of values at or below ``_TINY`` (a cache hit's latency).
_ZERO = -(1 << 30)


class Latencies:
    """Non-negative values (milliseconds) for quantiles: exact up to a limit, sketched beyond."""

    __slots__ = ("_counts", "_values", "count")

    def __init__(self) -> None:
        self.count = 0
        self._values = array("d")
        self._counts: dict[int, int] = {}  # log bucket → values in it (_ZERO: the zeros)

    def add(self, value: float) -> None:
        """Add one value (negative values count as 0)."""
        value = max(value, 0.0)
        self.count += 1
        self._values.append(value)
        index = _ceil(_log(value) / _LOG_GAMMA) if value > _TINY else _ZERO
        counts = self._counts
        counts[index] = counts.get(index, 0) + 1

    def merge(self, other: Latencies) -> None:
        """Add every value of ``other``."""
        self.count += other.count
        self._values.extend(other._values)
        counts = self._counts
        for index, n in other._counts.items():
            counts[index] = counts.get(index, 0) + n

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0 ≤ q ≤ 1); ``None`` when empty."""
        if not self.count:
            return None
        position = q * (self.count - 1)
        if self.count <= EXACT_LIMIT:
            ranked = sorted(self._values)
            low = math.floor(position)
            high = min(low + 1, self.count - 1)
            return ranked[low] + (ranked[high] - ranked[low]) * (position - low)
        seen = 0
        for index in sorted(self._counts):
            seen += self._counts[index]
            if seen > position:
                return 0.0 if index == _ZERO else 2 * _GAMMA**index / (_GAMMA + 1)
        return None  # pragma: no cover - the counts cover every rank
