"""Per-entry outcomes of a Message Batch that are not a success: scripted or seeded.

Why per entry: in a batch the HTTP request that creates it succeeds, and the
failures arrive later, one result line at a time (``errored``, ``expired``,
``canceled``). A client's retry policy for batches (resubmit the failed
entries in a later batch) can only be tested against a server that fails
some entries and not others, the same ones every run. Two sources:

* a marker in the entry's last user message: ``[sim:batch_errored]`` (an
  ``api_error``), ``[sim:batch_invalid]`` (an ``invalid_request_error``),
  ``[sim:batch_expired]``, ``[sim:batch_canceled]``;
* a seeded :class:`BatchFaultPlan` in ``SimulatorConfig.batch_faults``: each
  entry makes one draw from a ``random.Random`` seeded by the simulator's
  seed and the batch's ordinal, so a resubmitted entry (a new batch) draws
  afresh, and the same run fails the same entries.

A marker wins over the draw; the draw is made anyway, so markers do not
shift the seeded sequence.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = ["BATCH_FAULT_KINDS", "BatchFaultPlan", "entry_fault"]

#: Every non-success outcome an entry can be given, with the error it carries
#: (``None``: the result has no ``error`` object).
BATCH_FAULT_KINDS: Final[Mapping[str, tuple[str, str] | None]] = MappingProxyType(
    {
        "errored": ("api_error", "Internal server error"),
        "invalid": ("invalid_request_error", "This request could not be processed"),
        "expired": None,
        "canceled": None,
    }
)
_MARKERS: Final = {f"[sim:batch_{kind}]": kind for kind in BATCH_FAULT_KINDS}


@dataclass(frozen=True, slots=True)
class BatchFaultPlan:
    """Probabilities of each non-success outcome, drawn once per batch entry.

    Args:
        rates: ``(kind, probability)`` pairs; kinds from :data:`BATCH_FAULT_KINDS`.

    Raises:
        ValueError: an unknown or repeated kind, a probability outside 0..1, or a
            total above 1.
    """

    rates: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for kind, rate in self.rates:
            if kind not in BATCH_FAULT_KINDS:
                known = ", ".join(BATCH_FAULT_KINDS)
                raise ValueError(f"unknown batch fault kind {kind!r} (known: {known})")
            if kind in seen:
                raise ValueError(f"batch fault kind {kind!r} is given twice")
            seen.add(kind)
            if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
                raise ValueError(f"probability of {kind!r} must be between 0 and 1, got {rate}")
        total = sum(rate for _, rate in self.rates)
        if total > 1.0 + 1e-9:
            raise ValueError(f"batch fault probabilities add up to {total:g}, more than 1")

    @classmethod
    def parse(cls, spec: str) -> BatchFaultPlan:
        """Parse ``"errored:0.1,expired:0.02"``; an empty spec means no faults.

        Raises:
            ValueError: naming the item that is malformed, unknown or out of range.
        """
        rates: list[tuple[str, float]] = []
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            kind, _, prob = item.partition(":")
            try:
                rates.append((kind.strip(), float(prob)))
            except ValueError:
                raise ValueError(
                    f"batch fault spec item {item!r} is not KIND:PROBABILITY (e.g. 'errored:0.1')"
                ) from None
        return cls(tuple(rates))

    def draw(self, rng: random.Random) -> str | None:
        """This entry's outcome kind (``None``: processed normally), with one draw from ``rng``."""
        u = rng.random()
        cumulative = 0.0
        for kind, rate in self.rates:
            cumulative += rate
            if u < cumulative:
                return kind
        return None

    def __str__(self) -> str:
        return ",".join(f"{kind}:{rate:g}" for kind, rate in self.rates)


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, Mapping))
        return ""
    return ""


def entry_fault(params: Mapping[str, Any], drawn: str | None) -> str | None:
    """The outcome kind of one entry: its marker if it has one, else the seeded draw."""
    text = _last_user_text(params["messages"])
    if "[sim:batch_" in text:
        for marker, kind in _MARKERS.items():
            if marker in text:
                return kind
    return drawn
