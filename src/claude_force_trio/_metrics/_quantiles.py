"""Percentiles in bounded memory: exact on small data, a log-bucket sketch beyond.

Why not keep every value: ``cft metrics`` must summarise millions of calls
without loading them. Why not a random reservoir: its error on p99 depends on
luck, while a log-bucket histogram (the DDSketch idea) guarantees every quantile
within :data:`RELATIVE_ERROR` of a true value, is mergeable, and needs at most a
few thousand buckets for values from microseconds to days.

A :class:`Quantiles` keeps the exact values (8 bytes each, in an ``array``) up
to :data:`EXACT_LIMIT`; the first value past that moves them all into buckets.
Small histories — and every test on known data — therefore get exact figures.
"""

from __future__ import annotations

import math
from array import array

__all__ = ["EXACT_LIMIT", "RELATIVE_ERROR", "Quantiles"]

#: Values kept exactly before switching to the sketch.
EXACT_LIMIT = 10_000
#: The sketch's guarantee: a reported quantile is within 1% of a value at that rank.
RELATIVE_ERROR = 0.01
_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
#: Values at or below this count as zero (a cache hit's latency, a free call's cost).
_TINY = 1e-9


class Quantiles:
    """A stream of non-negative numbers summarised for quantiles, mean and spread."""

    __slots__ = ("_buckets", "_exact", "_sorted", "_zeros", "count", "maximum", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0
        self._exact: array[float] | None = array("d")
        self._sorted = True
        self._buckets: dict[int, int] = {}
        self._zeros = 0

    @property
    def exact(self) -> bool:
        """True while every value is still kept (quantiles are then exact)."""
        return self._exact is not None

    def add(self, value: float) -> None:
        """Add one value (negative values count as 0)."""
        value = max(value, 0.0)
        self.count += 1
        self.total += value
        self.maximum = max(value, self.maximum)
        if self._exact is not None:
            self._exact.append(value)
            self._sorted = False
            if len(self._exact) > EXACT_LIMIT:
                for kept in self._exact:
                    self._bucket(kept)
                self._exact = None
        else:
            self._bucket(value)

    def merge(self, other: Quantiles) -> None:
        """Add every value of ``other`` (exact stays exact while the total fits)."""
        if other._exact is not None and (
            self._exact is None or len(self._exact) + len(other._exact) > EXACT_LIMIT
        ):
            for value in other._exact:
                self.add(value)
            return
        if other._exact is not None and self._exact is not None:
            self._exact.extend(other._exact)
            self._sorted = False
        else:
            if self._exact is not None:
                for kept in self._exact:
                    self._bucket(kept)
                self._exact = None
            for index, count in other._buckets.items():
                self._buckets[index] = self._buckets.get(index, 0) + count
            self._zeros += other._zeros
        self.count += other.count
        self.total += other.total
        self.maximum = max(self.maximum, other.maximum)

    def _bucket(self, value: float) -> None:
        if value <= _TINY:
            self._zeros += 1
            return
        index = math.ceil(math.log(value) / _LOG_GAMMA)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def _weighted(self) -> list[tuple[float, int]]:
        """(representative value, count) pairs in ascending order (sketch mode)."""
        pairs = [(0.0, self._zeros)] if self._zeros else []
        for index in sorted(self._buckets):
            pairs.append((2 * _GAMMA**index / (_GAMMA + 1), self._buckets[index]))
        return pairs

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0 ≤ q ≤ 1), ``None`` when empty.

        Exact mode interpolates linearly between the two nearest ranks (NumPy's
        default, ``statistics.quantiles(method="inclusive")``); sketch mode
        returns the bucket holding rank ``q·(n-1)``.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be within [0, 1], got {q}")
        if self.count == 0:
            return None
        position = q * (self.count - 1)
        if self._exact is not None:
            if not self._sorted:
                self._exact = array("d", sorted(self._exact))
                self._sorted = True
            low = math.floor(position)
            high = min(low + 1, self.count - 1)
            frac = position - low
            return self._exact[low] + (self._exact[high] - self._exact[low]) * frac
        seen = 0
        for value, count in self._weighted():
            seen += count
            if seen > position:
                return value
        return self.maximum  # pragma: no cover - counts always cover the last rank

    @property
    def mean(self) -> float | None:
        """The arithmetic mean, ``None`` when empty."""
        return self.total / self.count if self.count else None

    def deviations(self, center: float) -> tuple[float, float]:
        """The median and the mean of ``|x − center|``: the robust spread around ``center``."""
        if self.count == 0:
            return 0.0, 0.0
        if self._exact is not None:
            pairs = sorted((abs(v - center), 1) for v in self._exact)
        else:
            pairs = sorted((abs(v - center), n) for v, n in self._weighted())
        mean = sum(d * n for d, n in pairs) / self.count
        half, seen = (self.count - 1) / 2, 0
        for distance, count in pairs:
            seen += count
            if seen > half:
                return distance, mean
        return pairs[-1][0], mean  # pragma: no cover
