"""When a connection's own timeouts need a cancel scope, and where their deadlines fall.

Why it matters: at a thousand calls in flight, every cancel scope entered is a
handful of objects that live as long as the call waits, for the garbage
collector to walk again and again, and one more deadline for the event loop to
keep. A scope for httpx's read or write timeout is worth entering only when it
could be the one to fire: a step's own deadline (``step_timeout_s``, 300 s by
default) usually comes long before a read timeout (600 s) could.
"""

from __future__ import annotations

import math

import anyio

__all__ = ["UNSCOPED", "caller_first", "deadline_after"]


def deadline_after(timeout: float | None) -> float:
    """The deadline ``timeout`` seconds from now (``inf`` for no timeout)."""
    return math.inf if timeout is None else anyio.current_time() + timeout


def caller_first(timeout: float | None, other: float | None = None) -> bool:
    """Whether the caller's deadline comes before ``timeout`` (or ``other``) from now could.

    Then a scope for them would never be the one to fire, now or later: each
    phase's deadline is its own start plus its timeout, and every phase starts
    from now on. A caller already cancelled counts as first; no timeout at all
    needs no scope either.
    """
    shortest = other if timeout is None else timeout if other is None else min(timeout, other)
    if shortest is None:
        return True
    return anyio.current_effective_deadline() < anyio.current_time() + shortest


class _Unscoped:
    """Entered instead of a cancel scope that could never fire first (reusable)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    # Declared ``bool`` as a cancel scope's is (one may swallow its own cancel), so
    # that the type checker sees the code after a ``with scope or UNSCOPED:`` run.
    def __exit__(self, *exc_info: object) -> bool:  # type: ignore[exit-return]
        return False


UNSCOPED = _Unscoped()
