"""The substitution guard: a task with one word swapped is another task.

A near-miss is usually a minimal edit of the cached task: "Write a unit test
for the *discount* calculation" / "... the *tax* calculation", "returns the
*even* numbers" / "... *odd* ...", "lines *starting* with a digit" / "... *ending*
...". A bag-of-tokens vector moves little for one token (0.76–0.94 in
``tests/data/semantic_pairs.jsonl``), and no word list can name every pair of
words that change a task. A real paraphrase, in contrast, rewords: it adds or
drops words, or swaps only the verb that introduces the request ("Review" /
"Check", "Write" / "Create").

So each text keeps its *content words* (lower case, function words dropped,
a plural "s" trimmed) as 32-bit codes, and two texts are a **substitution** —
never a match — when their content words are equal except for one or two
replaced runs of at most two words each (nothing inserted, nothing dropped),
and some replaced run is not a rewording of the request: words of the
:data:`REQUEST_WORDS` only, sharing a class ("Summarise" / "Give … a
summary"); or when they are the same content words in another order ("convert
this class component to a function component" and the other way round have
one and the same vector: the order is all that tells them apart). Only codes
are kept, never the words: a code is a hash of the word with its class in the
low 5 bits.
"""

from __future__ import annotations

import difflib
import re
import zlib

__all__ = ["REQUEST_WORDS", "content_codes", "substitution"]

_FUNCTION_WORDS = frozenset(
    (
        *("a", "an", "the", "this", "that", "these", "those", "it", "its", "of", "in", "on"),
        *("at", "to", "into", "onto", "for", "from", "by", "with", "about", "as", "and", "or"),
        *("but", "if", "then", "so", "is", "are", "was", "were", "be", "been", "being", "do"),
        *("does", "did", "can", "could", "would", "should", "will", "shall", "may", "might"),
        *("must", "please", "me", "my", "i", "you", "your", "we", "us", "our", "they", "them"),
        *("their", "he", "she", "his", "her", "there", "here", "what", "which", "who", "whom"),
        *("whose", "how", "why", "when", "where", "all", "any", "some", "each", "every"),
        *("following", "possible", "just", "also", "very", "such", "than", "too", "only"),
        *("own", "same", "other", "another", "one", "whether", "anything", "something"),
        *("out", "up", "over"),
    )
)
#: Words that introduce a request, in classes of interchangeable ones: swapping a word
#: for another of its class is rewording, not another task.
REQUEST_WORDS: tuple[frozenset[str], ...] = tuple(
    frozenset(words.split())
    for words in (
        "give make write create add generate draft compose produce put provide come build "
        "implement prepare",
        "review check look inspect examine audit scan assess evaluate analyse analyze proofread go",
        "find locate spot identify search point figure diagnose determine work discover",
        "explain describe clarify tell walk understand mean",
        "summarise summarize summary condense recap overview highlight tldr",
        "fix correct repair resolve solve patch",
        "refactor rewrite restructure rework convert turn change transform",
        "problem issue bug mistake flaw hole vulnerability",
        "raise throw",
        "say state",
    )
)
assert len(REQUEST_WORDS) < 32, "a class must fit the code's low 5 bits"
_CLASS = {word: n for n, words in enumerate(REQUEST_WORDS, start=1) for word in words}
_WORD = re.compile(r"[a-z][a-z0-9'’-]*")
_SUFFIX = re.compile(r"(?:ing|ed|es|s)$")


def _stem(word: str) -> str:
    if len(word) > 5 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _class(word: str) -> int:
    """The request-word class of ``word`` or of its bare form (reviewed → review), or 0."""
    if word in _CLASS:
        return _CLASS[word]
    bare = _SUFFIX.sub("", word)
    return _CLASS.get(bare) or _CLASS.get(bare + "e", 0)


def content_codes(text: str) -> tuple[int, ...]:
    """The codes of ``text``'s content words, in order (see the module docstring).

    Args:
        text: a task, as the user wrote it.
    """
    codes = []
    for raw in _WORD.findall(text.casefold()):
        word = raw.replace("'", "").replace("’", "")
        if word in _FUNCTION_WORDS:
            continue
        word = _stem(word)
        codes.append((zlib.crc32(word.encode("utf-8")) & ~0x1F) | _class(word))
    return tuple(codes)


def substitution(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """True when ``b`` is ``a`` reordered, or with one or two short runs of content words replaced.

    Args:
        a: :func:`content_codes` of one text.
        b: :func:`content_codes` of the other.
    """
    if a == b:
        return False
    if sorted(a) == sorted(b):
        return True  # the same words in another order: one vector, maybe two tasks
    edits = [
        op
        for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    if len(edits) > 2 or any(tag != "replace" for tag, *_ in edits):
        return False  # words added or dropped: a rewording
    runs = [(a[i1:i2], b[j1:j2]) for _, i1, i2, j1, j2 in edits]
    if any(len(x) > 2 or len(y) > 2 for x, y in runs):
        return False
    for x, y in runs:
        classes_x, classes_y = {c & 0x1F for c in x}, {c & 0x1F for c in y}
        if 0 in classes_x or 0 in classes_y or not classes_x & classes_y:
            return True
    return False
