"""``SharedFlight``: single-flight across processes, through a Redis lock with a lease.

Why: the in-process single-flight (:mod:`.._cache._singleflight`) stops fifty
identical steps of one engine from paying fifty times, but four processes
sharing a Redis cache that ask the same uncached question at once still pay
four times: each misses, each calls. So the one call in flight *in this
process* for a key (the local leader) also takes a lock on the server:

* ``SET {prefix}flight:{key} token NX PX lease`` — the winner is the leader of
  every process; it checks the shared cache once more (an answer may have
  landed between its miss and its lock), makes the call, stores the answer in
  the shared cache *before* it lets go, and releases the lock (a script that
  deletes it only if it still holds the token). While the call runs, the lease
  is renewed every third of its length, so a slow answer keeps its lock;
* everyone else is a **follower**: it polls the shared cache with backoff
  (10 ms growing to 250 ms) and, at each poll, tries the lock again. A leader
  that dies stops renewing; its lease expires and the next follower to try
  becomes the leader. A leader whose answer cannot be stored (a truncated
  reply, an error) also lets go, and the next follower makes its own call.

The wait is bounded by the call's own timeout (the step's cancel scope), not
here. With Redis down the call simply runs (per-process single-flight still
applies). Only calls the response cache handles get here, and only when that
cache is Redis: followers must be able to see the leader's answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ._link import DOWN, RedisLink

__all__ = ["SharedFlight"]

V = TypeVar("V")

# KEYS: lock. ARGV: token, lease_ms. 1 if we still held it (and now hold it longer).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: lock. ARGV: token. 1 if we held it (and now nobody does).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SharedFlight:
    """Coalesce identical calls of many processes by key, through a lease in Redis.

    Args:
        link: the connection (while it is down, every call runs).
        prefix: the start of every lock key.
        lease_s: how long a lock outlives its leader's last renewal.
        poll_s: a follower's first wait between polls.
        max_poll_s: the longest wait between polls.

    Attributes:
        led: calls this process made as the leader of every process.
        followed: calls answered by another process's leader.
        took_over: locks taken after another leader's lease ran out or it let go.
    """

    def __init__(
        self,
        link: RedisLink,
        *,
        prefix: str = "cft:coord:",
        lease_s: float = 10.0,
        poll_s: float = 0.01,
        max_poll_s: float = 0.25,
    ) -> None:
        self._link = link
        self._prefix = prefix
        self.lease_s = lease_s
        self._lease_ms = max(1, round(lease_s * 1000))
        self._poll_s = poll_s
        self._max_poll_s = max_poll_s
        self._renew = link.register(_RENEW)
        self._release = link.register(_RELEASE)
        self.led = 0
        self.followed = 0
        self.took_over = 0

    def lock_key(self, key: str) -> str:
        """The Redis key of the lock for cache key ``key``."""
        return f"{self._prefix}flight:{key}"

    async def acquire(self, key: str) -> str | bool | None:
        """Try the lock once: our token, ``False`` if another holds it, ``None`` if Redis is down.

        Args:
            key: the cache key.
        """
        token = uuid.uuid4().hex
        got = await self._link.run(
            self._link.client.set, self.lock_key(key), token, nx=True, px=self._lease_ms
        )
        if got is DOWN:
            return None
        return token if got else False

    async def release(self, key: str, token: str) -> None:
        """Let go of the lock if we still hold it (shielded: followers must not wait a lease).

        Args:
            key: the cache key.
            token: what :meth:`acquire` returned.
        """
        with anyio.CancelScope(shield=True):
            await self._link.run(self._release, keys=[self.lock_key(key)], args=[token])

    async def do(
        self,
        key: str,
        poll: Callable[[], Awaitable[V | None]],
        lead: Callable[[], Awaitable[V]],
    ) -> tuple[V, bool]:
        """``lead()`` as the one leader of every process, or the answer another leader stored.

        Args:
            key: the cache key.
            poll: reads the shared store: the stored answer, or ``None`` (not there yet).
            lead: makes the call and stores its answer (before returning).

        Returns:
            ``(value, shared)``: ``shared`` is True when it came from the shared store.
        """
        wait = self._poll_s
        waited = False
        while True:
            token = await self.acquire(key)
            if token is None:
                return await lead(), False  # Redis is away: this process decides alone
            if isinstance(token, str):
                if waited:
                    self.took_over += 1
                try:
                    if (found := await poll()) is not None:
                        self.followed += 1
                        return found, True
                    self.led += 1
                    return await self._lead_renewing(key, token, lead), False
                finally:
                    await self.release(key, token)
            waited = True
            await anyio.sleep(wait)
            wait = min(self._max_poll_s, wait * 1.5)
            if (found := await poll()) is not None:
                self.followed += 1
                return found, True

    async def _lead_renewing(self, key: str, token: str, lead: Callable[[], Awaitable[V]]) -> V:
        async with anyio.create_task_group() as renewals:
            renewals.start_soon(self._keep, key, token)
            try:
                value = await lead()
            finally:
                renewals.cancel_scope.cancel()
        return value

    async def _keep(self, key: str, token: str) -> None:
        """Renew the lease every third of its length while the leader's call runs."""
        args = [token, str(self._lease_ms)]
        while True:
            await anyio.sleep(self.lease_s / 3)
            held = await self._link.run(self._renew, keys=[self.lock_key(key)], args=args)
            if held is not DOWN and not held:
                return  # lost (it ran out): a follower may lead now; our call goes on
