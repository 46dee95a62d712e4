"""Agent recommendation without a model download: a deterministic lexical matcher.

Why not embeddings: Claude Force's ``recommend_agents`` loads a
sentence-transformers model (hundreds of MB, downloaded on first use). Here the
same API is served by word overlap, which needs nothing and gives the same
answer on every machine.

What it does, exactly:

1. Words are lower-cased runs of letters and digits; a short list of English
   stop words is dropped, and a plural, ``-ing``, ``-ed`` or ``-er`` ending is
   cut (``vulnerabilities`` → ``vulnerability``, ``reviewer`` → ``review``).
2. An agent's *strong* words are those of its name and its ``domains``
   (``code-quality`` gives ``code`` and ``quality``); its *weak* words are
   those of its definition file (and ``description``).
3. Each distinct word of the task scores 1 if it is a strong word of the
   agent, ½ if it is only a weak one, 0 otherwise; the agent's confidence is
   the mean over the task's distinct words, in [0, 1].
4. Agents at or above ``min_confidence`` are ranked by confidence, then by
   priority (1 first), then by name; the first ``top_k`` are returned.

It finds agents whose vocabulary the task uses; it does not know synonyms
(``Kubernetes`` matches ``infrastructure`` only if the definition says
Kubernetes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Match", "explain", "rank_agents", "words"]

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    _WORD.findall(
        "a an and are as at be by can do for from how i in into is it its make me my of on or "
        "our please should so that the their this to up us use using we what when which will "
        "with you your"
    )
)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for ending in ("ing", "ers", "er", "ed", "s"):
        if len(word) > len(ending) + 3 and word.endswith(ending) and not word.endswith("ss"):
            return word[: -len(ending)]
    return word


def words(text: str) -> set[str]:
    """The distinct content words of ``text``, stemmed (see the module docstring)."""
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP}


@dataclass(frozen=True, slots=True)
class Match:
    """One agent's score for a task."""

    agent: str
    confidence: float
    domains: list[str]
    priority: int
    strong_hits: tuple[str, ...]
    weak_hits: tuple[str, ...]

    @property
    def reasoning(self) -> str:
        """Claude Force's phrasing: level, then the matched domain words, then the evidence."""
        level = "High" if self.confidence > 0.7 else "Medium" if self.confidence > 0.5 else "Low"
        parts = [f"{level} confidence match"]
        if self.strong_hits:
            parts.append(f"domains: {', '.join(self.strong_hits)}")
        if self.weak_hits:
            parts.append(f"definition mentions: {', '.join(self.weak_hits)}")
        parts.append("lexical match (no embedding model)")
        return " - ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The dict ``recommend_agents`` returns for this match."""
        return {
            "agent": self.agent,
            "confidence": round(self.confidence, 3),
            "reasoning": self.reasoning,
            "domains": self.domains,
            "priority": self.priority,
        }


def _score(task_words: set[str], name: str, entry: dict[str, Any], text: str) -> Match:
    domains = [str(d) for d in entry.get("domains", []) if isinstance(d, str)]
    strong = words(" ".join([name, *domains]).replace("-", " "))
    weak = words(text) - strong
    strong_hits = tuple(sorted(task_words & strong))
    weak_hits = tuple(sorted(task_words & weak))
    score = (len(strong_hits) + 0.5 * len(weak_hits)) / len(task_words) if task_words else 0.0
    priority = entry.get("priority", 3)
    return Match(
        name,
        score,
        domains,
        priority if isinstance(priority, int) else 3,
        strong_hits,
        weak_hits,
    )


def rank_agents(
    task: str,
    agents: dict[str, Any],
    definition: Callable[[str], str],
    *,
    min_confidence: float = 0.0,
) -> list[Match]:
    """Every agent scored for ``task``, best first, those below ``min_confidence`` left out.

    Args:
        task: the task description.
        agents: the raw ``agents`` section of ``claude.json``.
        definition: an agent's definition text (``""`` when it cannot be read).
        min_confidence: the lowest confidence kept.
    """
    task_words = words(task)
    matches = []
    for name, entry in agents.items():
        settings = entry if isinstance(entry, dict) else {}
        text = f"{definition(name)} {settings.get('description') or ''}"
        matches.append(_score(task_words, name, settings, text))
    kept = [m for m in matches if m.confidence >= min_confidence]
    return sorted(kept, key=lambda m: (-m.confidence, m.priority, m.agent))


def explain(agent: str, matches: Iterable[Match]) -> dict[str, Any]:
    """Claude Force's ``explain_selection`` document for ``agent`` among ranked ``matches``."""
    ranked = list(matches)
    rank = next((i for i, m in enumerate(ranked, 1) if m.agent == agent), None)
    if rank is None:
        return {
            "agent": agent,
            "selected": False,
            "reason": "Agent not found or confidence too low",
        }
    match = ranked[rank - 1]
    return {
        "agent": agent,
        "selected": rank <= 3,
        "rank": rank,
        "confidence": round(match.confidence, 3),
        "reasoning": match.reasoning,
        "domains": match.domains,
        "all_candidates": [
            {"agent": m.agent, "confidence": round(m.confidence, 3)} for m in ranked[:5]
        ],
    }
