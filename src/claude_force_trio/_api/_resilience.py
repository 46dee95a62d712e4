"""The per-call pipeline: retries around (breaker → rate-limiter slot → one request).

Why one place: the order matters and is easy to get wrong when the pieces are
wired ad hoc. For every *attempt*:

1. the breaker for ``(base_url, model)`` is checked, so an open circuit fails
   fast without queueing for a slot;
2. a slot is taken from the shared :class:`AdaptiveLimiter` (which also waits
   out quota holds), then the breaker admits the request, checked again because
   it may have opened while the attempt queued;
3. the request is sent, and its outcome is recorded in both;
4. on a retryable error the slot is already released while the retry loop
   sleeps, so a step waiting to retry never blocks another step.

A 429 goes to the limiter (hold + halve), never to the breaker; so does a
failure of this machine's own (:class:`LocalResourceError`: halve, no hold),
which the retry loop retries without spending the policy's attempts. The step's own
cancel scope, outside this pipeline, bounds the whole call, retries included.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from .._errors import APIStatusError, LocalResourceError
from .._types import MessageResult
from ._breaker import BreakerKey, BreakerRegistry
from ._ratelimit import AdaptiveLimiter
from ._retry import RetryDetails, RetryPolicy, is_testing, retry_call, server_delay

__all__ = ["Resilience"]


class Resilience:
    """Retries, circuit breakers and adaptive concurrency for one engine's requests.

    Args:
        policy: how many attempts and how long to wait between them.
        breakers: one breaker per ``(base_url, model)``.
        limiter: the slots and quota holds every request shares.
        rng: jitter source (seed it in tests).

    Attributes:
        policy: as given.
        breakers: as given; ``breakers.statistics()`` snapshots every breaker.
        limiter: as given; ``limiter.statistics()`` snapshots the limit and holds.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        breakers: BreakerRegistry,
        limiter: AdaptiveLimiter,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self.breakers = breakers
        self.limiter = limiter
        self._rng = rng

    async def call(
        self,
        key: BreakerKey,
        send: Callable[[], Awaitable[MessageResult]],
        *,
        on_attempt: Callable[[int], object] | None = None,
        on_retry: Callable[[RetryDetails], object] | None = None,
    ) -> MessageResult:
        """Send a request with retries; ``send()`` makes exactly one attempt.

        Args:
            key: ``(base_url, model)``: which breaker guards the request.
            send: makes one attempt (a fresh request every call).
            on_attempt: called with the attempt's number once it holds a slot
                and is about to be sent; called once per request actually sent.
            on_retry: called before the wait that precedes a retry.

        Returns:
            The first successful answer.

        Raises:
            CircuitOpenError: the breaker refused the attempt (nothing was sent).
            CFTError: the last attempt's error, or the first one not worth retrying.
        """
        breaker = self.breakers.get(key)
        limiter = self.limiter

        async def attempt(number: int) -> MessageResult:
            breaker.check()
            async with limiter.slot() as permit:
                with breaker.guard():
                    if on_attempt is not None:
                        on_attempt(number)
                    try:
                        result = await send()
                    except LocalResourceError:
                        limiter.local_failure(permit)  # fewer in flight; the breaker ignores it
                        raise
                    except APIStatusError as exc:
                        if exc.status_code == 429:
                            # In test mode nothing waits, not even for the server's retry-after.
                            delay = None if is_testing() else server_delay(exc.headers)
                            limiter.rate_limited(permit, delay, exc.headers)
                        else:
                            limiter.observe(permit, exc.headers)
                        raise
                    limiter.succeeded(permit, result.headers)
                    return result

        return await retry_call(attempt, self.policy, on_retry=on_retry, rng=self._rng)
