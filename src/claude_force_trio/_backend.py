"""Choose where requests go: the real API, a base URL, or the embedded simulator.

The library never answers with the simulator unasked: with no key, no base
URL and no explicit ``backend="simulator"``, :func:`resolve_backend` raises
(naming the three ways out), so a deployment that lost its key fails loudly
instead of returning canned answers. The CLI alone falls back to the embedded
simulator, with a one-line notice, so a fresh clone works offline.

The CLI's rules: ``--simulate`` forces the in-process simulator, ``--live`` forces
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
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.abc

from ._config import ApiConfig, AuthStyle
from ._errors import ConfigError
from ._public import publish

if TYPE_CHECKING:
    from .simulator import SimulatorConfig

__all__ = [
    "API_URL",
    "NO_BACKEND",
    "SIMULATOR_NOTICE",
    "Backend",
    "BackendChoice",
    "choose_backend",
    "resolve_backend",
    "serve_simulator_url",
]

API_URL = "https://api.anthropic.com"
SIMULATOR_NOTICE = (
    "no ANTHROPIC_API_KEY set: using the embedded Messages API simulator (offline replies)"
)
NO_BACKEND = (
    "no ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL is set: set ANTHROPIC_API_KEY to use the API, "
    "set ANTHROPIC_BASE_URL to use another server (e.g. `cft sim serve`), "
    'or pass backend="simulator" for offline replies'
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
    default_to_simulator: bool = False,
) -> Backend:
    """Pick the backend from the flags and the environment.

    Args:
        simulate: ``True`` for ``--simulate``, ``False`` for ``--live``, ``None`` to decide
            from the environment.
        api: the config's ``api`` section (header version and auth style).
        env: the environment to read (default ``os.environ``).
        default_to_simulator: with nothing set, use the embedded simulator (with a
            notice) instead of raising: the CLI's rule, never the library's.

    Raises:
        ConfigError: ``--live`` without a key; or nothing set and no fallback allowed.
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
    if not default_to_simulator:
        raise ConfigError("backend", NO_BACKEND)
    return Backend.simulator(notice=SIMULATOR_NOTICE)


#: What ``open_engine(backend=...)`` accepts: a :class:`Backend`, or a name.
BackendChoice = Backend | Literal["simulator", "api", "env"]


def choose_backend(choice: BackendChoice | None, api: ApiConfig) -> Backend:
    """The backend an engine is opened with (the library's rule: never a silent simulator).

    Args:
        choice: a :class:`Backend`; ``"simulator"`` for the embedded simulator;
            ``"api"`` for the API (a key required); ``"env"`` or ``None`` to
            decide from the environment (a key or a base URL required).
        api: the config's ``api`` section.

    Raises:
        ConfigError: the choice cannot be honoured (see :func:`resolve_backend`).
    """
    if isinstance(choice, Backend):
        return choice
    if choice == "simulator":
        return Backend.simulator()
    if choice == "api":
        return resolve_backend(False, api=api)
    if choice in (None, "env"):
        return resolve_backend(api=api)
    raise ValueError(f"backend must be a Backend, 'simulator', 'api' or 'env', not {choice!r}")


async def serve_simulator_url(
    simulator: SimulatorConfig | None = None,
    *,
    task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run the embedded simulator until cancelled, reporting its URL once it listens.

    Meant for ``url = await task_group.start(serve_simulator_url)``: the engine
    starts it only when a call first needs it, so a run answered from the cache
    never starts (or imports) the simulator.

    Args:
        simulator: its settings (default: from the environment).
    """
    from .simulator import config_from_env, open_simulator

    async with open_simulator(simulator or config_from_env()) as sim:
        task_status.started(sim.url)
        await anyio.sleep_forever()


publish(globals())
