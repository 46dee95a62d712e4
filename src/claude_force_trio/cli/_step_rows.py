"""The progress table's rows: one per step, indexed so a big run stays cheap to draw.

Why an index and not a list: a 10,000-step run sends ~40,000 events and the
table is drawn ten times a second, but a terminal shows forty lines. So each
event costs O(1) (a status count and a set membership change, never a scan of
all rows), and a frame costs O(lines shown): the running steps (oldest first:
the ones worth watching), then the failed ones, then the most recently
finished, and one count per status for every step that did not fit.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._results import StepResult

__all__ = ["STATUS_ORDER", "Row", "StepRows"]

#: Statuses in the order a summary of hidden rows lists them.
STATUS_ORDER = (
    "running",
    "failed",
    "timed_out",
    "waiting_approval",
    "queued",
    "waiting",
    "succeeded",
    "cached",
    "cancelled",
    "skipped",
)
#: Shown right after the running rows: what went wrong, and what waits for a person.
_ATTENTION = frozenset({"failed", "timed_out", "waiting_approval"})
_ACTIVE = frozenset({"waiting", "queued", "running"})
#: Not (or no longer) a "recently finished" row: still to come, running, or failed.
_NOT_RECENT = _ACTIVE | _ATTENTION
#: How many finished rows are remembered for display: more than any screen has lines.
_RECENT = 512


@dataclass(slots=True, eq=False)
class Row:
    """One step as the table shows it. Change ``status`` through :meth:`StepRows.set_status`.

    ``turn`` is the call of the step's loop under way (0 before any tool
    round), ``tool`` the latest tool still running and ``tools`` how many are.
    """

    step_id: str
    agent: str = ""
    status: str = "waiting"
    model: str | None = None
    started: float | None = None
    attempts: int = 0
    result: StepResult | None = None
    turn: int = 0
    tool: str | None = None
    tools: int = 0

    def activity(self) -> str | None:
        """What a running step is doing, once it is past its first call: ``turn 2 · read_file``."""
        if self.tool is not None:
            more = f" +{self.tools - 1}" if self.tools > 1 else ""
            return f"turn {self.turn} · {self.tool}{more}"
        return f"turn {self.turn}" if self.turn > 1 else None


class StepRows(Mapping[str, Row]):
    """Every step's :class:`Row` by id (in config order), with counts and groups kept current.

    Args:
        step_ids: the run's steps, in the order a table that fits shows them.
    """

    def __init__(self, step_ids: Iterable[str] = ()) -> None:
        self._rows = {sid: Row(sid) for sid in step_ids}
        self.counts: Counter[str] = Counter({"waiting": len(self._rows)})
        self._running: dict[str, Row] = {}
        self._failed: dict[str, Row] = {}
        self._recent: deque[Row] = deque(maxlen=_RECENT)

    def __getitem__(self, step_id: str) -> Row:
        return self._rows[step_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def row(self, step_id: str) -> Row:
        """The row for ``step_id``, added (waiting) if the run did not announce it."""
        row = self._rows.get(step_id)
        if row is None:
            row = self._rows[step_id] = Row(step_id)
            self.counts["waiting"] += 1
        return row

    def set_status(self, row: Row, status: str) -> None:
        """Move ``row`` to ``status``, keeping the counts and groups right (O(1))."""
        old = row.status
        if old == status:
            return
        self.counts[old] -= 1
        self.counts[status] += 1
        row.status = status
        self._running.pop(row.step_id, None)
        self._failed.pop(row.step_id, None)
        if status == "running":
            self._running[row.step_id] = row
        elif status in _ATTENTION:
            self._failed[row.step_id] = row
        elif status not in _ACTIVE:
            self._recent.append(row)

    def visible(self, room: int) -> tuple[list[Row], dict[str, int]]:
        """What fits in ``room`` lines: the rows to show, and counts of the rest by status.

        When every row fits they all show, in config order, and nothing is
        hidden. Otherwise one line goes to the summary, and the rest to running
        rows, then failed ones, then the most recently finished; the hidden
        counts are exact, and listed in :data:`STATUS_ORDER`.
        """
        room = max(room, 1)
        if len(self._rows) <= room:
            return list(self._rows.values()), {}
        shown: list[Row] = []
        budget = room - 1
        shown += islice(self._running.values(), budget)
        shown += islice(self._failed.values(), budget - len(shown))
        seen = set(shown)  # rows compare (and hash) by identity
        for row in reversed(self._recent):
            if len(shown) >= budget:
                break
            # A row finishes once; skip a re-recorded one, or one that moved on.
            if row not in seen and row.status not in _NOT_RECENT:
                seen.add(row)
                shown.append(row)
        hidden = self.counts.copy()
        hidden.subtract(row.status for row in shown)
        ordered = {s: hidden[s] for s in STATUS_ORDER if hidden[s] > 0}
        ordered |= {s: n for s, n in hidden.items() if n > 0 and s not in ordered}
        return shown, ordered
