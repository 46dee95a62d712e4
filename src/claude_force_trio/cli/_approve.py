"""Approving and rejecting a gated step from the CLI, and telling people how to.

A step with ``"approval": true`` pauses its run (``waiting_approval``, exit 3);
``cft runs approve`` / ``reject`` journal the decision, and ``cft workflow
resume`` then runs the step through its gate again, which finds it. Kept apart
from ``runs`` (the history) because deciding is the one command there that
writes, and from ``_workflow_run`` so ``runs show`` and ``workflow run`` give
the same instructions. It takes runs already found and their short ids, so it
imports nothing of ``runs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError

if TYPE_CHECKING:
    from .._journal import Decision, RunRecord

__all__ = ["check_decidable", "decide", "waiting_lines", "waiting_steps"]

#: How a step that is not waiting is described: "… (it succeeded)".
_WHAT_IT_DID = {
    "succeeded": "it succeeded",
    "failed": "it failed",
    "timed_out": "it timed out",
    "cancelled": "it was cancelled",
    "skipped": "it was skipped",
}


def _step_of(record: RunRecord, step_id: str) -> Mapping[str, Any] | None:
    """The step's journalled state, else its entry in the run's document."""
    journalled = record.steps.get(step_id)
    if journalled is not None:
        return journalled
    for step in (record.document or {}).get("steps") or ():
        if isinstance(step, Mapping) and step.get("id") == step_id:
            return step
    return None


def _decidable(step: Mapping[str, Any]) -> bool:
    """Waiting for a decision, or rejected (a rejection may be taken back before it is final)."""
    status = step.get("status")
    return status == "waiting_approval" or (
        status == "failed" and step.get("error_type") == "approval_rejected"
    )


def check_decidable(record: RunRecord, step_id: str, command: str, short: str) -> None:
    """Refuse a decision on anything but a gated step of a workflow run that waits for one.

    Args:
        record: the run.
        step_id: the step to decide.
        command: what the error line starts with (``runs.approve``).
        short: the run's id as the CLI shows it.

    Raises:
        ConfigError: ``command: …``: a run-many batch, no such step, or a step
            that is not waiting for approval (saying what it did instead).
    """
    if record.kind != "workflow":
        raise ConfigError(command, f"run {short} is a run-many batch: only workflow steps wait")
    step = _step_of(record, step_id)
    if step is None:
        known = sorted(record.steps) or [
            str(s.get("id")) for s in (record.document or {}).get("steps") or ()
        ]
        listed = f" (its steps: {', '.join(known)})" if known else ""
        raise ConfigError(command, f"run {short} has no step {step_id!r}{listed}")
    if not _decidable(step):
        status = str(step.get("status"))
        what = _WHAT_IT_DID.get(status, f"it is {status.replace('_', ' ')}")
        raise ConfigError(
            command, f"step {step_id!r} of run {short} is not waiting for approval ({what})"
        )


async def _write(run_id: str, step_id: str, approved: bool, note: str | None) -> Decision:
    from .._journal import open_journal

    async with open_journal() as journal:
        return await journal.decide(run_id, step_id, approved=approved, note=note)


def decide(
    record: RunRecord, short: str, step_id: str, *, approved: bool, note: str | None, as_json: bool
) -> None:
    """Journal the decision on ``step_id`` of ``record``, and say so.

    Prints one line naming the decision and ``cft workflow resume``, or with
    ``as_json`` the decision document.

    Args:
        record: the run (``runs.find_run``).
        short: its id as the CLI shows it.
        step_id: the step decided.
        approved: approve (``True``) or reject.
        note: why, if given (blank counts as none).
        as_json: print the decision document instead of the line.

    Raises:
        ConfigError: what :func:`check_decidable` refuses.
    """
    from . import _console
    from ._app import run_trio

    check_decidable(record, step_id, "runs.approve" if approved else "runs.reject", short)
    cleaned = note.strip() if note is not None else None
    decision = run_trio(_write, record.run_id, step_id, approved, cleaned or None)
    if as_json:
        _console.print_json(decision.to_dict())
        return
    verb = "approved" if approved else "rejected"
    why = f" ({decision.note})" if decision.note else ""
    _console.success(
        f"{verb} step {step_id!r} of run {short}{why}; go on with: cft workflow resume {short}"
    )


def waiting_steps(steps: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ids of the steps that wait for approval, in the order given."""
    return [str(s.get("id")) for s in steps if s.get("status") == "waiting_approval"]


def waiting_lines(short: str | None, waiting: Iterable[str]) -> list[str]:
    """What to tell someone whose run waits: which steps, and the two commands that go on.

    Args:
        short: the run's id as the CLI shows it, or ``None`` when it was not
            journalled (and so cannot go on).
        waiting: the ids of the waiting steps.
    """
    steps = list(waiting)
    names = ", ".join(repr(step) for step in steps)
    lines = [f"waiting for approval: step{'s' if len(steps) > 1 else ''} {names}"]
    if short is None:
        lines.append(
            "this run was not journalled (--no-journal): it cannot be approved and resumed"
        )
        return lines
    for step in steps:
        lines.append(
            f"approve with: cft runs approve {short} {step} [--note TEXT]"
            f" (or reject: cft runs reject {short} {step})"
        )
    lines.append(f"then go on with: cft workflow resume {short}")
    return lines
