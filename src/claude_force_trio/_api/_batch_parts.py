"""What the batch layer moves around: entries, open batches, submissions, records, limits.

Kept apart from ``_batch_layer`` so that the layer's module holds only the life
of a call and of a batch; :func:`gather` is the collection window itself (the
first entry, and what joins it before the window closes or a limit is hit).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

import anyio

from .._call import Call
from .._errors import BadRequestError, CFTError
from .._types import MessageResult

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream

__all__ = [
    "ENVELOPE_BYTES",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
    "POLL_INITIAL_S",
    "POLL_MAX_S",
    "WINDOW_S",
    "BatchRecords",
    "BatchStatistics",
    "BatchSubmission",
    "Entry",
    "OpenBatch",
    "call_digest",
    "gather",
    "refused",
]

#: How long the first call of a batch waits for others to join it.
WINDOW_S: Final = 0.2
#: The API's limits per batch: entries, and bytes of the create body.
MAX_BATCH_REQUESTS: Final = 100_000
MAX_BATCH_BYTES: Final = 256 * 1024 * 1024
#: The poller's first wait after a create, and the longest it grows to (doubling).
POLL_INITIAL_S: Final = 1.0
POLL_MAX_S: Final = 60.0
_ENTRY_INDEX: Final = re.compile(r"^requests\.(\d+)\.")
ENVELOPE_BYTES: Final = 64


@dataclass(frozen=True, slots=True)
class BatchSubmission:
    """One call's entry in a created batch: what the engine journals for a resume.

    Attributes:
        batch_id: the batch (``msgbatch_…``).
        custom_id: the entry's id in it.
        run_id: the run that made the call (``Call.run_id``).
        step_id: the step that made it.
        agent: the agent asking.
    """

    batch_id: str
    custom_id: str
    run_id: str | None
    step_id: str | None
    agent: str | None


class BatchRecords(Protocol):
    """Where submissions are kept for a resume (the engine's journal: ``_batch_journal``)."""

    async def recorded(self, run_id: str) -> Mapping[str, str]:
        """``custom_id → batch_id`` a run made earlier (asked once, on its first call)."""
        ...

    async def record(self, submissions: Sequence[BatchSubmission]) -> None:
        """Keep ``submissions`` (durable when this returns); an error fails those calls."""
        ...


@dataclass(frozen=True, slots=True)
class BatchStatistics:
    """A snapshot of what the layer has done.

    Attributes:
        batches_created: creates the API accepted.
        entries_submitted: entries in them (a resubmitted entry counts again).
        entries_resubmitted: entries sent again after an errored, expired or canceled outcome.
        entries_adopted: calls answered from a batch a resumed run had already created.
        open_batches: batches being polled now.
    """

    batches_created: int
    entries_submitted: int
    entries_resubmitted: int
    entries_adopted: int
    open_batches: int


@dataclass(slots=True, eq=False)
class Entry:
    """One attempt of one call: waiting to be batched, then in a batch, then answered."""

    call: Call
    custom_id: str
    line: bytes
    queued_at: float
    done: anyio.Event = field(default_factory=anyio.Event)
    outcome: MessageResult | CFTError | None = None
    abandoned: bool = False

    def settle(self, outcome: MessageResult | CFTError) -> None:
        if not self.done.is_set():
            self.outcome = outcome
            self.done.set()


@dataclass(slots=True, eq=False)
class OpenBatch:
    """A batch being polled, with the entries still waiting for it."""

    id: str
    entries: dict[str, Entry]

    def fail_rest(self, error: CFTError | None) -> None:
        """Answer every entry still waiting: ``error``, or unfinished (no result for it)."""
        from ._batches import BatchEntryUnfinished

        for custom_id, entry in self.entries.items():
            entry.settle(error or BatchEntryUnfinished("missing", self.id, custom_id))
        self.entries.clear()


async def gather(
    incoming: MemoryObjectReceiveStream[Entry],
    first: Entry,
    *,
    window_s: float,
    max_requests: int,
    max_bytes: int,
) -> tuple[list[Entry], Entry | None]:
    """One batch's entries: ``first`` and what arrives within ``window_s``, within the limits.

    Returns:
        The entries (abandoned ones left out), and the first that did not fit, if any.
    """
    picked, size = [first], ENVELOPE_BYTES + len(first.line)
    carry: Entry | None = None

    def take(entry: Entry) -> bool:
        nonlocal size, carry
        if entry.abandoned:
            return True
        if size + len(entry.line) + 1 > max_bytes:
            carry = entry
            return False
        picked.append(entry)
        size += len(entry.line) + 1
        return True

    with anyio.move_on_after(window_s):
        while len(picked) < max_requests and take(await incoming.receive()):
            pass
    while carry is None and len(picked) < max_requests:
        try:  # whatever arrived as the window closed
            entry = incoming.receive_nowait()
        except anyio.WouldBlock:
            break
        take(entry)
    return picked, carry


def refused(entries: list[Entry], error: CFTError) -> list[Entry]:
    """A create failed with ``error``: settle whom it fails; return the entries to send again.

    A 400 naming ``requests.N.…`` fails entry N alone, with the field path as the
    live path would name it; the others go again. Any other error fails them all.
    """
    named = _ENTRY_INDEX.match(error.message) if isinstance(error, BadRequestError) else None
    index = int(named.group(1)) if named is not None else len(entries)
    if not isinstance(error, BadRequestError) or index >= len(entries):
        for entry in entries:
            entry.settle(error)
        return []
    entries[index].settle(
        BadRequestError(
            400,
            error.error_type,
            error.message.removeprefix(f"requests.{index}."),
            request_id=error.request_id,
            headers=error.headers,
        )
    )
    return entries[:index] + entries[index + 1 :]


def call_digest(call: Call, params: bytes) -> str:
    """40 hex digits of SHA-256 over the call's run, step and encoded body: stable across runs."""
    digest = hashlib.sha256()
    for part in (call.run_id or "", call.step_id or ""):
        digest.update(part.encode() + b"\0")
    digest.update(params)
    return digest.hexdigest()[:40]
