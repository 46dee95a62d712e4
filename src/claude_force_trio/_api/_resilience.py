"""``ResilienceLayer``: retries around (breaker → rate-limiter slot → one request).

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
cancel scope, above this layer, bounds the whole call, retries included.

Processes that coordinate through Redis (``_coord``) add two steps to an
attempt that holds its slot: the shared breaker admits it (the local breaker
mirrors the shared state and fails fast before the slot), and the shared
request bucket paces it; its outcome is then told to both. The local limiter
stays the in-process cap on concurrency. While Redis does not answer, each
step falls back to the local breaker and the local pacing alone.

As a layer of the call stack (see ``_call``) it tells the call's observer when
each attempt is sent (``attempt_started``) and before each retry's wait
(``retrying``), and steers nothing else.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import anyio

from .._call import Call, CallObserver, Layer
from .._errors import APIStatusError, CFTError, LocalResourceError
from .._types import MessageResult
from ._breaker import BreakerRegistry, CircuitBreaker
from ._ratelimit import AdaptiveLimiter
from ._retry import Attempts, RetryPolicy, is_testing, server_delay

if TYPE_CHECKING:
    from .._coord._breaker import SharedBreakers
    from .._coord._pacing import SharedPacer

__all__ = ["ResilienceLayer"]


class ResilienceLayer:
    """Retries, circuit breakers and adaptive concurrency around the next layer.

    Args:
        inner: makes exactly one attempt per ``send`` (the HTTP client).
        base_url: the API root; breakers key on ``(base_url, model)``.
        policy: how many attempts and how long to wait between them.
        breakers: one breaker per ``(base_url, model)``.
        limiter: the slots and quota holds every request shares.
        rng: jitter source (seed it in tests).
        pacer: the request bucket shared with other processes, or ``None``.
        shared_breakers: the breaker state shared with other processes, or ``None``.

    Attributes:
        policy: as given.
        breakers: as given; ``breakers.statistics()`` snapshots every breaker.
        limiter: as given; ``limiter.statistics()`` snapshots the limit and holds.
    """

    def __init__(
        self,
        inner: Layer,
        *,
        base_url: str,
        policy: RetryPolicy,
        breakers: BreakerRegistry,
        limiter: AdaptiveLimiter,
        rng: random.Random | None = None,
        pacer: SharedPacer | None = None,
        shared_breakers: SharedBreakers | None = None,
    ) -> None:
        self.policy = policy
        self.pacer = pacer
        self.shared_breakers = shared_breakers
        self.breakers = breakers
        self.limiter = limiter
        self._inner = inner
        self._base_url = base_url
        self._rng = rng

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        """Answer ``call`` with retries; each attempt asks the inner layer once.

        The retry loop is this frame's own (``Attempts``), not a ``retry_call``
        around a partial: a call waiting here holds no more than it must.

        Raises:
            CircuitOpenError: the breaker refused the attempt (nothing was sent).
            CFTError: the last attempt's error, or the first one not worth retrying.
        """
        breaker = self.breakers.get((self._base_url, call.model))
        local = self.pacer is None and self.shared_breakers is None
        attempts = Attempts(self.policy, self._rng)
        while True:
            try:
                if local:  # called, not kept as a bound method: one object less while waiting
                    return await self._attempt(breaker, call, observer, attempts.number)
                return await self._shared_attempt(breaker, call, observer, attempts.number)
            except CFTError as exc:
                details = attempts.failed(exc)
                if details is None:
                    raise
            observer.retrying(details)
            await anyio.sleep(details.delay_s)

    async def _attempt(
        self, breaker: CircuitBreaker, call: Call, observer: CallObserver, number: int
    ) -> MessageResult:
        """Attempt ``number`` (1-based) of ``call``: breaker, slot, one request, bookkeeping."""
        limiter = self.limiter
        breaker.check()
        permit = await limiter.acquire()  # not ``async with slot()``: two objects less per call
        try:
            probe = breaker.admit()
            try:
                observer.attempt_started(number)
                result = await self._inner.send(call, observer)
            except BaseException as exc:
                breaker.settle(probe, exc)
                if isinstance(exc, LocalResourceError):
                    limiter.local_failure(permit)  # fewer in flight; the breaker ignores it
                elif isinstance(exc, APIStatusError):
                    if exc.status_code == 429:
                        # In test mode nothing waits, not even for the server's retry-after.
                        delay = None if is_testing() else server_delay(exc.headers)
                        limiter.rate_limited(permit, delay, exc.headers)
                    else:
                        limiter.observe(permit, exc.headers)
                raise
            breaker.settle(probe, None)
            limiter.succeeded(permit, result.headers)
            return result
        finally:
            limiter.release(permit)

    async def _shared_attempt(
        self, breaker: CircuitBreaker, call: Call, observer: CallObserver, number: int
    ) -> MessageResult:
        """:meth:`_attempt` with the shared breaker and the shared request bucket."""
        limiter, pacer, shared = self.limiter, self.pacer, self.shared_breakers
        breaker.check()
        async with limiter.slot() as permit:
            probe = None if shared is None else await shared.admit(breaker)
            local = probe is None
            if probe is None:
                probe = breaker.admit()
            taken_at = None if pacer is None else await pacer.wait_turn(breaker.key)
            try:
                observer.attempt_started(number)
                result = await self._inner.send(call, observer)
            except BaseException as exc:
                if local or shared is None:
                    breaker.settle(probe, exc)
                else:
                    await shared.settle(breaker, probe, exc)
                if isinstance(exc, LocalResourceError):
                    limiter.local_failure(permit)
                elif isinstance(exc, APIStatusError):
                    if exc.status_code == 429:
                        delay = None if is_testing() else server_delay(exc.headers)
                        limiter.rate_limited(permit, delay, exc.headers)
                        if pacer is not None:
                            await pacer.feedback(
                                breaker.key,
                                rate_limited=True,
                                taken_at=taken_at,
                                headers=exc.headers,
                            )
                    else:
                        limiter.observe(permit, exc.headers)
                raise
            if local or shared is None:
                breaker.settle(probe, None)
            else:
                await shared.settle(breaker, probe, None)
            limiter.succeeded(permit, result.headers)
            if pacer is not None:
                await pacer.feedback(
                    breaker.key, rate_limited=False, taken_at=taken_at, headers=result.headers
                )
            return result
