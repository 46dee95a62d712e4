"""Faults the simulator can inject: what they are, and the seeded plan that picks them.

Two sources feed the server: a :class:`FaultPlan` (probabilities per kind, drawn
with ``random.Random(seed)`` so a benchmark or a demo misbehaves the same way
every run) and a per-request script (``Simulator.script``) for tests that need
one exact failure on one exact attempt. Both hand the server a :class:`Fault`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = ["FAULT_KINDS", "Fault", "FaultPlan"]

#: Every kind of fault, with the HTTP status and error type of the answer it
#: produces (``None`` for the kinds that give no HTTP answer at all).
FAULT_KINDS: Final[Mapping[str, tuple[int, str, str] | None]] = MappingProxyType(
    {
        "429": (429, "rate_limit_error", "Number of request tokens has exceeded your rate limit"),
        "529": (529, "overloaded_error", "Overloaded"),
        "500": (500, "api_error", "Internal server error"),
        "503": (503, "api_error", "Service unavailable"),
        "408": (408, "timeout_error", "Request timeout"),
        # Abort the TCP connection with an RST after reading the request.
        "reset": None,
        # Read the request and never answer.
        "stall": None,
        # Stream a few deltas, then an ``error`` event and no message_stop.
        "stream_error": (529, "overloaded_error", "Overloaded"),
    }
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure, optionally with the details a test wants to control.

    Args:
        kind: one of :data:`FAULT_KINDS` (``"429"``, ``"529"``, ``"500"``, ``"503"``,
            ``"408"``, ``"reset"``, ``"stall"``, ``"stream_error"``).
        retry_after: seconds for the ``retry-after`` header. Given alone, only that
            header is sent, so clients can test their seconds path.
        retry_after_ms: milliseconds for the ``retry-after-ms`` header; given alone,
            only that header is sent.
        headers: extra response headers, e.g. ``{"x-should-retry": "false"}``.
        message: the error message instead of the API's usual one.

    A ``429`` with neither ``retry_after`` nor ``retry_after_ms`` sends both
    ``retry-after: 1`` and ``retry-after-ms: 1000``, as the API does.
    """

    kind: str
    retry_after: float | None = None
    retry_after_ms: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {', '.join(FAULT_KINDS)})")
        if self.retry_after is not None and not self.retry_after >= 0:
            raise ValueError(f"retry_after must be >= 0, got {self.retry_after!r}")
        if self.retry_after_ms is not None and self.retry_after_ms < 0:
            raise ValueError(f"retry_after_ms must be >= 0, got {self.retry_after_ms!r}")

    def retry_headers(self) -> list[tuple[str, str]]:
        """The ``retry-after`` / ``retry-after-ms`` headers this fault answers with."""
        after, after_ms = self.retry_after, self.retry_after_ms
        if after is None and after_ms is None:
            if self.kind != "429":
                return []
            after, after_ms = 1, 1000
        out: list[tuple[str, str]] = []
        if after is not None:
            text = str(int(after)) if float(after).is_integer() else repr(float(after))
            out.append(("retry-after", text))
        if after_ms is not None:
            out.append(("retry-after-ms", str(after_ms)))
        return out


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Probabilities of each fault kind, applied independently to every request.

    Build one with :meth:`parse` from the CLI's ``--faults`` syntax. Each request
    makes exactly one draw from the simulator's ``random.Random(seed)``, whatever
    the outcome, so the same seed gives the same fault sequence.
    """

    rates: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        check_rates(self.rates, FAULT_KINDS, "fault")

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """Parse ``"429:0.1,529:0.05,reset:0.02"``; an empty spec means no faults.

        Raises:
            ValueError: naming the item that is malformed, unknown or out of range.
        """
        return cls(parse_rates(spec, "fault", "429:0.1"))

    def draw(self, rng: random.Random) -> Fault | None:
        """Pick this request's fault (or ``None``) with one draw from ``rng``."""
        kind = draw_kind(self.rates, rng)
        return None if kind is None else Fault(kind)

    def __str__(self) -> str:
        return ",".join(f"{kind}:{rate:g}" for kind, rate in self.rates)


def check_rates(rates: Sequence[tuple[str, float]], kinds: Collection[str], what: str) -> None:
    """Refuse unknown or repeated kinds, probabilities outside 0..1, and a total above 1.

    Shared by the request faults here and the batch-entry faults (``_batchfaults``);
    ``what`` names the plan in messages (``fault``, ``batch fault``).
    """
    seen: set[str] = set()
    for kind, rate in rates:
        if kind not in kinds:
            raise ValueError(f"unknown {what} kind {kind!r} (known: {', '.join(kinds)})")
        if kind in seen:
            raise ValueError(f"{what} kind {kind!r} is given twice")
        seen.add(kind)
        if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
            raise ValueError(f"probability of {kind!r} must be between 0 and 1, got {rate}")
    total = sum(rate for _, rate in rates)
    if total > 1.0 + 1e-9:
        raise ValueError(f"{what} probabilities add up to {total:g}, more than 1")


def parse_rates(spec: str, what: str, example: str) -> tuple[tuple[str, float], ...]:
    """``"KIND:P,KIND:P"`` as ``(kind, p)`` pairs (unchecked); an empty spec has none."""
    rates: list[tuple[str, float]] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        kind, sep, prob = item.partition(":")
        shape = f"{what} spec item {item!r} is not KIND:PROBABILITY"
        if not sep or not kind.strip() or not prob.strip():
            raise ValueError(f"{shape} (e.g. {example!r})")
        try:
            rate = float(prob)
        except ValueError:
            raise ValueError(f"{shape}: {prob.strip()!r} is not a number") from None
        rates.append((kind.strip(), rate))
    return tuple(rates)


def draw_kind(rates: Sequence[tuple[str, float]], rng: random.Random) -> str | None:
    """The kind one draw from ``rng`` lands on (``None``: beyond every rate)."""
    u = rng.random()
    cumulative = 0.0
    for kind, rate in rates:
        cumulative += rate
        if u < cumulative:
            return kind
    return None
