"""The direction guard: "from A to B" is not "from B to A".

Two texts with the same words in another order have the *same* bag-of-tokens
vector (similarity 1.0): "Copy the settings from staging to production" and
"... from production to staging", "Convert the timestamps from UTC to local
time" and "... from local time to UTC". When A and B are literals, their order
tells them apart (:mod:`._literals` keeps the order); when they are plain words
nothing else does.

So the source and target of a "from … to/into …" phrase are kept, each as a
31-bit hash of its words (lower case, articles and possessives dropped), and two
texts **conflict** when one's source is the other's target. A text without
such a phrase conflicts with nothing, so "Turn the JSON config into YAML" can
still match "Convert the config from JSON to YAML".

The code is one integer, ``source << 32 | target`` (0 for none), for SQLite and numpy.
"""

from __future__ import annotations

import re
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["direction_code", "reversed_direction", "reverses"]

_PHRASE = re.compile(
    r"\bfrom\s+(?P<source>[^.,;:!?\n]+?)\s+(?:to|into|onto)\s+(?P<target>[^.,;:!?\n]+?)"
    r"(?=[.,;:!?\n]|$|\s+(?:and|but|so|then|with|using|for|by|while|without|keeping|in order)\b)",
    re.IGNORECASE,
)
_FILLER = frozenset({"the", "a", "an", "our", "my", "your", "their", "its", "this", "that"})
_MASK = (1 << 31) - 1
_LOW = (1 << 32) - 1


def _hash(phrase: str) -> int:
    words = [w for w in re.findall(r"[\w.#+-]+", phrase.lower()) if w not in _FILLER]
    return (zlib.crc32(" ".join(words).encode("utf-8")) & _MASK) | 1 if words else 0


def direction_code(text: str) -> int:
    """``source << 32 | target`` of the first "from … to …" phrase of ``text``, or 0.

    Args:
        text: a task, as the user wrote it.
    """
    match = _PHRASE.search(text)
    if match is None:
        return 0
    source, target = _hash(match["source"]), _hash(match["target"])
    if not source or not target or source == target:
        return 0
    return source << 32 | target


def reverses(a: int, b: int) -> bool:
    """True when ``a``'s source is ``b``'s target or ``a``'s target is ``b``'s source."""
    if not a or not b:
        return False
    return (a >> 32) == (b & _LOW) or (a & _LOW) == (b >> 32)


def reversed_direction(codes: npt.NDArray[np.uint64], query: int) -> npt.NDArray[np.bool_]:
    """:func:`reverses` of ``query`` with each of ``codes``, vectorised."""
    import numpy as np

    if not query:
        return np.zeros(codes.shape, dtype=np.bool_)
    low, half = np.uint64(_LOW), np.uint64(32)
    source, target = np.uint64(query >> 32), np.uint64(query & _LOW)
    found: npt.NDArray[np.bool_] = (codes != 0) & (
        ((codes & low) == source) | ((codes >> half) == target)
    )
    return found
