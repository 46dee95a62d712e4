"""Token-bucket rate limits and the ``anthropic-ratelimit-*`` headers that report them.

The API replenishes capacity continuously rather than resetting it each minute,
and enforces a per-minute limit over shorter intervals ("60 RPM may be enforced
as 1 request per second"). So each bucket refills at ``limit / 60`` per second
and holds one second's worth, but never less than one request: a client that
bursts gets 429s, a client that paces itself does not. Token buckets may go
into debt: a request costing more than a whole bucket is admitted when the
bucket is full and the debt is then paid back by refilling, so one large
prompt can never be refused forever.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["RateLimiter", "TokenBucket"]


def rfc3339(wall: float) -> str:
    """Format a Unix time as the API formats reset times: ``2026-01-01T12:00:00Z``."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenBucket:
    """A continuously refilled bucket of ``per_minute`` units, timed by the caller's clock.

    Args:
        per_minute: the limit the headers report (requests or tokens per minute).
        now: the current ``anyio.current_time()``; the bucket starts full.
    """

    def __init__(self, per_minute: int, now: float) -> None:
        if per_minute <= 0:
            raise ValueError(f"a rate limit must be positive, got {per_minute}")
        self.limit = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self._level = self.capacity
        self._stamp = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._level = min(self.capacity, self._level + elapsed * self.rate)
        self._stamp = now

    def wait_time(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` would be admitted; 0.0 means it is admitted now."""
        self._refill(now)
        need = min(float(cost), self.capacity)
        return 0.0 if self._level >= need else (need - self._level) / self.rate

    def take(self, cost: float, now: float) -> None:
        """Spend ``cost`` units (the level may go negative; see the module docstring)."""
        self._refill(now)
        self._level -= cost

    def remaining(self, now: float) -> int:
        """Whole units left now, never negative."""
        self._refill(now)
        return max(0, math.floor(self._level))

    def full_in(self, now: float) -> float:
        """Seconds until the bucket is full again."""
        self._refill(now)
        return max(0.0, (self.capacity - self._level) / self.rate)


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict on one request: admitted, or refused until ``retry_after`` seconds."""

    admitted: bool
    retry_after: float = 0.0
    reason: str = ""


class RateLimiter:
    """Requests-, input-token- and output-token-per-minute buckets, each optional.

    Args:
        rpm: requests per minute, or ``None`` for no request limit.
        tpm: input tokens per minute, or ``None``.
        otpm: output tokens per minute, or ``None``.
        now: the current ``anyio.current_time()``.
    """

    def __init__(self, rpm: int | None, tpm: int | None, otpm: int | None, now: float) -> None:
        self.requests = TokenBucket(rpm, now) if rpm else None
        self.input_tokens = TokenBucket(tpm, now) if tpm else None
        self.output_tokens = TokenBucket(otpm, now) if otpm else None

    def admit(self, input_tokens: int, output_tokens: int, now: float) -> Admission:
        """Admit and charge a request, or say how long it must wait (charging nothing)."""
        checks = [
            (self.requests, 1, "requests"),
            (self.input_tokens, input_tokens, "input tokens"),
            (self.output_tokens, output_tokens, "output tokens"),
        ]
        for bucket, cost, what in checks:
            if bucket is not None and (wait := bucket.wait_time(cost, now)) > 0:
                reason = (
                    f"This request would exceed your rate limit of {bucket.limit} {what} "
                    "per minute. Please retry after the time in the retry-after header."
                )
                return Admission(False, wait, reason)
        for bucket, cost, _ in checks:
            if bucket is not None:
                bucket.take(cost, now)
        return Admission(True)

    def headers(self, now: float) -> list[tuple[str, str]]:
        """The ``anthropic-ratelimit-*`` headers for a response sent at ``now``."""
        wall = time.time()
        out: list[tuple[str, str]] = []

        def add(prefix: str, bucket: TokenBucket) -> None:
            out.append((f"anthropic-ratelimit-{prefix}-limit", str(bucket.limit)))
            out.append((f"anthropic-ratelimit-{prefix}-remaining", str(bucket.remaining(now))))
            out.append((f"anthropic-ratelimit-{prefix}-reset", rfc3339(wall + bucket.full_in(now))))

        if self.requests is not None:
            add("requests", self.requests)
        if self.input_tokens is not None:
            add("input-tokens", self.input_tokens)
        if self.output_tokens is not None:
            add("output-tokens", self.output_tokens)
        # ``-tokens-*`` reports the most restrictive token limit, as the API does.
        token_buckets = [b for b in (self.input_tokens, self.output_tokens) if b is not None]
        if token_buckets:
            add("tokens", min(token_buckets, key=lambda b: b.remaining(now)))
        return out
