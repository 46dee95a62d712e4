"""What ``cft run-many`` reads: a JSONL file of ``{"agent", "task"}`` lines, and stdin as text.

Everything is checked before a request is sent, and every error names
``file:line``, so a typo in line 3,000 costs an ``error:`` line and exit 2, not
the tokens of the 2,999 lines before it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NamedTuple

from .._errors import ConfigError
from .._text import check_text

__all__ = ["Job", "read_jobs", "read_stdin"]

_EXPECTED = 'expected {"agent": str, "task": str}'


class Job(NamedTuple):
    """One line of a ``run-many`` file: where it is (``tasks.jsonl:3``) and what to run."""

    where: str
    agent: str
    task: str


def read_stdin(where: str) -> str:
    """All of stdin as text (``-`` for a task): read as bytes and decoded here.

    Decoded by us, not by Python's stream, so bytes that are not UTF-8 are one
    error line naming ``where``, not a traceback (UTF-8 locale) or surrogates
    that crash later (C locale). A leading BOM is dropped.

    Raises:
        ConfigError: stdin is not UTF-8.
    """
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(where, f"stdin is not valid UTF-8 (byte {exc.start})") from None


def _read_lines(source: str) -> tuple[str, list[str]]:
    """The name errors use (``<stdin>`` or the path) and the lines of ``source``.

    Split on ``\\n`` only: ``str.splitlines`` also splits on U+2028 and other
    separators that JSON allows raw inside a string, which would cut a valid
    line in two.
    """
    name = "<stdin>" if source == "-" else source
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(source, f"cannot read: {reason}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raw = exc.object  # the bytes after any BOM, which exc.start counts in
        number = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1)
        raise ConfigError(f"{name}:{number}", f"not valid UTF-8 (byte {column})") from None
    return name, text.split("\n")


def _parse_job(line: str, where: str) -> Job:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(where, f"invalid JSON ({exc.msg}); {_EXPECTED}") from None
    except RecursionError:  # [[[[…]]]] deeper than the decoder recurses
        raise ConfigError(where, f"invalid JSON (nested too deeply); {_EXPECTED}") from None
    except ValueError:  # an integer of thousands of digits
        raise ConfigError(where, f"invalid JSON (a number too long); {_EXPECTED}") from None
    ok = (
        isinstance(item, dict)
        and set(item) == {"agent", "task"}
        and isinstance(item["agent"], str)
        and isinstance(item["task"], str)
        and item["agent"].strip() != ""
        and item["task"].strip() != ""
    )
    if not ok:
        raise ConfigError(where, _EXPECTED)
    # A "\\ud800" escape decodes to a lone surrogate, which no request can carry.
    check_text(item["agent"], f"{where}: agent")
    check_text(item["task"], f"{where}: task")
    return Job(where, item["agent"], item["task"])


def read_jobs(source: str) -> list[Job]:
    """Parse a JSONL file of ``{"agent": ..., "task": ...}`` lines (``-`` for stdin).

    Blank lines are skipped. Errors name ``file:line`` so the line can be found.

    Raises:
        ConfigError: the file cannot be read, or a line is not such an object
            (bytes that are not UTF-8, JSON too deep, text with lone surrogates).
    """
    name, lines = _read_lines(source)
    jobs = [
        _parse_job(line, f"{name}:{number}")
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]
    if not jobs:
        raise ConfigError(name, f"no tasks in the file; {_EXPECTED} on each line")
    return jobs
