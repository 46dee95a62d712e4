"""Make text a server sent safe to show: the API key scrubbed out, one line, capped.

Anything a server (or a proxy in front of it) sends may quote our request: an
echoing proxy returns the request headers in its error page, a gateway prints
"invalid key sk-...(first 20 characters)", a 5xx page cut at a fixed length ends
half-way through a key. :class:`Redactor` is the one function every such text
goes through, once, at the client edge, before it reaches an exception, a
result, an event, a log line or a file. It

* replaces every run of at least :data:`MIN_RUN` (8) consecutive characters of
  the key, ASCII case ignored, with ``[redacted]``: the whole key, a prefix or a
  suffix of it, a piece cut at any boundary. Eight characters of a key are
  about 48 bits; shorter runs also occur by chance in ordinary text, so they
  are let through. A "key" shorter than :data:`MIN_SECRET` (20) characters is
  no real secret (a test key, the simulator's placeholder): it is scrubbed
  only where it stands whole, as a word of its own, so that ``k`` or
  ``cft-simulator`` cannot eat letters out of model names and messages;
* escapes control characters (``\\n``, ``\\x1b``…) so a message stays one line
  and cannot drive the terminal, and lone surrogates, so it can be printed;
* caps the result at ``limit`` characters plus ``… (N more characters)``,
  where N counts the characters of the original that were not shown.

The cap is taken after scrubbing and never cuts inside a scrubbed run, so no
piece of a key survives at the cut. Only a window of about ``2 * limit``
characters from the start is examined, so a hostile 30 MiB message costs no
more than a short one (see :meth:`Redactor.__call__` for why that is safe).

What it cannot see: a key the server transformed (base64, hashed, characters
interleaved with others), and runs of up to 7 characters.
"""

from __future__ import annotations

import re

__all__ = ["MESSAGE_LIMIT", "MIN_RUN", "MIN_SECRET", "SHORT_LIMIT", "Redactor"]

#: The shortest run of the key's characters that is scrubbed.
MIN_RUN = 8
#: Keys shorter than this are scrubbed only whole, at word boundaries (real keys are ~100).
MIN_SECRET = 20
#: Characters of a server's message shown in an error.
MESSAGE_LIMIT = 500
#: Characters of a short server field (request id, error type, header value).
SHORT_LIMIT = 200

REDACTED = "[redacted]"
# C0 and C1 controls, DEL, the Unicode line and paragraph separators (all that
# str.splitlines() or a terminal would act on), and lone surrogates, which JSON
# may spell ("\\ud800") but no UTF-8 stream can write.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Counts, seconds and timestamps (most kept headers): no key is made of these alone.
_NUMERIC = re.compile(r"[0-9 .:+TZ-]*")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _fold(text: str) -> str:
    """ASCII lower case, one character for one, so positions stay valid."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _escape(char: str) -> str:
    code = ord(char)
    return _ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


class Redactor:
    """Scrubs one secret, and every run of :data:`MIN_RUN` of its characters, from text.

    Built once per client (the key's runs are indexed then); calling it is cheap
    for short clean text, the common case of a header value.

    Args:
        secret: the API key or token; ``None`` or ``""`` scrubs nothing (text
            is still made one line and capped).
    """

    __slots__ = ("_finder", "_run")

    def __init__(self, secret: str | None) -> None:
        folded = _fold(secret or "")
        whole_word = len(folded) < MIN_SECRET
        self._run = (len(folded) if whole_word else MIN_RUN) or 1
        # Every run of >= _run characters of the key is covered by its _run-grams;
        # one regex finds where any of them starts (a lookahead, so overlaps count).
        grams = sorted({folded[i : i + self._run] for i in range(len(folded) - self._run + 1)})
        self._finder: re.Pattern[str] | None = None
        if grams:
            either = "|".join(map(re.escape, grams))
            # "Not next to a letter or digit": [^\W_] is a letter or a digit.
            pattern = f"(?<![^\\W_])(?:{either})(?![^\\W_])" if whole_word else f"(?=(?:{either}))"
            self._finder = re.compile(pattern)

    def __repr__(self) -> str:
        return "Redactor(...)"  # never the key, nor how long it is

    def __call__(self, text: str, limit: int = MESSAGE_LIMIT) -> str:
        """Return ``text`` scrubbed, on one line, and at most ``limit`` characters (+ a tail).

        Only ``text[:window]`` is examined. Every run of the key's characters
        that begins before ``trusted`` lies whole in the window (when it is
        the whole text) or has at least ``MIN_RUN`` characters inside it (the
        last ``MIN_RUN - 1`` characters of a partial window are never shown),
        so every run that could reach the output is found.

        Args:
            text: what the server sent (a message, a body, a header value).
            limit: the most characters of ``text`` to show (scrubbed runs
                count as their replacement).

        Returns:
            The text to put in an exception or a result.
        """
        if len(text) <= limit and (
            _NUMERIC.fullmatch(text) or (not _UNSAFE.search(text) and not self._spans(text))
        ):
            return text  # the common cases: a number or a date; a short clean text
        window = 2 * limit + 2 * MIN_RUN
        if len(text) <= window:
            window = trusted = len(text)
        else:
            trusted = window - (self._run - 1)
        shown, end = _render(text, self._spans(text[:window]), trusted, limit)
        if end < len(text):
            shown += f"… ({len(text) - end:,} more characters)"
        return shown

    def _spans(self, window: str) -> list[tuple[int, int]]:
        """The merged ``[start, end)`` ranges of ``window`` made of key runs."""
        if self._finder is None or len(window) < self._run:
            return []
        run = self._run
        spans: list[tuple[int, int]] = []
        for match in self._finder.finditer(_fold(window)):
            i = match.start()
            if spans and spans[-1][1] >= i:
                spans[-1] = (spans[-1][0], i + run)
            else:
                spans.append((i, i + run))
        return spans


def _render(text: str, spans: list[tuple[int, int]], trusted: int, limit: int) -> tuple[str, int]:
    """Build the output from ``text[:trusted]``; return it and where in ``text`` it stopped."""
    out: list[str] = []
    size = pos = 0
    for start, stop in [*spans, (trusted, trusted)]:
        size, pos = _plain(text, pos, min(start, trusted), limit, size, out)
        if pos < start or pos >= trusted or size >= limit:
            break
        out.append(REDACTED)  # whole, even past the limit: a run is never cut
        size += len(REDACTED)
        pos = stop
    return "".join(out), pos


def _plain(
    text: str, pos: int, stop: int, limit: int, size: int, out: list[str]
) -> tuple[int, int]:
    """Append ``text[pos:stop]``, escaped, while the output stays within ``limit``."""
    piece = text[pos:stop]
    if not _UNSAFE.search(piece):
        piece = piece[: max(limit - size, 0)]
        out.append(piece)
        return size + len(piece), pos + len(piece)
    for char in piece:
        shown = _escape(char) if _UNSAFE.match(char) else char
        if size + len(shown) > limit:
            break
        out.append(shown)
        size += len(shown)
        pos += 1
    return size, pos
