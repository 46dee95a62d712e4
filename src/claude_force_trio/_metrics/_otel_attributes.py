"""The GenAI semantic-convention attributes of the spans :class:`TraceHook` makes.

Why a module of its own: which attribute says what is a contract with every
tracing backend (documented in ``docs/observability.md``), so it lives apart
from the bookkeeping of open spans, and is plain data a test can read without
``opentelemetry`` installed.

Token counts follow the conventions' Anthropic page: ``gen_ai.usage.input_tokens``
is every input token (the API's ``input_tokens`` plus cache reads and cache
writes), and the two cache counts are given apart as well. Nothing here reads
a prompt, a reply, a tool's input or output, or a header.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from .._events import CallFinished, ToolCalled
    from .._results import StepResult, WorkflowResult
    from .._types import Usage

__all__ = [
    "DURATION_BUCKETS",
    "PROVIDER",
    "SCOPE",
    "TOKEN_BUCKETS",
    "MetricSets",
    "chat_attributes",
    "input_tokens",
    "metric_attributes",
    "scope_version",
    "step_attributes",
    "step_end_attributes",
    "tool_attributes",
    "workflow_end_attributes",
    "workflow_failure",
]

#: A call's metric attribute sets: duration, input tokens, output tokens.
MetricSets: TypeAlias = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
#: ``gen_ai.provider.name`` (it replaced ``gen_ai.system``, which is not sent).
PROVIDER = "anthropic"
#: The instrumentation scope of every span and instrument.
SCOPE = "claude_force_trio"
#: The conventions' advised bucket boundaries of ``gen_ai.client.token.usage``.
TOKEN_BUCKETS = tuple(float(4**n) for n in range(14))
#: The conventions' advised bucket boundaries of ``gen_ai.client.operation.duration``.
DURATION_BUCKETS = tuple(0.01 * 2**n for n in range(14))


def scope_version() -> str:
    """The installed package's version: the instrumentation scope's version."""
    try:
        return metadata.version("claude-force-trio")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def input_tokens(usage: Usage) -> int:
    """Every input token of ``usage``: uncached, read from the cache, and written to it."""
    return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "gen_ai.usage.input_tokens": input_tokens(usage),
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cache_read_input_tokens,
        "gen_ai.usage.cache_creation.input_tokens": usage.cache_creation_input_tokens,
    }


def chat_attributes(event: CallFinished) -> dict[str, Any]:
    """A ``chat {model}`` span's attributes: one API call, after its retries.

    Token counts are given only when the API answered (a served or failed call
    used none); ``error.type`` is the exception's class name when it failed.
    """
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.request.model": event.model,
        "cft.cache_hit": event.cached,
        "cft.attempts": event.attempts,
    }
    if event.run_id is not None:
        attributes["cft.run_id"] = event.run_id
    if event.step_id is not None:
        attributes["cft.step_id"] = event.step_id
    if event.response_id is not None:
        attributes["gen_ai.response.id"] = event.response_id
    if event.response_model is not None:
        attributes["gen_ai.response.model"] = event.response_model
    if event.stop_reason is not None:
        attributes["gen_ai.response.finish_reasons"] = (event.stop_reason,)
    if event.request_id is not None:
        attributes["cft.request_id"] = event.request_id
    if event.error_type is not None:
        attributes["error.type"] = event.error_type
    elif not event.cached:
        attributes.update(_usage(event.usage))
    return attributes


def metric_attributes(event: CallFinished) -> MetricSets:
    """The attribute sets of one API call's points (low cardinality: no ids).

    Returns:
        Those of its ``gen_ai.client.operation.duration`` point, then of its
        input and output ``gen_ai.client.token.usage`` points.
    """
    base: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.request.model": event.model,
    }
    if event.response_model is not None:
        base["gen_ai.response.model"] = event.response_model
    if event.error_type is not None:
        base["error.type"] = event.error_type
    return (
        base,
        {**base, "gen_ai.token.type": "input"},
        {**base, "gen_ai.token.type": "output"},
    )


def step_attributes(run_id: str, step_id: str, agent: str) -> dict[str, Any]:
    """A ``step {id}`` span's attributes when it starts: an agent invoked in this process."""
    return {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.agent.name": agent,
        "cft.run_id": run_id,
        "cft.step_id": step_id,
    }


def tool_attributes(event: ToolCalled) -> dict[str, Any]:
    """An ``execute_tool {name}`` span's attributes (never the tool's input or output)."""
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": event.tool,
        "gen_ai.tool.call.id": event.tool_use_id,
        "cft.turn": event.turn,
        "cft.run_id": event.run_id,
        "cft.step_id": event.step_id,
    }


def step_end_attributes(result: StepResult) -> dict[str, Any]:
    """What a ``step {id}`` span says when it ends: outcome, calls, tokens over its turns, cost.

    Per-call details (answering model, finish reason, cache counts) are on its
    ``chat`` spans; a step says only what sums them up.
    """
    attributes: dict[str, Any] = {
        "cft.status": result.status,
        "cft.attempts": result.attempts,
        "cft.cached": bool(result.cached),  # a boolean on every span; semantic hits below
        "cft.turns": result.turns,
    }
    if result.cached == "semantic" and result.similarity is not None:
        attributes["cft.cache.similarity"] = result.similarity
    if result.status not in ("skipped", "waiting_approval"):
        attributes["gen_ai.usage.input_tokens"] = input_tokens(result.usage)
        attributes["gen_ai.usage.output_tokens"] = result.usage.output_tokens
    if result.cost_usd is not None:
        attributes["cft.cost_usd"] = result.cost_usd
    return attributes


def workflow_end_attributes(result: WorkflowResult) -> dict[str, Any]:
    """What a ``workflow {name}`` span says when it ends: status, tokens and cost of every step."""
    usage = result.usage
    attributes: dict[str, Any] = {
        "cft.status": result.status,
        "cft.critical_path_s": result.critical_path_s,
        "gen_ai.usage.input_tokens": input_tokens(usage),
        "gen_ai.usage.output_tokens": usage.output_tokens,
    }
    if (cost := result.cost_usd) is not None:
        attributes["cft.cost_usd"] = cost
    if result.status in ("failed", "timed_out"):
        failed = next((s for s in result.steps if s.status in ("failed", "timed_out")), None)
        attributes["error.type"] = failed.error_type if failed and failed.error_type else "_OTHER"
    return attributes


def workflow_failure(result: WorkflowResult) -> str | None:
    """Why a failed or timed-out run stopped, naming its first failed step; else ``None``."""
    if result.status not in ("failed", "timed_out"):
        return None
    failed = next((s for s in result.steps if s.status in ("failed", "timed_out")), None)
    return f"step {failed.id}: {failed.error}" if failed is not None else result.status
