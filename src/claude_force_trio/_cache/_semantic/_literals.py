"""The literal guard: the details of a task that a bag-of-tokens vector cannot see.

Mean-pooled token vectors hardly move when one token changes: "Summarise the
Q3 2025 report" and "... Q4 2025 ..." score 0.97, more than most true
paraphrases (0.75–0.95). Yet those are different tasks with different answers.
So a semantic match also needs the two texts to name the same *literals* —
what an answer depends on verbatim — and the vector only decides whether the
rest of the wording means the same:

* numbers, with their unit or sign (``15%``, ``$20``, ``250ms``, ``3.10``,
  dates and times as written; "five" is ``5``, "1,000" and "1k" are ``1000``);
* URLs, e-mail addresses, paths and file names (``src/app.py``, ``README.md``);
* anything in backticks or quotes;
* code identifiers: snake_case, camelCase, PascalCase with an inner capital,
  dotted names (``os.path.join``), words mixing letters and digits (``sha256``);
* words in capitals (``Q3``, ``CSV``, ``PR``) and capitalised words inside a
  sentence (``Alice``, ``French``, ``Redis``, ``March``): names of people,
  languages, products, months. A sentence's first word is left out, since
  every imperative starts with a capital ("Summarise …").
* **polarity**: whether the text negates something (not, no, never, without,
  don't …). "Refactor it without changing the API" and "… changing the API"
  score 0.97 and ask opposite things; the data set in
  ``tests/data/semantic_pairs.jsonl`` has such pairs, and nothing else in the
  guard tells them apart. Only presence is compared, not the count: a
  paraphrase may negate twice where the original negated once, rarely the
  other way round.

Code identifiers, paths and quoted text keep their case; names and capitals
are case-folded (``Q3`` and ``q3`` are one literal). The price is recall: a
paraphrase that spells a literal differently ("the PR" / "the pull request",
"JSON" / "json") is a miss, which costs one API call, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["Literals", "extract_literals", "literal_signature"]

_URL = re.compile(r"\b(?:https?|ftp|file)://[^\s<>\"'`]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_BACKTICKS = re.compile(r"```.*?```|`([^`\n]+)`", re.DOTALL)
_QUOTED = re.compile(
    r"\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|‘([^’\n]{1,200})’|(?<![\w'])'([^'\n]{1,200})'(?![\w'])"
)
_CHUNK = re.compile(r"\S+")
_LEAD = "([{<\"'*“‘-–—•"
_TRAIL = ")]}>\"'*”’,;:!?."
_SENTENCE_END = re.compile(r"[.!?:;]$|^[-*•#>]+$|^\d+[.)]$")
_NUMBER = re.compile(
    r"(?P<sign>[-+±~≈]?)(?P<cur>[$€£¥#]?)(?P<num>\d[\d,]*(?:\.\d+)?|\.\d+)(?P<suffix>[A-Za-z%°]*)"
)
_VERSION_OR_DATE = re.compile(r"[vV]?\d+(?:[.:/-]\d+)+[A-Za-z0-9.+-]*")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+")
_CAMEL = re.compile(r"[a-z0-9][A-Z]|[A-Z]{2}[a-z]")
_MIXED = re.compile(r"(?=.*[A-Za-z])(?=.*\d)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")

_NEGATIONS = frozenset(
    (
        *("not", "no", "never", "without", "none", "nothing", "nobody", "nowhere"),
        *("neither", "nor", "cannot", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt"),
        *("werent", "wont", "wouldnt", "shouldnt", "cant", "couldnt", "mustnt", "havent"),
        *("hasnt", "hadnt", "neednt"),
    )
)
_SMALL = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen", "twenty"),
)
#: "one" is left out: it is as often a pronoun ("the one in utils") as a number.
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(_SMALL) if word != "one"} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
    "dozen": "12",
}
_NTH = ("second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
#: "first" is left out: it mostly orders steps ("first, read the file").
_ORDINALS = {word: str(value) for value, word in enumerate(_NTH, start=2)}
_UNITS = {
    **dict.fromkeys(("%", "percent", "pct"), "%"),
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), "ms"),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "min"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("week", "weeks", "wk"), "wk"),
    **dict.fromkeys(("month", "months"), "mo"),
    **dict.fromkeys(("year", "years", "yr", "yrs"), "y"),
    **dict.fromkeys(("b", "byte", "bytes"), "B"),
    **{u: u.upper() for u in ("kb", "mb", "gb", "tb")},
    **dict.fromkeys(("k", "thousand"), "k"),
    **dict.fromkeys(("million", "mn"), "M"),
    **dict.fromkeys(("usd", "dollar", "dollars"), "$"),
    **dict.fromkeys(("eur", "euro", "euros"), "€"),
    **dict.fromkeys(("px", "pixel", "pixels"), "px"),
    **dict.fromkeys(("line", "lines"), "lines"),
    **dict.fromkeys(("x", "times"), "x"),
}
_ORDINAL_SUFFIXES = frozenset({"st", "nd", "rd", "th"})
_CURRENCY = {"$": "$", "€": "€", "£": "£", "¥": "¥"}


@dataclass(frozen=True, slots=True)
class Literals:
    """What a text names verbatim, and whether it negates: two texts match only if equal.

    Attributes:
        items: the literals, each once, in the order they first appear ("from JSON to
            YAML" is not "from YAML to JSON").
        negated: the text negates something.
    """

    items: tuple[str, ...]
    negated: bool


def _strip(chunk: str) -> str:
    chunk = chunk.lstrip(_LEAD).rstrip(_TRAIL)
    for possessive in ("'s", "’s"):
        if chunk.endswith(possessive):
            chunk = chunk[: -len(possessive)]
    return chunk


def _number(match: re.Match[str], unit_word: str | None) -> tuple[str, bool]:
    """A number's canonical form, and whether it consumed the next word as its unit."""
    num = match["num"]
    if _GROUPED.fullmatch(num):
        num = num.replace(",", "")
    suffix = match["suffix"].lower()
    if match["cur"] == "#":  # an issue or pull request: #4521
        return f"#{num}", False
    unit = _CURRENCY.get(match["cur"], "")
    used_next = False
    if suffix in _ORDINAL_SUFFIXES:
        suffix = ""
    if suffix:
        unit += _UNITS.get(suffix, suffix)
    elif unit_word is not None and unit_word.lower() in _UNITS and not unit:
        unit, used_next = _UNITS[unit_word.lower()], True
    if unit in ("k", "M") and "." not in num:
        num, unit = str(int(num) * (1000 if unit == "k" else 1_000_000)), ""
    return f"{match['sign']}{num}{unit}", used_next


def _number_word(bare: str, unit_word: str | None) -> tuple[str, bool]:
    """A number word's canonical form ("five minutes" is ``5min``), and whether it took the unit."""
    if bare in _ORDINALS:
        return _ORDINALS[bare], False
    value = int(_NUMBER_WORDS[bare])
    unit = _UNITS.get((unit_word or "").casefold())
    if unit is None:
        return str(value), False
    if unit in ("k", "M"):
        return str(value * (1000 if unit == "k" else 1_000_000)), True
    return f"{value}{unit}", True


def _classify(word: str, *, starts_sentence: bool) -> str | None:
    """The literal a non-numeric chunk stands for, or ``None`` for an ordinary word."""
    if "/" in word or "\\" in word:
        parts = [p for p in re.split(r"[/\\]", word) if p]
        if word[0] in "/\\~." or len(parts) > 2 or (parts and "." in parts[-1]):
            return word  # a path
    if re.search(r"\w\.\w|^\.\w", word) or "_" in word.strip("_") or _CAMEL.search(word):
        return word  # a file name, dotted name, snake_case or camelCase identifier
    if _MIXED.match(word) and re.fullmatch(r"[\w.+#-]+", word):
        return word.casefold()  # sha256, utf-8, Q3, ec2
    letters = re.sub(r"[^A-Za-z]", "", word)
    if len(letters) >= 2 and letters.isupper():
        return word.casefold()  # CSV, PR, API
    if not starts_sentence and word[:1].isupper() and word not in ("I", "I'm", "I'd", "I've"):
        return word.casefold()  # a name inside a sentence: Alice, French, Redis, March
    return None


def extract_literals(text: str) -> Literals:
    """The literals of ``text``, in the order they first appear (see the module docstring).

    Args:
        text: a task, as the user wrote it.
    """
    found: list[tuple[int, str]] = []

    def take(pattern: re.Pattern[str], text: str, *, group: bool) -> str:
        def keep(match: re.Match[str]) -> str:
            literal = next((g for g in match.groups() if g), None) if group else match[0]
            literal = (literal or "").strip()
            tail = ""
            if pattern is _URL:  # a full stop after a URL still ends the sentence
                literal = literal.rstrip(".,;:!?)]")
                tail = match[0][len(literal) :]
            if literal:
                found.append((match.start(), literal))
            # Same length, so later positions still order the literals; the NUL keeps
            # the words either side apart and never starts a sentence.
            return "\x00" + " " * (len(match[0]) - len(tail) - 1) + tail

        return pattern.sub(keep, text)

    rest = take(_BACKTICKS, text, group=True)
    rest = take(_URL, rest, group=False)
    rest = take(_EMAIL, rest, group=False)
    rest = take(_QUOTED, rest, group=True)
    negated = False
    chunks = list(_CHUNK.finditer(rest))
    starts_sentence, skip = True, False
    for i, chunk in enumerate(chunks):
        raw, at = chunk[0], chunk.start()
        if i and "\n" in rest[chunks[i - 1].end() : at]:
            starts_sentence = True  # a new line starts a sentence (or a heading, an item)
        ends = bool(_SENTENCE_END.search(raw))
        if skip:  # the unit of the number before
            skip, starts_sentence = False, ends
            continue
        word = _strip(raw)
        if word:
            bare = re.sub(r"['’]", "", word).casefold()
            negated = negated or bare in _NEGATIONS
            nxt = _strip(chunks[i + 1][0]) if i + 1 < len(chunks) else None
            literal: str | None = None
            if bare in _NUMBER_WORDS or bare in _ORDINALS:
                literal, skip = _number_word(bare, nxt)
            elif (match := _NUMBER.fullmatch(word)) is not None:
                literal, skip = _number(match, nxt)
            elif _VERSION_OR_DATE.fullmatch(word):
                literal = word.lstrip("vV")
            else:
                literal = _classify(word, starts_sentence=starts_sentence)
            if literal is not None:
                found.append((at, literal))
        starts_sentence = ends
    ordered = dict.fromkeys(literal for _, literal in sorted(found))
    return Literals(tuple(ordered), negated)


def literal_signature(text: str) -> str:
    """A short digest of :func:`extract_literals`: equal for texts whose literals are equal.

    Args:
        text: a task, as the user wrote it.
    """
    found = extract_literals(text)
    canonical = "\x1f".join(found.items) + ("\x1e¬" if found.negated else "")
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
