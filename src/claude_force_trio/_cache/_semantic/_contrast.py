"""The contrast guard: opposite operations, which token vectors put side by side.

Distributional embeddings learn a word from the contexts it appears in, and
antonyms share their contexts: "Encrypt the backup files" and "Decrypt the
backup files" score 0.90, "Sort the list in ascending order" and "... descending
..." 0.93, "the pros of microservices" and "the cons ..." 0.93 — above most
true paraphrases (``tests/data/semantic_pairs.jsonl``, kind ``operation``).
No threshold separates those, and their literals are equal.

So each text gets a *contrast code*: for each pair of opposite word sets below,
whether it uses words of only one side. Two texts **conflict** when one uses
only side A of a pair and the other only side B; a conflicting entry never
matches. A text using neither side, or both ("the pros and cons"), conflicts
with nothing on that pair, so "Add logging to the worker" still matches "Make
the worker log what it does". Unlike the literals, this is not an equality:
an equality on these common verbs would cost recall for no precision.

The code is one integer that fits a SQLite INTEGER and a numpy ``uint64``:
bit ``i`` says "only side A of pair i", bit ``32 + i`` "only side B", for at most
31 pairs. ``a`` and ``b`` conflict iff ``a & swap(b)`` is non-zero.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["PAIRS", "conflicting", "conflicts", "contrast_code", "swap"]

_HALF = 32
_LOW = (1 << _HALF) - 1


def _forms(*stems: str) -> frozenset[str]:
    """Each stem and its usual inflections (``encrypt`` → encrypts, encrypted, encrypting …)."""
    out: set[str] = set()
    for stem in stems:
        base = stem[:-1] if stem.endswith("e") else stem
        out |= {stem, stem + "s", base + "ed", base + "ing", base + "ion", base + "ions"}
    return frozenset(out)


#: Opposite word sets (side A, side B). Forms come from :func:`_forms` or are listed.
PAIRS: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (_forms("encrypt"), _forms("decrypt")),
    (_forms("enable"), _forms("disable")),
    (_forms("increase", "raise", "grow"), _forms("decrease", "reduce", "lower", "shrink")),
    (_forms("add", "insert", "create"), _forms("remove", "delete", "drop")),
    (
        frozenset({"max", "maximum", "largest", "highest", "biggest", "most"}),
        frozenset({"min", "minimum", "smallest", "lowest", "least", "fewest"}),
    ),
    (
        frozenset({"ascending", "asc", "increasing"}),
        frozenset({"descending", "desc", "decreasing"}),
    ),
    (_forms("accept", "approve"), _forms("decline", "reject", "refuse")),
    (
        frozenset({"pro", "pros", "advantage", "advantages", "benefits", "strengths"}),
        frozenset({"con", "cons", "disadvantage", "disadvantages", "drawbacks", "weaknesses"}),
    ),
    (
        _forms("serialise", "serialize", "marshal"),
        _forms("deserialise", "deserialize", "unmarshal"),
    ),
    (_forms("encode"), _forms("decode")),
    (
        frozenset({"frontend", "front-end", "client-side"}),
        frozenset({"backend", "back-end", "server-side"}),
    ),
    (
        frozenset({"reads", "read-only", "read-heavy"}),
        frozenset({"writes", "write-only", "write-heavy"}),
    ),
    (_forms("install"), _forms("uninstall")),
    (_forms("import"), _forms("export")),
    (_forms("upload"), _forms("download")),
    (_forms("compress", "zip"), _forms("decompress", "unzip")),
    (_forms("start"), _forms("stop")),
    (_forms("show"), _forms("hide")),
    (
        _forms("allow", "permit", "allowlist", "whitelist"),
        _forms("deny", "block", "forbid", "blocklist", "blacklist"),
    ),
    (frozenset({"before"}), frozenset({"after"})),
    (
        _forms("pass", "succeed") | {"passed", "success", "successful", "happy"},
        _forms("fail") | {"failure", "failures", "error", "errors"},
    ),
    (frozenset({"good", "better", "best"}), frozenset({"bad", "worse", "worst"})),
    (
        frozenset({"more", "longer", "larger", "bigger"}),
        frozenset({"less", "fewer", "shorter", "smaller"}),
    ),
    (frozenset({"faster", "quicker"}), frozenset({"slower"})),
    (frozenset({"upper", "uppercase", "upper-case"}), frozenset({"lower-case", "lowercase"})),
    (frozenset({"public"}), frozenset({"private"})),
    (
        frozenset({"sync", "synchronous", "synchronously"}),
        frozenset({"async", "asynchronous", "asynchronously"}),
    ),
    (frozenset({"formal", "formally"}), frozenset({"informal", "casual", "informally"})),
    (frozenset({"positive"}), frozenset({"negative"})),
    (frozenset({"true"}), frozenset({"false"})),
    (_forms("lock"), _forms("unlock")),
)
assert len(PAIRS) <= _HALF - 1, "the code must fit a signed 64-bit SQLite INTEGER"
_SIDE: dict[str, int] = {}
for _i, (_a, _b) in enumerate(PAIRS):
    assert not _a & _b, f"pair {_i} has a word on both sides"
    for _word in _a:
        _SIDE.setdefault(_word, _i)
    for _word in _b:
        _SIDE.setdefault(_word, _HALF + _i)
_WORDS = re.compile(r"[a-z]+(?:-[a-z]+)*")


def contrast_code(text: str) -> int:
    """The contrast code of ``text`` (see the module docstring).

    Args:
        text: a task, as the user wrote it.
    """
    seen = 0
    for word in _WORDS.findall(text.casefold()):
        bit = _SIDE.get(word)
        if bit is not None:
            seen |= 1 << bit
    both = seen & (seen >> _HALF) & _LOW  # pairs seen on both sides count as neither
    return seen & ~(both | both << _HALF)


def swap(code: int) -> int:
    """``code`` with its two halves exchanged (side A bits become side B bits)."""
    return (code >> _HALF) | ((code & _LOW) << _HALF)


def conflicts(a: int, b: int) -> bool:
    """True when one code uses only one side of a pair and the other only the other side."""
    return bool(a & swap(b))


def conflicting(codes: npt.NDArray[np.uint64], query: int) -> npt.NDArray[np.bool_]:
    """:func:`conflicts` of ``query`` with each of ``codes``, vectorised."""
    import numpy as np

    found: npt.NDArray[np.bool_] = (codes & np.uint64(swap(query))) != 0
    return found
