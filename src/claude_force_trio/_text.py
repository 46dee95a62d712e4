"""Text that must cross a UTF-8 boundary: tasks and config strings in, values printed out.

Why a check of its own: a Python ``str`` may hold lone surrogates that no
encoding accepts. Bytes that are not UTF-8 arrive that way from argv and stdin
(``b"\\xff"`` becomes ``"\\udcff"``), and JSON may spell one outright
(``"\\ud800"``). Such text loads fine and then crashes far away, where the
request is hashed, cached or sent. So it is checked once, where it enters
(the config loader, the engine's entry points, ``run-many`` lines), and the
error names the place. What we print is made safe the other way:
:func:`printable` spells a surrogate out instead of failing on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ._errors import ConfigError

__all__ = ["check_text", "hash_task", "hash_user_message", "printable", "text_problem"]


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent as UTF-8, or ``None`` when it can.

    Args:
        text: any string.

    Returns:
        e.g. ``not valid UTF-8 text (lone surrogate \\udcff at character 12)``.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        return f"not valid UTF-8 text (lone surrogate \\u{code:04x} at character {exc.start})"
    return None


def check_text(text: str, path: str) -> str:
    """Return ``text`` if it can be sent as UTF-8; else a :class:`ConfigError` naming ``path``.

    Args:
        text: a task or a config string.
        path: where it came from (``task``, ``jobs[3].task``, ``workflows.w.steps[0].task``).

    Raises:
        ConfigError: ``path: not valid UTF-8 text (lone surrogate \\ud800 at character 0)``.
    """
    problem = text_problem(text)
    if problem is not None:
        raise ConfigError(path, problem)
    return text


def printable(text: str) -> str:
    """``text`` with any lone surrogate spelled ``\\udcff``, so printing it cannot fail.

    Args:
        text: a path or value that may have come from undecodable bytes.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def hash_task(text: str) -> str:
    """The SHA-256 hex digest of a task: how events, metrics and memory name a task
    without storing it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_user_message(body: Mapping[str, object]) -> str:
    """The hash of a request body's last message: metrics group repeats without the task."""
    messages = body.get("messages")
    content = messages[-1].get("content", "") if isinstance(messages, list) and messages else ""
    return hash_task(content if isinstance(content, str) else repr(content))
