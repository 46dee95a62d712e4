"""``open_coordination``: everything processes share through one Redis, opened together.

Why one opening: the pacer, the breakers and the cross-process single-flight
all talk through one :class:`~._link.RedisLink`, so they go down and come
back together, with one warning between them. Redis not answering at open is
not an error (the engine starts with per-process limits and says so); a URL
that is not a Redis URL, or no redis-py, is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .._config import Config
from ._breaker import SharedBreakers
from ._flight import SharedFlight
from ._link import RedisLink, connect
from ._pacing import SharedPacer

__all__ = ["PREFIX", "Coordination", "open_coordination"]

#: The start of every key coordination writes.
PREFIX = "cft:coord:"


@dataclass(frozen=True, slots=True)
class Coordination:
    """What the processes sharing one Redis share.

    Attributes:
        link: the connection, and whether it is up.
        pacer: one request bucket per ``(base_url, model)``.
        breakers: one breaker state per ``(base_url, model)``.
        flights: one in-flight call per cache key.
    """

    link: RedisLink
    pacer: SharedPacer
    breakers: SharedBreakers
    flights: SharedFlight


def coordination_for(link: RedisLink, config: Config, *, prefix: str = PREFIX) -> Coordination:
    """The shared parts over ``link``, set up from ``config.coordination`` and ``circuit_breaker``.

    Args:
        link: an open link.
        config: the loaded config.
        prefix: the start of every key.
    """
    section = config.coordination
    return Coordination(
        link,
        SharedPacer(link, prefix=prefix, requests_per_minute=section.requests_per_minute),
        SharedBreakers(link, config.circuit_breaker, prefix=prefix),
        SharedFlight(link, prefix=prefix, lease_s=section.lease_s),
    )


@asynccontextmanager
async def open_coordination(
    url: str, config: Config, *, prefix: str = PREFIX
) -> AsyncIterator[Coordination]:
    """Connect to ``url`` for the duration of an ``async with`` block.

    Args:
        url: ``redis://[:password@]host:port/db``.
        config: the loaded config (``coordination``, ``circuit_breaker``).
        prefix: the start of every key.

    Raises:
        ConfigError: redis-py is not installed, or ``url`` is not a Redis URL.
    """
    link = await connect(url)
    try:
        yield coordination_for(link, config, prefix=prefix)
    finally:
        await link.aclose()
