"""claude-force-trio: run teams of Claude agents as DAG workflows, on anyio (trio or asyncio).

Fast (every step starts the moment its own dependencies finish), cheap (prompt
caching, correct cost accounting) and safe (cancel-scope timeouts, clear
errors, the key never written anywhere). The public surface is re-exported
here, from the one table in ``_public``; everything in ``_modules`` is private.

A trio program::

    import trio
    import claude_force_trio as cft

    async def main() -> None:
        config = cft.load_config(".claude/claude.json")
        async with cft.open_engine(config, backend="simulator") as engine:
            result = await engine.run_workflow("code-quality-check")
        print(result.status, result.elapsed_s)

    trio.run(main)          # or asyncio.run(main())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._public import PUBLIC

if TYPE_CHECKING:
    __version__: str
    from ._api._breaker import BreakerStats as BreakerStats
    from ._api._ratelimit import LimiterStats as LimiterStats
    from ._api._retry import RetryDetails as RetryDetails
    from ._api._retry import RetryPolicy as RetryPolicy
    from ._api._retry import is_testing as is_testing
    from ._api._retry import set_testing as set_testing
    from ._approval import ApprovalRequest as ApprovalRequest
    from ._backend import Backend as Backend
    from ._backend import resolve_backend as resolve_backend
    from ._config._load import find_config as find_config
    from ._config._load import load_config as load_config
    from ._config._model import AgentConfig as AgentConfig
    from ._config._model import Config as Config
    from ._config._model import StepConfig as StepConfig
    from ._config._model import WorkflowConfig as WorkflowConfig
    from ._engine import Engine as Engine
    from ._engine import open_engine as open_engine
    from ._errors import APIConnectionError as APIConnectionError
    from ._errors import APIError as APIError
    from ._errors import APIResponseError as APIResponseError
    from ._errors import APIStatusError as APIStatusError
    from ._errors import APITimeoutError as APITimeoutError
    from ._errors import AuthenticationError as AuthenticationError
    from ._errors import BadRequestError as BadRequestError
    from ._errors import BudgetError as BudgetError
    from ._errors import BudgetExceededError as BudgetExceededError
    from ._errors import CFTError as CFTError
    from ._errors import CircuitOpenError as CircuitOpenError
    from ._errors import ConfigError as ConfigError
    from ._errors import ConfigNotFoundError as ConfigNotFoundError
    from ._errors import InternalServerError as InternalServerError
    from ._errors import LocalResourceError as LocalResourceError
    from ._errors import LocalTimeoutError as LocalTimeoutError
    from ._errors import MissingAPIKeyError as MissingAPIKeyError
    from ._errors import NotFoundError as NotFoundError
    from ._errors import OverloadedError as OverloadedError
    from ._errors import PermissionDeniedError as PermissionDeniedError
    from ._errors import RateLimitError as RateLimitError
    from ._errors import RequestTooLargeError as RequestTooLargeError
    from ._errors import StepError as StepError
    from ._errors import StepTimeoutError as StepTimeoutError
    from ._errors import StreamError as StreamError
    from ._errors import TrackingDisabledError as TrackingDisabledError
    from ._errors import UnknownAgentError as UnknownAgentError
    from ._errors import UnknownWorkflowError as UnknownWorkflowError
    from ._events import BreakerStateChanged as BreakerStateChanged
    from ._events import CallFinished as CallFinished
    from ._events import ConcurrencyChanged as ConcurrencyChanged
    from ._events import Event as Event
    from ._events import Hook as Hook
    from ._events import StepCancelled as StepCancelled
    from ._events import StepFailed as StepFailed
    from ._events import StepQueued as StepQueued
    from ._events import StepRetrying as StepRetrying
    from ._events import StepSkipped as StepSkipped
    from ._events import StepStarted as StepStarted
    from ._events import StepSucceeded as StepSucceeded
    from ._events import StepTimedOut as StepTimedOut
    from ._events import StepWaitingApproval as StepWaitingApproval
    from ._events import ToolCalled as ToolCalled
    from ._events import ToolFinished as ToolFinished
    from ._events import WorkflowFinished as WorkflowFinished
    from ._events import WorkflowStarted as WorkflowStarted
    from ._journal._records import Decision as Decision
    from ._pricing import cost_usd as cost_usd
    from ._pricing import resolve_model as resolve_model
    from ._results import StepResult as StepResult
    from ._results import ToolCall as ToolCall
    from ._results import WorkflowResult as WorkflowResult
    from ._tools._base import Tool as Tool
    from ._tools._base import ToolBox as ToolBox
    from ._tools._base import ToolError as ToolError
    from ._tools._base import ToolOutput as ToolOutput
    from ._tools._base import ToolSpec as ToolSpec
    from ._tools._library import library_tool as library_tool
    from ._tools._library import tool as tool
    from ._tools._registry import Toolset as Toolset
    from ._tools._workspace import workspace_tools as workspace_tools
    from ._types import MessageResult as MessageResult
    from ._types import Usage as Usage
    from .compat._async_results import AsyncAgentResult as AsyncAgentResult
    from .compat._results import AgentResult as AgentResult
    from .compat._tracking import MetricsTracker as MetricsTracker
    from .compat.async_orchestrator import AsyncAgentOrchestrator as AsyncAgentOrchestrator
    from .compat.hybrid_orchestrator import HybridOrchestrator as HybridOrchestrator
    from .compat.orchestrator import AgentOrchestrator as AgentOrchestrator

# Public names are imported on first use, so that ``cft --help`` and a plain
# ``import claude_force_trio`` do not pay for anyio, httpx and the engine up front.
__all__ = sorted(PUBLIC)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("claude-force-trio")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    try:
        module = PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *PUBLIC})
