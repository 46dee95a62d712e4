"""What two texts must share besides a close vector: the three guards, as one fingerprint.

A bag-of-tokens vector cannot see which number, file or name a task is about,
whether it negates, which of two opposite operations it asks for, or which way
a conversion runs. Each guard covers one of those blind spots, measured on the
pairs of ``tests/data/semantic_pairs.jsonl`` (``benchmarks/semantic.py``):

* :mod:`._literals` — the literals and the polarity must be *equal*; their digest
  is the ``signature``, which groups the index, so a lookup only ever compares
  vectors of texts with the same literals;
* :mod:`._contrast` — no pair of opposite words may be split between the two;
* :mod:`._direction` — neither text's "from" may be the other's "to";
* :mod:`._substitution` — neither may be the other with a word or two swapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._contrast import conflicting, conflicts, contrast_code
from ._direction import direction_code, reversed_direction, reverses
from ._literals import literal_signature
from ._substitution import content_codes, substitution

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Fingerprint", "fingerprint", "incompatible"]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The guards' view of one text.

    Attributes:
        signature: digest of the literals and the polarity (equal or no match).
        contrast: which sides of the opposite-word pairs it uses (:mod:`._contrast`).
        direction: its "from … to …" source and target (:mod:`._direction`).
        words: codes of its content words (:mod:`._substitution`).
    """

    signature: str
    contrast: int
    direction: int
    words: tuple[int, ...] = ()

    def compatible(self, other: Fingerprint) -> bool:
        """True when no guard keeps the two texts apart (their vectors still decide)."""
        return (
            self.signature == other.signature
            and not conflicts(self.contrast, other.contrast)
            and not reverses(self.direction, other.direction)
            and not substitution(self.words, other.words)
        )


def fingerprint(text: str) -> Fingerprint:
    """The :class:`Fingerprint` of ``text``.

    Args:
        text: a task, as the user wrote it.
    """
    return Fingerprint(
        literal_signature(text), contrast_code(text), direction_code(text), content_codes(text)
    )


def incompatible(
    contrasts: npt.NDArray[np.uint64], directions: npt.NDArray[np.uint64], query: Fingerprint
) -> npt.NDArray[np.bool_]:
    """For entries of the query's signature: which ones the contrast or direction guard rules out.

    The substitution guard compares word sequences, so it is checked pairwise
    (:meth:`Fingerprint.compatible`) on the few best candidates only.
    """
    return conflicting(contrasts, query.contrast) | reversed_direction(directions, query.direction)
