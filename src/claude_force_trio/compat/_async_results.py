"""What ``AsyncAgentOrchestrator`` checks, sends and returns, in Claude Force's terms.

Why apart from the orchestrator: these are Claude Force's rules, kept as
data and small functions — its defaults, which agent names and task sizes it
refused, which prompt-injection markers it defanged, the retry loop it put
around a client, and the ``AsyncAgentResult`` shapes of a success and a
failure — so the orchestrator module holds only the flow of one run.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

import anyio

from .._errors import CFTError
from .._pricing import cost_usd
from .._public import publish
from .._types import Usage

__all__ = [
    "DEFAULT_CACHE_TTL_HOURS",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_CACHE_SIZE_MB",
    "MAX_TOKEN_LIMIT",
    "AsyncAgentResult",
    "check_request",
    "create_with_retries",
    "failed",
    "sanitize_task",
    "succeeded",
]

log = logging.getLogger("claude_force_trio.compat")

#: Claude Force's defaults (its ``constants``): call timeout, cache TTL and size, task size.
DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_CACHE_TTL_HOURS = 24
MAX_CACHE_SIZE_MB = 100
MAX_TOKEN_LIMIT = 100_000
DEFAULT_MODEL = "claude-3-5-sonnet-20241022"

_AGENT_NAME = re.compile(r"[A-Za-z0-9_-]+")
# Markers of prompt injection that Claude Force defanged, each replaced (any case)
# by "[SANITIZED: <marker>]", one marker after another, in this order.
_INJECTION_MARKERS = (
    "# System", "## System", "SYSTEM:", "[SYSTEM]",
    "# Assistant", "## Assistant", "ASSISTANT:", "[ASSISTANT]",
    "Ignore previous instructions", "Ignore all previous", "Disregard previous",
    "New instructions:", "From now on,",
)  # fmt: skip
_MARKERS = tuple((re.compile(re.escape(m), re.IGNORECASE), m) for m in _INJECTION_MARKERS)
_MANY_NEWLINES = re.compile(r"\n{4,}")
# The retry loop for a client that is not ours (a test double, the SDK's client);
# ours retries inside the call stack, by the API's own rules.
_FIRST_DELAY_S = 0.5
_MAX_DELAY_S = 8.0


@dataclass
class AsyncAgentResult:
    """One agent's outcome, as Claude Force's async orchestrator returned it.

    Attributes:
        agent_name: the agent that ran.
        success: whether it produced its output.
        output: the reply text (``""`` on failure).
        metadata: ``model``, ``tokens_used``, ``input_tokens``, ``output_tokens``,
            ``execution_time_ms``, ``workflow_name``, ``workflow_position``,
            ``cached``, ``estimated_cost`` (USD; ``None`` for a model without a
            known price); on failure ``execution_time_ms`` and ``error_type``.
        errors: the error messages, ``None`` on success (as Claude Force's).
    """

    agent_name: str
    success: bool
    output: str
    metadata: dict[str, Any]
    errors: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the fields."""
        return asdict(self)


def check_request(agent_name: object, task: str) -> None:
    """Refuse what Claude Force refused before doing anything.

    Raises:
        ValueError: the name is not letters, digits, ``-`` and ``_`` (no path, no
            shell or SQL syntax), or the task is over :data:`MAX_TOKEN_LIMIT` characters.
    """
    if not isinstance(agent_name, str) or not _AGENT_NAME.fullmatch(agent_name):
        raise ValueError(
            f"Invalid agent name: {agent_name}. Agent names must contain only "
            "alphanumeric characters, hyphens, and underscores."
        )
    if len(task) > MAX_TOKEN_LIMIT:
        raise ValueError(
            f"Task too large: {len(task)} chars (max {MAX_TOKEN_LIMIT:,}). Please reduce task size."
        )


def sanitize_task(task: str) -> str:
    """``task`` with injection markers replaced and runs of 4+ newlines cut to 3."""
    sanitized = task
    for pattern, marker in _MARKERS:
        sanitized = pattern.sub(f"[SANITIZED: {marker}]", sanitized)
    sanitized = _MANY_NEWLINES.sub("\n\n\n", sanitized)
    if sanitized != task:
        log.warning("compat: task sanitised (possible prompt injection)")
    return sanitized


async def create_with_retries(client: Any, request: dict[str, Any], attempts: int) -> Any:
    """``client.messages.create(**request)``, retried when the client is not ours.

    Our client's errors (:class:`CFTError`) were already retried by the API's
    rules and are raised at once; any other exception is retried up to
    ``attempts`` tries in all, after 0.5 s, 1 s, 2 s… (at most 8 s), as Claude
    Force retried its SDK client.
    """
    attempt = 1
    while True:
        try:
            return await client.messages.create(**request)
        except CFTError:
            raise
        except Exception as exc:
            if attempt >= max(1, attempts):
                raise
            delay = min(_FIRST_DELAY_S * 2 ** (attempt - 1), _MAX_DELAY_S)
            log.info("compat: attempt %d failed (%s); retrying in %gs", attempt, exc, delay)
            await anyio.sleep(delay)
            attempt += 1


def succeeded(
    agent_name: str,
    model: str,
    output: str,
    tokens: tuple[int, int],
    elapsed_ms: float,
    where: dict[str, Any],
    *,
    cached: bool,
) -> AsyncAgentResult:
    """A success, with Claude Force's metadata; ``estimated_cost`` from the dated price table."""
    input_tokens, output_tokens = tokens
    return AsyncAgentResult(
        agent_name=agent_name,
        success=True,
        output=output,
        metadata={
            "model": model,
            "tokens_used": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "execution_time_ms": elapsed_ms,
            **where,
            "cached": cached,
            "estimated_cost": cost_usd(Usage(input_tokens, output_tokens), model),
        },
    )


def failed(agent_name: str, error: BaseException, elapsed_ms: float) -> AsyncAgentResult:
    """A failure as Claude Force returned it: no output, the message in ``errors``."""
    return AsyncAgentResult(
        agent_name=agent_name,
        success=False,
        output="",
        metadata={"execution_time_ms": elapsed_ms, "error_type": type(error).__name__},
        errors=[str(error)],
    )


publish(globals())
