"""How one workflow run is run: the caller's options, settled against the config.

``run_workflow`` and ``resume_workflow`` take the same options; settling them
in one place means a resumed run obeys exactly the rules a fresh one does
(which deadline wins, what ``sequential`` and ``keep_going`` default to).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._run import StopSignal

if TYPE_CHECKING:
    from ._approval import ApprovalCallback
    from ._config import Config, WorkflowConfig
    from ._events import Hook

__all__ = ["RunOptions", "Settled", "check_timeout", "timeout_or"]


@dataclass(frozen=True, slots=True)
class Settled:
    """The options of one run with every default filled in.

    Attributes:
        deadline_s: the whole run's deadline (``math.inf`` for none).
        step_timeout_s: the deadline of steps that set none of their own.
        sequential: one step at a time in topological order.
        keep_going: let independent branches finish after a failure.
    """

    deadline_s: float
    step_timeout_s: float
    sequential: bool
    keep_going: bool


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a caller of ``run_workflow`` or ``resume_workflow`` asked for (``None``: default).

    ``on_approval`` decides gated steps in-process (see ``_approval``); it has no
    config default: without it a gated step with no journalled decision waits.
    """

    sequential: bool | None = None
    keep_going: bool | None = None
    timeout_s: float | None = None
    step_timeout_s: float | None = None
    stop: StopSignal | None = None
    hooks: Sequence[Hook] = ()
    on_approval: ApprovalCallback | None = None
    budget_usd: float | None = None

    def settle(self, config: Config, workflow: WorkflowConfig) -> Settled:
        """Fill in the defaults from ``config`` and ``workflow``.

        Raises:
            ValueError: a timeout is zero, negative or NaN.
        """
        performance = config.performance
        deadline = workflow.timeout_s or performance.workflow_timeout_s
        step_timeout = performance.step_timeout_s
        return Settled(
            deadline_s=timeout_or(self.timeout_s, "timeout_s", deadline),
            step_timeout_s=timeout_or(self.step_timeout_s, "step_timeout_s", step_timeout),
            sequential=(
                not config.features.parallel_workflows_enabled
                if self.sequential is None
                else self.sequential
            ),
            keep_going=workflow.on_failure == "continue"
            if self.keep_going is None
            else self.keep_going,
        )


def timeout_or(value: float | None, name: str, default: float) -> float:
    """``value`` checked as a timeout (``ValueError`` if unusable), or ``default`` for ``None``."""
    return default if value is None else check_timeout(value, name)


def check_timeout(value: float, name: str) -> float:
    """Return ``value`` if it is a usable timeout in seconds, else raise ``ValueError``.

    Zero, negative and NaN are refused (as trio refuses them) rather than read
    as "no timeout" or "the default"; ``math.inf`` means no deadline.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if math.isnan(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)
