"""What the memory holds and reports: remembered successes, store statistics, prompt context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["MemoryItem", "MemoryStats", "format_context"]


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """One remembered success, of one project (``None``: a row from before projects).

    ``exact`` is true when it answered the very same task; the store never
    offers a task its own answer (see :mod:`._store`), so its items say ``False``.
    """

    agent: str
    task_hash: str
    task: str
    output: str
    model: str | None
    input_tokens: int
    output_tokens: int
    created_at: float
    exact: bool = False
    project: str | None = None


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class MemoryStats:
    """A snapshot of the store: rows, agents, file size, cache counters.

    ``project`` is the project counted (``None``: every project); ``projects`` how
    many projects own rows, and ``unscoped`` the rows that belong to none (written
    before memory was kept per project; never offered to any prompt).
    """

    path: str
    items: int
    agents: int
    size_bytes: int
    oldest: float | None
    newest: float | None
    cache_hits: int
    cache_misses: int
    project: str | None = None
    projects: int = 0
    unscoped: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The ``cft memory stats --json`` document."""
        return {
            "path": self.path,
            "project": self.project,
            "projects": self.projects,
            "unscoped": self.unscoped,
            "items": self.items,
            "agents": self.agents,
            "size_bytes": self.size_bytes,
            "oldest": _iso(self.oldest),
            "newest": _iso(self.newest),
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
        }


def format_context(items: list[MemoryItem], max_chars: int = 4000) -> str:
    """The items as markdown for the user message, at most ``max_chars`` characters.

    Items come in the order given (most relevant first); the last one that fits
    is cut with an ellipsis, and later ones are dropped.

    Args:
        items: what :meth:`MemoryStore.relevant` returned.
        max_chars: the budget for the whole text.
    """
    parts: list[str] = []
    left = max_chars
    for item in items:
        when = datetime.fromtimestamp(item.created_at, UTC).strftime("%Y-%m-%d")
        label = "the same task" if item.exact else "an earlier task"
        text = (
            f"### {label} ({when})\n\nTask: {item.task.strip()}\n\nResult:\n{item.output.strip()}"
        )
        sep = 2 if parts else 0
        if len(text) + sep > left:
            if left - sep > 80:  # worth a truncated entry
                parts.append(text[: left - sep - 1] + "…")
            break
        parts.append(text)
        left -= len(text) + sep
    return "\n\n".join(parts)
