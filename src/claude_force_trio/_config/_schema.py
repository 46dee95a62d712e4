"""Every key ``claude.json`` may hold, declared once, with the check of its value.

Why one table: the loader reads sections through it, ``cft config migrate``
writes them back through it, and the tests enumerate it (every number must
have a range), so a key is added in one place or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .._errors import ConfigError, did_you_mean
from .._pricing import PRICE_FIELDS, Pricing
from ._checks import (
    Check,
    _any_strings,
    _boolean,
    _check_keys,
    _choice,
    _expected,
    _http_url,
    _integer,
    _key_path,
    _nullable,
    _number,
    _number_map,
    _object,
    _read,
    _require,
    _string,
    _string_map,
    _strings,
    _tool_refs,
)
from ._json_schema import schema_value
from ._model import (
    AgentConfig,
    AgentSemanticConfig,
    ApiConfig,
    BudgetConfig,
    CacheConfig,
    CircuitBreakerConfig,
    CoordinationConfig,
    Defaults,
    FeaturesConfig,
    McpServerConfig,
    MemoryConfig,
    PerformanceConfig,
    RetryConfig,
    SemanticConfig,
)

__all__ = [
    "AGENT_CACHE_KEYS",
    "AGENT_CHECKS",
    "AGENT_KEYS",
    "LEGACY_AGENT_KEYS",
    "MCP_SERVER_CHECKS",
    "MCP_SERVER_NAME",
    "PRICE_CHECKS",
    "SECTIONS",
    "SEMANTIC_CHECKS",
    "STEP_CHECKS",
    "THINKING_CHECKS",
    "WORKFLOW_CHECKS",
    "agent_cache",
    "check_semantic",
    "mcp_ref",
    "parse_mcp_ref",
    "read_mcp_servers",
    "read_pricing",
    "read_section",
]

# Every number has an upper bound too: generous for any real use, small enough
# that no value overflows where it becomes seconds, bytes, a pool size or a SQL
# LIMIT (``cache.max_size_mb: 1e308`` is finite and crashed every run).
_DURATION = _number(high=365 * 24 * 3600)  # seconds: at most a year
_DELAY = _number(high=24 * 3600, strict=False)  # a retry's wait: at most a day
_MAX_TOKENS = _integer(high=1_000_000)
_FRACTION = _number(high=1.0, strict=False)
_USD = _number(high=1e9)  # dollars: a cap above a billion is a typo

#: ``cache.semantic`` and ``agents.NAME.cache.semantic``: the same keys at both levels.
SEMANTIC_CHECKS: dict[str, Check] = {
    "enabled": _boolean,
    "threshold": _number(high=1.0),  # a cosine similarity in (0, 1]
}


def _semantic_keys(value: Any, path: str) -> dict[str, Any]:
    """The keys of a semantic setting: ``true``/``false`` for ``enabled``, or an object."""
    if isinstance(value, bool):
        return {"enabled": value}
    if not isinstance(value, dict):
        raise _expected(path, 'true, false or an object with "enabled" and "threshold"', value)
    _check_keys(value, path, SEMANTIC_CHECKS)
    return _read(value, path, SEMANTIC_CHECKS)


def _semantic(value: Any, path: str) -> SemanticConfig:
    """``cache.semantic``: ``{"enabled": bool, "threshold": number}`` (or a bare boolean)."""
    return SemanticConfig(**_semantic_keys(value, path))


def check_semantic(agent: AgentConfig, path: str) -> None:
    """Refuse an agent with tools that asks for the semantic cache by name.

    The top-level switch leaves such agents out silently; asking by name is a mistake.

    Raises:
        ConfigError: at ``agents.NAME.cache.semantic``.
    """
    semantic = agent.semantic_cache
    if agent.tools and semantic is not None and semantic.enabled:
        raise ConfigError(
            f"{path}.cache.semantic",
            "an agent with tools cannot use the semantic cache"
            " (its answers depend on what its tools return)",
        )


#: The keys of an agent's ``"cache"`` object.
AGENT_CACHE_KEYS: dict[str, Check] = {
    "semantic": lambda value, path: AgentSemanticConfig(**_semantic_keys(value, path)),
}


def agent_cache(value: Any, path: str) -> tuple[bool, AgentSemanticConfig | None]:
    """An agent's ``"cache"``: ``true``/``false``, or ``{"semantic": …}`` (the response cache on).

    Returns:
        Whether the agent uses the response cache, and its own semantic setting
        (``None`` when it says nothing).
    """
    if not isinstance(value, dict):  # the usual case; the object form is the semantic one's
        return _boolean(value, path), None
    _check_keys(value, path, AGENT_CACHE_KEYS)
    return True, _read(value, path, AGENT_CACHE_KEYS).get("semantic")


SECTIONS: dict[str, tuple[Callable[..., Any], dict[str, Check]]] = {
    "defaults": (
        Defaults,
        {
            "model": _string,
            "max_tokens": _MAX_TOKENS,
            "temperature": _nullable(_FRACTION),
        },
    ),
    "cache": (
        CacheConfig,
        {
            "enabled": _boolean,
            "backend": _choice("disk", "redis"),
            "ttl_hours": _number(high=100 * 8760),  # a century
            "max_size_mb": _number(high=10 * 2**20),  # 10 TiB
            "exclude_agents": _strings,
            "redis_url": _nullable(_string),
            "semantic": _semantic,
        },
    ),
    "performance": (
        PerformanceConfig,
        {
            "max_concurrent_agents": _integer(high=10_000),
            "step_timeout_s": _DURATION,
            "workflow_timeout_s": _DURATION,
        },
    ),
    "api": (
        ApiConfig,
        {
            "version": _string,
            "auth": _choice("x-api-key", "bearer"),
            "connect_timeout_s": _DURATION,
            "read_timeout_s": _DURATION,
        },
    ),
    "retry": (
        RetryConfig,
        {
            "max_attempts": _integer(high=100),
            "initial_delay_s": _DELAY,
            "max_delay_s": _DELAY,
        },
    ),
    "circuit_breaker": (
        CircuitBreakerConfig,
        {
            "failure_threshold": _integer(high=1_000_000),
            "reset_timeout_s": _DURATION,
            "half_open_max_calls": _integer(high=10_000),
        },
    ),
    "features": (
        FeaturesConfig,
        dict.fromkeys(("async_enabled", "cache_enabled", "parallel_workflows_enabled"), _boolean),
    ),
    "memory": (
        MemoryConfig,
        {
            "enabled": _boolean,
            "max_context_items": _integer(high=1_000),
            "max_context_chars": _integer(high=1_000_000),
        },
    ),
    "budget": (
        BudgetConfig,
        {
            "per_run_usd": _nullable(_USD),
            "per_day_usd": _nullable(_USD),
            "per_workflow_usd": _number_map(_USD),
        },
    ),
    "coordination": (
        CoordinationConfig,
        {
            "redis_url": _nullable(_string),
            "requests_per_minute": _nullable(_integer(high=10_000_000)),
            "lease_s": _number(high=3600),
        },
    ),
}

#: The API's ``thinking`` shapes by ``type``, with the keys each takes besides ``type``
#: (the budget must also be below the agent's ``max_tokens``: checked by the loader).
THINKING_CHECKS: dict[str, dict[str, Check]] = {
    "enabled": {
        "budget_tokens": _integer(low=1024, high=1_000_000),
        "display": _nullable(_choice("summarized", "omitted")),
    },
    "adaptive": {"display": _nullable(_choice("summarized", "omitted"))},
    "disabled": {},
}


def _thinking(value: Any, path: str) -> dict[str, Any]:
    """One of the API's ``thinking`` objects, unset (``null``) keys dropped."""
    obj = _object(value, path)
    kind = _choice(*THINKING_CHECKS)(_require(obj, path, "type"), f"{path}.type")
    checks = THINKING_CHECKS[kind]
    _check_keys(obj, path, {"type", *checks})
    if kind == "enabled":
        _require(obj, path, "budget_tokens")
    read = _read(obj, path, checks)
    return {"type": kind} | {key: item for key, item in read.items() if item is not None}


AGENT_CHECKS: dict[str, Check] = {
    "model": _nullable(_string),
    "max_tokens": _nullable(_MAX_TOKENS),
    "temperature": _nullable(_FRACTION),
    "top_p": _nullable(_FRACTION),
    "top_k": _nullable(_integer(high=1_000_000)),
    "cache": agent_cache,  # split by the loader into ``cache`` and ``semantic_cache``
    "description": _nullable(_string),
    "domains": _strings,
    "priority": _nullable(_integer(low=-1_000_000, high=1_000_000)),
    "tools": _tool_refs,
    "max_turns": _integer(high=100),
    "output_schema": _nullable(schema_value),
    "on_max_tokens": _choice("fail", "continue", "accept"),
    "thinking": _nullable(_thinking),
    "effort": _nullable(_choice("low", "medium", "high", "xhigh", "max")),
}
AGENT_KEYS = frozenset({"file", "path", "contract", *AGENT_CHECKS})
#: Agent keys written by Claude Force's marketplace/import tools (plugin
#: manifests, ``pick-agent``) that change nothing for us: accepted, kept, unused.
LEGACY_AGENT_KEYS = frozenset({"skills", "version", "keywords", "category", "source"})

WORKFLOW_CHECKS: dict[str, Check] = {
    "description": _nullable(_string),
    "task": _nullable(_string),
    "timeout_s": _nullable(_DURATION),
    "on_failure": _choice("fail_fast", "continue"),
}
STEP_CHECKS: dict[str, Check] = {
    "task": _nullable(_string),
    "dependencies": _strings,
    "timeout_s": _nullable(_DURATION),
    "output_schema": _nullable(schema_value),
    "approval": _boolean,
}

#: What an MCP server's name may be (it prefixes its tools' names: ``SERVER__TOOL``).
MCP_SERVER_NAME = re.compile(r"[a-zA-Z0-9_-]{1,32}")
#: ``mcp_servers.NAME``: exactly one of ``command`` (stdio) and ``url`` (streamable HTTP).
MCP_SERVER_CHECKS: dict[str, Check] = {
    "command": _string,
    "args": _any_strings,
    "env": _string_map,
    "url": _http_url,
}
_MCP_REF = re.compile(r"mcp:([^/]*)(?:/(.*))?", re.DOTALL)


def parse_mcp_ref(ref: str) -> tuple[str, str | None] | None:
    """``("github", None)`` for ``mcp:github``, ``("github", "search")`` for ``mcp:github/search``.

    ``None`` when ``ref`` does not name an MCP server at all.
    """
    match = _MCP_REF.fullmatch(ref)
    return None if match is None else (match[1], match[2])


def mcp_ref(
    ref: str, servers: Mapping[str, McpServerConfig], where: str
) -> tuple[str, str | None] | None:
    """:func:`parse_mcp_ref`, with the server required to be one of ``servers``.

    Raises:
        ConfigError: at ``where``: an unknown server (with a hint), or ``mcp:SERVER/``.
    """
    parsed = parse_mcp_ref(ref)
    if parsed is None:
        return None
    server, tool = parsed
    if server not in servers:
        hint = did_you_mean(server, servers) or f"; known: {', '.join(servers) or 'none'}"
        raise ConfigError(where, f"unknown MCP server {server!r}{hint}")
    if tool is not None and not tool.strip():
        raise ConfigError(where, f"expected mcp:{server} or mcp:{server}/TOOL")
    return parsed


def read_mcp_servers(doc: Mapping[str, Any]) -> dict[str, McpServerConfig]:
    """The ``mcp_servers`` section, every server checked."""
    if "mcp_servers" not in doc:
        return {}
    servers = _object(doc["mcp_servers"], "mcp_servers")
    return {name: _mcp_server(name, raw) for name, raw in servers.items()}


def _mcp_server(name: str, raw: Any) -> McpServerConfig:
    path = _key_path("mcp_servers", name)
    if not MCP_SERVER_NAME.fullmatch(name):
        raise ConfigError(path, f"a server name must match ^{MCP_SERVER_NAME.pattern}$")
    obj = _object(raw, path)
    _check_keys(obj, path, MCP_SERVER_CHECKS)
    if ("command" in obj) == ("url" in obj):
        raise ConfigError(path, "give exactly one of 'command' (stdio) and 'url' (streamable HTTP)")
    if "url" in obj:
        for key in ("args", "env"):
            if key in obj:
                raise ConfigError(f"{path}.{key}", "only a 'command' server takes it")
    return McpServerConfig(name=name, path=path, **_read(obj, path, MCP_SERVER_CHECKS))


#: ``pricing.MODEL``: negotiated prices in USD per million tokens, each optional.
#: A thousand dollars per MTok is far above any published price: more is a typo.
PRICE_CHECKS: dict[str, Check] = dict.fromkeys(PRICE_FIELDS, _number(high=1000, strict=False))


def read_pricing(doc: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The ``pricing`` section: model → the prices it overrides (only those given).

    Raises:
        ConfigError: not an object, an unknown or out-of-range field, or a
            model the price table does not know without ``input`` and ``output``.
    """
    if "pricing" not in doc:
        return {}
    models = _object(doc["pricing"], "pricing")
    out: dict[str, dict[str, float]] = {}
    for model, raw in models.items():
        path = _key_path("pricing", model)
        if not model.strip():
            raise ConfigError(path, "expected a model name")
        obj = _object(raw, path)
        _check_keys(obj, path, PRICE_CHECKS)
        out[model] = _read(obj, path, PRICE_CHECKS)
        try:
            Pricing.from_overrides({model: out[model]})
        except ValueError as exc:
            raise ConfigError(path, str(exc).removeprefix(f"{model}: ")) from None
    return out


def read_section(doc: Mapping[str, Any], name: str) -> Any:
    cls, checks = SECTIONS[name]
    if name not in doc:
        return cls()
    obj = _object(doc[name], name)
    _check_keys(obj, name, checks)
    return cls(**_read(obj, name, checks))
