"""``cft doctor``: check that a run can work here, one line per check.

Why a separate module: each check is a small function returning a
:class:`Check` instead of printing, so the CLI decides how to show them (✓/✗
lines, ``--json``) and tests can call them directly. Checks never raise: a
failure is a ✗ line with the reason, and every detail is printable (a lone
surrogate is spelled ``\\udcff``). The API key is never shown, only whether
it is set.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .._errors import AuthenticationError, CFTError
from .._text import printable

if TYPE_CHECKING:
    from .._backend import Backend

__all__ = ["Check", "check_dir", "check_reachable", "run_checks"]

TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check: its name, whether it passed, and what was found."""

    name: str
    ok: bool
    detail: str

    def __post_init__(self) -> None:
        # A detail quotes paths and config values, which may hold lone surrogates
        # (undecodable bytes in a path, a JSON "\ud800"); printing those crashed.
        object.__setattr__(self, "detail", printable(self.detail))

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object of one check."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def check_dir(name: str, path: Path) -> Check:
    """Whether ``path`` exists (or can be created) and a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".cft-doctor-"):
            pass
    except OSError as exc:
        return Check(name, False, f"{path} is not writable: {exc.strerror or exc}")
    return Check(name, True, f"{path} is writable")


async def _simulator_answers() -> str:
    from .._api._client import MessagesClient
    from ..simulator import open_simulator

    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "ping"}]}
    async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
        client = MessagesClient(base_url=sim.url, api_key="cft-doctor")
        async with client:
            tokens = await client.count_tokens(body)
    return f"embedded simulator answered count_tokens ({tokens} tokens)"


async def _api_answers(backend: Backend) -> str:
    """Count the tokens of a one-word message with the backend's key: free, and authenticated."""
    from .._api._client import MessagesClient

    assert backend.base_url is not None
    client = MessagesClient(
        base_url=backend.base_url,
        api_key=backend.api_key,
        auth=backend.auth,
        version=backend.version,
        connect_timeout_s=TIMEOUT_S,
        read_timeout_s=TIMEOUT_S,
    )
    async with client:
        tokens = await client.count_tokens({"model": "claude-haiku-4-5", "messages": _PING})
    return f"{backend.base_url} accepted the key (count_tokens: {tokens} tokens)"


_PING = [{"role": "user", "content": "ping"}]


async def check_reachable(backend: Backend) -> Check:
    """Whether the backend answers an authenticated request within :data:`TIMEOUT_S` seconds.

    The embedded simulator is started in-process; a URL backend is asked to
    count tokens with the configured key (free, and it proves the key works:
    a wrong key is a 401, a server that is not the API a 404).

    Args:
        backend: where requests would go.
    """
    name = "backend reachable"
    url = backend.base_url
    try:
        with trio.fail_after(TIMEOUT_S * 2):
            if backend.kind == "simulator" or url is None:
                return Check(name, True, await _simulator_answers())
            return Check(name, True, await _api_answers(backend))
    except trio.TooSlowError:
        return Check(name, False, f"{url or 'simulator'} did not answer within {TIMEOUT_S:g} s")
    except AuthenticationError as exc:
        return Check(name, False, f"{url}: the key was refused ({exc})")
    except Exception as exc:  # any failure is the answer to "is it reachable?"
        return Check(name, False, f"{url or 'simulator'}: {type(exc).__name__}: {exc}")


async def run_checks(
    config_path: Path | None,
    *,
    simulate: bool | None,
    state: Path,
    env: Mapping[str, str] | None = None,
) -> list[Check]:
    """Run every check, in order; later checks still run when earlier ones fail.

    Args:
        config_path: ``--config`` (``None``: ``$CFT_CONFIG`` or ``./.claude``).
        simulate: ``--simulate`` (True), ``--live`` (False), or decide from the environment.
        state: the state folder (``$CFT_HOME``).
        env: the environment (default ``os.environ``).
    """
    from .._backend import resolve_backend
    from .._config import Config, find_config, load_config

    env = os.environ if env is None else env
    checks: list[Check] = []
    config: Config | None = None
    try:
        config = load_config(find_config(config_path))
        detail = f"{config.path} ({len(config.agents)} agents, {len(config.workflows)} workflows)"
        checks.append(Check("config valid", True, detail))
    except CFTError as exc:
        checks.append(Check("config valid", False, str(exc)))
    if config is None:
        checks.append(Check("agent files readable", False, "skipped: the config did not load"))
    else:
        unreadable = [
            str(path)
            for agent in config.agents.values()
            for path in (agent.file, agent.contract_file)
            if path is not None and not os.access(path, os.R_OK)
        ]
        ok = not unreadable
        detail = f"{len(config.agents)} agent files readable" if ok else ", ".join(unreadable)
        checks.append(Check("agent files readable", ok, detail))
    try:
        backend = resolve_backend(
            simulate, api=config.api if config else None, env=env, default_to_simulator=True
        )
    except CFTError as exc:
        checks.append(Check("API key", False, str(exc)))
        backend = None
    if backend is not None:
        has_key = (
            "set" if env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN") else "not set"
        )
        if backend.kind == "simulator":
            detail = f"API key {has_key}; using the embedded simulator"
        else:
            detail = f"API key {has_key}; sending to {backend.base_url}"
        checks.append(Check("API key", backend.kind != "api" or has_key == "set", detail))
        checks.append(await check_reachable(backend))
    cache_dir = config.cache.directory if config and config.cache.directory else state / "cache"
    checks.append(check_dir("cache dir writable", cache_dir))
    checks.append(check_dir("state dir writable", state))
    return checks
