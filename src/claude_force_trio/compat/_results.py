"""``AgentResult``: Claude Force's result of one agent, built from the engine's results.

Why Claude Force's field order and defaults exactly: its users construct results
themselves (``AgentResult(True, "out")`` in their tests and custom
orchestrators), iterate ``errors`` without a ``None`` check, and serialise
with ``to_dict()``. The engine's facts (step id, status, cost, attempts, cache
hit…) ride along in ``metadata``, where Claude Force kept its own extras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._public import publish
from .._results import StepResult, WorkflowResult

__all__ = ["AgentResult", "failed_result", "workflow_results"]


@dataclass
class AgentResult:
    """One agent's outcome, as Claude Force 1.3 returned it.

    Attributes:
        success: whether the agent produced its output.
        output: the reply text (``""`` on failure).
        errors: error messages; empty on success.
        metadata: ``model``, ``tokens_used``, ``input_tokens``,
            ``output_tokens``, ``execution_time_ms`` as Claude Force's, plus this
            engine's ``step_id``, ``status``, ``cost_usd``, ``cached``,
            ``attempts``, cache-token counts, ``error_type``, ``error_status``
            and ``request_id``.
        agent_name: the agent that ran.
    """

    success: bool
    output: str
    errors: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    agent_name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with Claude Force's keys, in its order."""
        return {
            "success": self.success,
            "output": self.output,
            "errors": list(self.errors),
            "metadata": dict(self.metadata),
            "agent_name": self.agent_name,
        }

    @classmethod
    def from_step(cls, step: StepResult) -> AgentResult:
        """Convert an engine :class:`~claude_force_trio.StepResult`."""
        usage = step.usage
        metadata: dict[str, Any] = {
            "model": step.model,
            "tokens_used": usage.input_tokens + usage.output_tokens,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "execution_time_ms": step.elapsed_s * 1000,
            "step_id": step.id,
            "status": step.status,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cost_usd": step.cost_usd,
            "cached": bool(step.cached),  # a bool, as Claude Force users test it
            "attempts": step.attempts,
        }
        if step.similarity is not None:  # served by the semantic cache (docs/semantic-cache.md)
            metadata["similarity"] = step.similarity
        if not step.ok:
            metadata.update(
                error_type=step.error_type,
                error_status=step.error_status,
                request_id=step.request_id,
            )
        return cls(
            success=step.ok,
            output=step.output or "",
            errors=[] if step.ok else [step.error or step.status],
            metadata=metadata,
            agent_name=step.agent,
        )


def failed_result(agent_name: str, error: BaseException, elapsed_s: float) -> AgentResult:
    """A run that never reached the engine (unknown agent, unreadable file, bad task).

    Claude Force returned these as results, not exceptions, and counted them
    in success rates; ``metadata`` holds the time spent and the error's type.
    """
    return AgentResult(
        success=False,
        output="",
        errors=[str(error)],
        metadata={"execution_time_ms": elapsed_s * 1000, "error_type": type(error).__name__},
        agent_name=agent_name,
    )


def workflow_results(result: WorkflowResult) -> list[AgentResult]:
    """The results of the steps that ran, in the order they started."""
    by_id = {step.id: step for step in result.steps}
    return [AgentResult.from_step(by_id[step_id]) for step_id in result.execution_order]


publish(globals())
