"""The ``--redis URL`` option of ``cft worker``, ``cft submit`` and ``cft runs show``.

One rule for all three: ``--redis`` (or ``$CFT_REDIS_URL``), else the config's
``coordination.redis_url``, else (where Redis is required) one error line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .._errors import CFTError, ConfigError

if TYPE_CHECKING:
    from ._app import Globals

__all__ = ["QueueOption", "RedisOption", "redis_url", "require_redis_url"]

RedisOption = Annotated[
    str | None,
    typer.Option(
        "--redis",
        metavar="URL",
        envvar="CFT_REDIS_URL",
        help="The Redis server of the work queue and journal, redis://host:port/db"
        " (default: the config's coordination.redis_url).",
    ),
]

QueueOption = Annotated[
    str | None,
    typer.Option(
        "--queue",
        metavar="NAME",
        envvar="CFT_QUEUE",
        help="A named work queue (stream cft:work:NAME) instead of the default cft:work.",
    ),
]


def redis_url(settings: Globals, given: str | None) -> str | None:
    """The Redis URL to use: ``given``, else the config's ``coordination.redis_url``, else ``None``.

    The config is read only when no URL was given; a missing or broken config
    then counts as no URL.
    """
    if given is not None and given.strip():
        return given.strip()
    try:
        return settings.load().coordination.redis_url
    except CFTError:
        return None


def require_redis_url(settings: Globals, given: str | None) -> str:
    """As :func:`redis_url`, but a URL there must be.

    Raises:
        ConfigError: no URL is given or configured (or the config, needed for
            it, cannot be loaded).
    """
    if given is not None and given.strip():
        return given.strip()
    configured = settings.load().coordination.redis_url
    if configured is None:
        raise ConfigError("--redis", "no Redis URL: pass --redis URL or set coordination.redis_url")
    return configured
