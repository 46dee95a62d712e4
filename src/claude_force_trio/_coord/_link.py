"""``RedisLink``: the one connection coordination goes through, and what happens when it fails.

Why a link of its own: coordination is an optimisation, not a dependency. A
run whose Redis goes away must keep running with the limits of one process,
not fail, and a flapping server must not print a warning per request. So every
command goes through :meth:`RedisLink.run`, which

* runs the blocking redis-py call in a worker thread (under a
  ``CapacityLimiter``, as the Redis cache and ledger do);
* returns :data:`DOWN` instead of raising when the server does not answer,
  logs **one** warning line naming the URL (never its password) when the link
  goes down, and one line when it answers again;
* while down, does not even try until :attr:`retry_s` has passed, so a dead
  server costs each call nothing but a clock read.

Timeouts are short (connect 0.5 s, command 2 s): a hung Redis must not stall
every request for the five seconds the cache's client allows.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar

import anyio
import anyio.to_thread

from .._errors import ConfigError
from .._journal._ledger_redis import public_url

__all__ = ["DOWN", "RedisLink", "connect"]

log = logging.getLogger("claude_force_trio.coordination")

T = TypeVar("T")
_INSTALL = "coordination through Redis needs redis-py: pip install 'claude-force-trio[redis]'"


class _Down(enum.Enum):
    """The type of :data:`DOWN` (an enum member, so a type checker narrows ``is DOWN``)."""

    DOWN = "down"


#: What :meth:`RedisLink.run` returns instead of a reply while Redis does not answer.
DOWN: Final = _Down.DOWN


class RedisLink:
    """A redis-py client, its worker threads, and whether the server answers now.

    Args:
        client: a ``redis.Redis`` client.
        where: the server's URL without password, for messages.
        errors: the exception types that mean "the server did not answer".
        retry_s: how long to stop trying after a failure.
        max_threads: how many commands may run in worker threads at once.

    Attributes:
        where: as given.
        up: whether the last command got an answer.
        outages: how often the link went down.
    """

    def __init__(
        self,
        client: Any,
        *,
        where: str,
        errors: tuple[type[BaseException], ...] = (OSError,),
        retry_s: float = 2.0,
        max_threads: int = 16,
    ) -> None:
        self.client = client
        self.where = where
        self.up = True
        self.outages = 0
        self.retry_s = retry_s
        self._errors = errors
        self._max_threads = max_threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._retry_at = 0.0

    def __repr__(self) -> str:
        return f"RedisLink({self.where!r}, up={self.up})"

    def register(self, script: str) -> Any:
        """A redis-py ``Script`` for ``script`` (sent with EVALSHA, loaded on first use)."""
        return self.client.register_script(script)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | Literal[_Down.DOWN]:
        """``fn(*args, **kwargs)`` in a worker thread; :data:`DOWN` if the server does not answer.

        Args:
            fn: a blocking redis-py call (a command, or a ``Script``).
            *args: its positional arguments.
            **kwargs: its keyword arguments.
        """
        if not self.up and anyio.current_time() < self._retry_at:
            return DOWN
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_threads)
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        try:
            result = await anyio.to_thread.run_sync(call, limiter=self._limiter)
        except self._errors as exc:
            self.mark_down(exc)
            return DOWN
        if not self.up:
            self.up = True
            log.warning(
                "coordination: Redis at %s answers again; limits are shared again", self.where
            )
        return result

    def mark_down(self, exc: BaseException) -> None:
        """Note that the server did not answer; warn once per outage.

        Args:
            exc: what the client raised.
        """
        self._retry_at = anyio.current_time() + self.retry_s
        if self.up:
            self.up = False
            self.outages += 1
            log.warning(
                "coordination: Redis at %s does not answer (%s); falling back to "
                "per-process limits, single-flight and breakers until it does",
                self.where,
                type(exc).__name__,
            )

    async def aclose(self) -> None:
        """Close the connection pool."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.client.close)


async def connect(url: str, *, retry_s: float = 2.0) -> RedisLink:
    """A link to the Redis server at ``url``; down (with its one warning) if nothing answers yet.

    Args:
        url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS).
        retry_s: how long to stop trying after a failure.

    Raises:
        ConfigError: redis-py is not installed, or ``url`` is not a Redis URL.
    """
    try:
        import redis
    except ImportError:
        raise ConfigError("coordination.redis_url", _INSTALL) from None
    where = public_url(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2.0)
    except ValueError as exc:
        raise ConfigError("coordination.redis_url", f"not a Redis URL: {where}") from exc
    # Not redis.RedisError: a script the server refuses is a bug to see, not an outage.
    errors = (redis.ConnectionError, redis.TimeoutError, OSError)
    link = RedisLink(client, where=where, errors=errors, retry_s=retry_s)
    await link.run(client.ping)
    return link
