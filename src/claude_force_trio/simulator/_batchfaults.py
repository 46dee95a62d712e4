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

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from ._faults import check_rates, draw_kind, parse_rates

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
        check_rates(self.rates, BATCH_FAULT_KINDS, "batch fault")

    @classmethod
    def parse(cls, spec: str) -> BatchFaultPlan:
        """Parse ``"errored:0.1,expired:0.02"``; an empty spec means no faults.

        Raises:
            ValueError: naming the item that is malformed, unknown or out of range.
        """
        return cls(parse_rates(spec, "batch fault", "errored:0.1"))

    def draw(self, rng: random.Random) -> str | None:
        """This entry's outcome kind (``None``: processed normally), with one draw from ``rng``."""
        return draw_kind(self.rates, rng)

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
