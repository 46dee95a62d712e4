"""Choose where requests go: the real API, a base URL, or the embedded simulator.

DESIGN.md §4: ``--simulate`` forces the in-process simulator, ``--live`` forces
the API (and needs a key); otherwise ``ANTHROPIC_BASE_URL`` wins, then the API
when ``ANTHROPIC_API_KEY`` is set, else the simulator with a one-line notice —
so a fresh clone works offline with no setup.

The key is held in a field excluded from ``repr`` so that it cannot leak through
logging or a traceback's locals.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ._config import ApiConfig, AuthStyle
from ._errors import ConfigError

__all__ = ["API_URL", "SIMULATOR_NOTICE", "Backend", "resolve_backend"]

API_URL = "https://api.anthropic.com"
SIMULATOR_NOTICE = (
    "no ANTHROPIC_API_KEY set: using the embedded Messages API simulator (offline replies)"
)
# The embedded simulator accepts any key; this one marks requests as ours.
_SIMULATOR_KEY = "cft-simulator"


@dataclass(frozen=True, slots=True)
class Backend:
    """Where to send requests and how to authenticate.

    Attributes:
        kind: ``simulator`` (embedded, started by the engine), ``api`` or ``base_url``.
        base_url: the URL for ``api``/``base_url``; ``None`` for the embedded simulator
            until the engine starts it.
        auth: header style: ``x-api-key`` or ``bearer``.
        version: the ``anthropic-version`` header.
        notice: a line to show the user (e.g. that the simulator is in use).
    """

    kind: Literal["simulator", "api", "base_url"]
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    auth: AuthStyle = "x-api-key"
    version: str = "2023-06-01"
    notice: str | None = None

    @classmethod
    def simulator(cls, *, notice: str | None = None) -> Backend:
        """The embedded simulator (what ``--simulate`` and a key-less machine use)."""
        return cls("simulator", None, _SIMULATOR_KEY, "x-api-key", "2023-06-01", notice)

    @classmethod
    def url(
        cls,
        base_url: str,
        api_key: str | None = None,
        *,
        auth: AuthStyle = "x-api-key",
        version: str = "2023-06-01",
    ) -> Backend:
        """A server at ``base_url`` (a standalone ``cft sim serve``, a proxy, the API)."""
        kind: Literal["api", "base_url"] = "api" if base_url == API_URL else "base_url"
        return cls(kind, base_url.rstrip("/"), api_key or _SIMULATOR_KEY, auth, version)


def resolve_backend(
    simulate: bool | None = None,
    *,
    api: ApiConfig | None = None,
    env: Mapping[str, str] | None = None,
) -> Backend:
    """Pick the backend from the flags and the environment.

    Args:
        simulate: ``True`` for ``--simulate``, ``False`` for ``--live``, ``None`` to decide
            from the environment.
        api: the config's ``api`` section (header version and auth style).
        env: the environment to read (default ``os.environ``).

    Raises:
        ConfigError: ``--live`` without a key.
    """
    env = os.environ if env is None else env
    api = api or ApiConfig()
    if simulate:
        return Backend.simulator()
    token = env.get("ANTHROPIC_AUTH_TOKEN") or None
    key = env.get("ANTHROPIC_API_KEY") or None
    base_url = (env.get("ANTHROPIC_BASE_URL") or "").strip() or None
    # ANTHROPIC_AUTH_TOKEN selects bearer auth, as the official SDK does.
    auth: AuthStyle = "bearer" if token and not key else api.auth
    secret = key or token
    if simulate is False:
        if secret is None:
            raise ConfigError("--live", "ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) is not set")
        return Backend.url(base_url or API_URL, secret, auth=auth, version=api.version)
    if base_url:
        return Backend.url(base_url, secret, auth=auth, version=api.version)
    if secret:
        return Backend.url(API_URL, secret, auth=auth, version=api.version)
    return Backend.simulator(notice=SIMULATOR_NOTICE)
