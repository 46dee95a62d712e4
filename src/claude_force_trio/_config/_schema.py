"""Every key ``claude.json`` may hold, declared once, with the check of its value.

Why one table: the loader reads sections through it, ``cft config migrate``
writes them back through it, and the tests enumerate it (every number must
have a range), so a key is added in one place or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._checks import (
    Check,
    _boolean,
    _check_keys,
    _choice,
    _integer,
    _nullable,
    _number,
    _object,
    _read,
    _string,
    _strings,
)
from ._model import (
    ApiConfig,
    CacheConfig,
    CircuitBreakerConfig,
    Defaults,
    FeaturesConfig,
    MemoryConfig,
    PerformanceConfig,
    RetryConfig,
)

__all__ = [
    "AGENT_CHECKS",
    "AGENT_KEYS",
    "LEGACY_AGENT_KEYS",
    "SECTIONS",
    "STEP_CHECKS",
    "WORKFLOW_CHECKS",
    "read_section",
]

# Every number has an upper bound too: generous for any real use, small enough
# that no value overflows where it becomes seconds, bytes, a pool size or a SQL
# LIMIT (``cache.max_size_mb: 1e308`` is finite and crashed every run).
_DURATION = _number(high=365 * 24 * 3600)  # seconds: at most a year
_DELAY = _number(high=24 * 3600, strict=False)  # a retry's wait: at most a day
_MAX_TOKENS = _integer(high=1_000_000)
_FRACTION = _number(high=1.0, strict=False)

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
}

AGENT_CHECKS: dict[str, Check] = {
    "model": _nullable(_string),
    "max_tokens": _nullable(_MAX_TOKENS),
    "temperature": _nullable(_FRACTION),
    "top_p": _nullable(_FRACTION),
    "top_k": _nullable(_integer(high=1_000_000)),
    "cache": _boolean,
    "description": _nullable(_string),
    "domains": _strings,
    "priority": _nullable(_integer(low=-1_000_000, high=1_000_000)),
}
AGENT_KEYS = frozenset({"file", "path", "contract", *AGENT_CHECKS})
#: Agent keys written by Claude Force's marketplace/import tools (plugin
#: manifests, ``pick-agent``) that change nothing for us: accepted, kept, unused.
LEGACY_AGENT_KEYS = frozenset({"skills", "tools", "version", "keywords", "category", "source"})

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
}


def read_section(doc: Mapping[str, Any], name: str) -> Any:
    cls, checks = SECTIONS[name]
    if name not in doc:
        return cls()
    obj = _object(doc[name], name)
    _check_keys(obj, name, checks)
    return cls(**_read(obj, name, checks))
