"""The public surface: every name ``claude_force_trio`` exports, and the module that defines it.

Why one table: ``__init__`` reads it for its lazy imports and ``__all__``;
each defining module calls :func:`publish` on itself, so its public classes
and functions say ``claude_force_trio.X`` in tracebacks and reprs (as trio
and httpx do); and a test holds the type-checking imports of ``__init__`` and
the API reference (``docs/api.md``) to it, so none of them can drift.

This module imports nothing, so any module may use it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PUBLIC", "publish"]

PACKAGE = "claude_force_trio"

#: Public name → the private module that defines it (relative to the package).
PUBLIC: dict[str, str] = {
    # configuration
    "AgentConfig": "._config._model",
    "Config": "._config._model",
    "StepConfig": "._config._model",
    "WorkflowConfig": "._config._model",
    "find_config": "._config._load",
    "load_config": "._config._load",
    # the engine
    "Backend": "._backend",
    "resolve_backend": "._backend",
    "Engine": "._engine",
    "open_engine": "._engine",
    "ApprovalRequest": "._approval",
    "Decision": "._journal._records",
    # results and values
    "MessageResult": "._types",
    "Usage": "._types",
    "StepResult": "._results",
    "ToolCall": "._results",
    "WorkflowResult": "._results",
    "cost_usd": "._pricing",
    "resolve_model": "._pricing",
    # resilience
    "BreakerStats": "._api._breaker",
    "LimiterStats": "._api._ratelimit",
    "RetryDetails": "._api._retry",
    "RetryPolicy": "._api._retry",
    "is_testing": "._api._retry",
    "set_testing": "._api._retry",
    # events
    "BreakerStateChanged": "._events",
    "CallFinished": "._events",
    "ConcurrencyChanged": "._events",
    "Event": "._events",
    "Hook": "._events",
    "StepCancelled": "._events",
    "StepFailed": "._events",
    "StepQueued": "._events",
    "StepRetrying": "._events",
    "StepSkipped": "._events",
    "StepStarted": "._events",
    "StepSucceeded": "._events",
    "StepTimedOut": "._events",
    "StepWaitingApproval": "._events",
    "ToolCalled": "._events",
    "ToolFinished": "._events",
    "WorkflowFinished": "._events",
    "WorkflowStarted": "._events",
    # tools
    "Tool": "._tools._base",
    "ToolBox": "._tools._base",
    "ToolError": "._tools._base",
    "ToolOutput": "._tools._base",
    "ToolSpec": "._tools._base",
    "Toolset": "._tools._registry",
    "library_tool": "._tools._library",
    "tool": "._tools._library",
    "workspace_tools": "._tools._workspace",
    # errors
    "APIConnectionError": "._errors",
    "APIError": "._errors",
    "APIResponseError": "._errors",
    "APIStatusError": "._errors",
    "BudgetError": "._errors",
    "BudgetExceededError": "._errors",
    "APITimeoutError": "._errors",
    "AuthenticationError": "._errors",
    "BadRequestError": "._errors",
    "CFTError": "._errors",
    "CircuitOpenError": "._errors",
    "ConfigError": "._errors",
    "ConfigNotFoundError": "._errors",
    "InternalServerError": "._errors",
    "LocalResourceError": "._errors",
    "LocalTimeoutError": "._errors",
    "MissingAPIKeyError": "._errors",
    "NotFoundError": "._errors",
    "OverloadedError": "._errors",
    "PermissionDeniedError": "._errors",
    "RateLimitError": "._errors",
    "RequestTooLargeError": "._errors",
    "StepError": "._errors",
    "StepTimeoutError": "._errors",
    "StreamError": "._errors",
    "TrackingDisabledError": "._errors",
    "UnknownAgentError": "._errors",
    "UnknownWorkflowError": "._errors",
    # Claude Force compatibility
    "AgentOrchestrator": ".compat.orchestrator",
    "AgentResult": ".compat._results",
    "AsyncAgentOrchestrator": ".compat.async_orchestrator",
    "AsyncAgentResult": ".compat._async_results",
    "HybridOrchestrator": ".compat.hybrid_orchestrator",
    "MetricsTracker": ".compat._tracking",
}


def publish(namespace: dict[str, Any]) -> None:
    """Show the public classes and functions defined in ``namespace`` as ``claude_force_trio.X``.

    Call it at the end of a defining module: ``publish(globals())``. Type
    aliases and other values that cannot carry ``__module__`` are left alone.
    """
    module = namespace["__name__"]
    for name, where in PUBLIC.items():
        if PACKAGE + where == module and name in namespace:
            obj = namespace[name]
            if isinstance(obj, type) or callable(obj):
                obj.__module__ = PACKAGE
