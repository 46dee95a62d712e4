"""Names that are not found: the "did you mean" hint and the "not found" line, said once.

Why a module of its own: every "unknown …" message (config keys, agents,
steps, CLI names) ends with the same hint, and the exception tree (``_errors``)
and the config checks both need it; neither should own the other's words.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean", "not_found_message"]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'lint'?)`` for the closest of ``candidates``, else ``""``.

    Every "unknown …" message (config keys, agents, steps, CLI names) ends with
    it, so a typo costs one glance.
    """
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def not_found_message(kind: str, name: object, known: Iterable[str]) -> str:
    """One line for a missing agent or workflow, in Claude Force's words.

    ``unknown agent 'lintr' (not found). Did you mean? linter`` when names are
    close (up to three), else ``… Available agents: a, b`` (the first ten).
    Code and people that read Claude Force's messages find the same phrases.
    """
    names = sorted(known)
    head = f"unknown {kind} {name!r} (not found)."
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6) if isinstance(name, str) else []
    if close:
        return f"{head} Did you mean? {', '.join(close)}"
    listed = ", ".join(names[:10]) or "none configured"
    more = f"… ({len(names)} in all)" if len(names) > 10 else ""
    return f"{head} Available {kind}s: {listed}{more}"
