"""The configuration model: frozen dataclasses for every section of ``claude.json``.

Why a module that imports nothing of ours (but the public table): everything
reads the config — the graph, the engine, the cache, the CLI — and the loader
that builds it reads the graph to reject cycles. Keeping the shapes here, apart
from the loading, lets any module depend on them without an import circle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._public import publish

__all__ = [
    "SEMANTIC_THRESHOLD",
    "AgentConfig",
    "AgentSemanticConfig",
    "ApiConfig",
    "AuthStyle",
    "CacheConfig",
    "CircuitBreakerConfig",
    "Config",
    "Defaults",
    "FeaturesConfig",
    "McpServerConfig",
    "MemoryConfig",
    "OnFailure",
    "OnMaxTokens",
    "PerformanceConfig",
    "RetryConfig",
    "SemanticConfig",
    "StepConfig",
    "ToolRef",
    "WorkflowConfig",
]


OnFailure = Literal["fail_fast", "continue"]
AuthStyle = Literal["x-api-key", "bearer"]
#: What a reply cut off by ``max_tokens`` means: a failed step (``truncated``), a
#: continued turn (the partial reply sent back as an assistant prefix), or success.
OnMaxTokens = Literal["fail", "continue", "accept"]
#: An entry of an agent's ``tools``: a name (a library, workspace or server tool;
#: ``mcp:SERVER`` for all of a server's tools, ``mcp:SERVER/TOOL`` for one), or a
#: server tool definition in the API's own shape (``{"type": "web_search_20250305", ...}``).
ToolRef = str | Mapping[str, Any]

#: The semantic cache's default threshold: the lowest cosine similarity of a
#: task to a cached one that is served its answer (``cache.semantic.threshold``).
#: Chosen on the pair set (docs/semantic-cache.md): the rule's 0.56, plus a margin
#: that costs 0.05 of recall there and nothing on the held-out pairs.
SEMANTIC_THRESHOLD = 0.70


@dataclass(frozen=True, slots=True)
class Defaults:
    """Request defaults for agents that do not set their own."""

    model: str = "sonnet"
    max_tokens: int = 4096
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """One agent: its definition (markdown), optional contract, and request settings.

    ``definition`` and ``contract`` hold the files' text, read once at load time,
    so an edited file changes the prompt (and therefore the cache key).
    """

    name: str
    file: Path
    definition: str
    contract_file: Path | None = None
    contract: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    cache: bool = True
    # ``"cache": {"semantic": …}`` as the agent wrote it; ``None``: it says nothing
    # (the top level's ``cache.semantic.enabled`` decides, tools permitting).
    semantic_cache: AgentSemanticConfig | None = None
    description: str | None = None
    domains: tuple[str, ...] = ()
    priority: int | None = None
    tools: tuple[ToolRef, ...] = ()
    max_turns: int = 10
    output_schema: Mapping[str, Any] | None = None
    # Where ``output_schema`` was read from, so ``cft config migrate`` writes the path back.
    output_schema_file: Path | None = None
    on_max_tokens: OnMaxTokens = "fail"
    thinking: Mapping[str, Any] | None = None
    effort: str | None = None
    # Keys Claude Force tools write that we tolerate but do not use (``skills``,
    # ``keywords``…); kept only so ``cft config migrate`` does not drop them.
    legacy_keys: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class StepConfig:
    """One step of a workflow. ``path`` is its JSON path, for error messages."""

    id: str
    agent: str
    task: str | None = None
    dependencies: tuple[str, ...] = ()
    timeout_s: float | None = None
    path: str = ""
    output_schema: Mapping[str, Any] | None = None
    output_schema_file: Path | None = None
    approval: bool = False


@dataclass(frozen=True, slots=True)
class WorkflowConfig:
    """A workflow: a DAG of steps. A legacy list workflow becomes a chain.

    ``task`` is the workflow-level task every step sees above its own.
    """

    name: str
    steps: tuple[StepConfig, ...]
    description: str | None = None
    timeout_s: float | None = None
    on_failure: OnFailure = "fail_fast"
    legacy: bool = False
    path: str = ""
    task: str | None = None


@dataclass(frozen=True, slots=True)
class SemanticConfig:
    """The semantic cache for every agent without tools (``cache.semantic``).

    Off by default. On, a task close enough to one answered before (same agent,
    model and system prompt; every number, file name and other literal equal)
    is served that answer; see docs/semantic-cache.md.
    """

    enabled: bool = False
    threshold: float = SEMANTIC_THRESHOLD


@dataclass(frozen=True, slots=True)
class AgentSemanticConfig:
    """One agent's own semantic cache setting (``agents.NAME.cache.semantic``).

    ``true`` reads as ``enabled``; an object's ``enabled`` defaults to true (writing
    one asks for the cache); ``threshold`` ``None`` means the top level's.
    """

    enabled: bool = True
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """The response cache (``cache`` section)."""

    enabled: bool = True
    backend: Literal["disk", "redis"] = "disk"
    ttl_hours: float = 24.0
    max_size_mb: float = 100.0
    exclude_agents: tuple[str, ...] = ()
    redis_url: str | None = None
    directory: Path | None = None
    semantic: SemanticConfig = field(default_factory=SemanticConfig)


@dataclass(frozen=True, slots=True)
class PerformanceConfig:
    """Concurrency and timeouts (``performance`` section)."""

    max_concurrent_agents: int = 10
    step_timeout_s: float = 300.0
    workflow_timeout_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """How to talk to the Messages API (``api`` section)."""

    version: str = "2023-06-01"
    auth: AuthStyle = "x-api-key"
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 600.0


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retry policy (``retry`` section)."""

    max_attempts: int = 4
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """Circuit breaker (``circuit_breaker`` section)."""

    failure_threshold: int = 5
    reset_timeout_s: float = 30.0
    half_open_max_calls: int = 1


@dataclass(frozen=True, slots=True)
class FeaturesConfig:
    """Feature switches kept from Claude Force (``features`` section)."""

    async_enabled: bool = True
    cache_enabled: bool = True
    parallel_workflows_enabled: bool = True


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Agent memory (``memory`` section): past successes injected into the user message.

    Off by default: injected context changes prompts (and so cache keys and cost).
    """

    enabled: bool = False
    max_context_items: int = 3
    max_context_chars: int = 4000


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """Spending caps (``budget`` section), in US dollars; unset means no cap.

    ``per_run_usd`` caps one run (a workflow run, a ``run-many`` or a single
    ``run``); ``per_workflow_usd`` caps one run of the named workflow instead;
    ``per_day_usd`` caps the UTC day across every process that shares the
    journal file (or, with Redis coordination, every machine).
    """

    per_run_usd: float | None = None
    per_day_usd: float | None = None
    per_workflow_usd: Mapping[str, float] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether any cap is set."""
        return bool(self.per_run_usd or self.per_day_usd or self.per_workflow_usd)

    def run_cap(self, workflow: str | None) -> float | None:
        """The cap on one run of ``workflow`` (``None``: not a workflow run)."""
        if workflow is not None and workflow in self.per_workflow_usd:
            return self.per_workflow_usd[workflow]
        return self.per_run_usd


@dataclass(frozen=True, slots=True)
class CoordinationConfig:
    """Where and how processes coordinate (``coordination`` section).

    ``redis_url`` names the Redis they share (else a Redis ``cache`` is used);
    ``requests_per_minute`` is the shared request rate's start and ceiling per
    base URL and model (``None``: learnt from the API's headers); ``lease_s``
    is how long a cross-process single-flight lock outlives its holder.
    """

    redis_url: str | None = None
    requests_per_minute: int | None = None
    lease_s: float = 10.0


@dataclass(frozen=True, slots=True)
class McpServerConfig:
    """An MCP server (``mcp_servers.NAME``): a command over stdio, or a streamable HTTP URL.

    Exactly one of ``command`` and ``url`` is set. ``env`` is added to the
    server process's environment (stdio only).
    """

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    path: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    """A validated ``claude.json``. ``root`` is the folder agent paths are relative to."""

    path: Path
    root: Path
    defaults: Defaults = field(default_factory=Defaults)
    agents: Mapping[str, AgentConfig] = field(default_factory=dict)
    workflows: Mapping[str, WorkflowConfig] = field(default_factory=dict)
    cache: CacheConfig = field(default_factory=CacheConfig)
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    mcp_servers: Mapping[str, McpServerConfig] = field(default_factory=dict)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    coordination: CoordinationConfig = field(default_factory=CoordinationConfig)
    # ``pricing``: model (alias, id or dated id) → the prices it overrides, USD per MTok
    # (``input``, ``output``, ``cache_write_5m``, ``cache_write_1h``, ``cache_read``).
    pricing: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    project: str | None = None
    # Top-level sections the engine ignores (``governance``, ``paths``…), in
    # file order, so ``cft config migrate`` writes them back untouched.
    ignored_sections: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def project_key(self) -> str:
        """What scopes metrics and agent memory: ``project``, else a hash of the config's path.

        Two checkouts of one project share nothing unless they say ``project``;
        one config file keeps its key wherever it is run from.
        """
        if self.project:
            return self.project
        return "path:" + hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:16]


publish(globals())
