"""Where the CLI writes: one rich Console for stdout, one for stderr, and small helpers.

Why helpers instead of ``print`` everywhere: the contract is that
stdout carries results only — exactly one JSON document under ``--json`` — and
every diagnostic (errors, the simulator notice, summaries) goes to stderr as one
line, never wrapped, never a traceback. Keeping those rules in one module makes
them hard to break.

Consoles are created lazily and re-created when ``sys.stdout``/``sys.stderr``
change (``typer.testing.CliRunner`` swaps them per invocation); rich itself is
imported only when something is printed, so ``cft --help`` stays fast.

A reader that goes away (``cft runs list | head -1``) is not an error: the
console script's stdout is guarded (:func:`guard_stdout`) so the first
``BrokenPipeError`` points stdout at the null device and the command finishes
quietly, with no traceback from wherever the write happened (an event hook, a
table, ``print_json``). Not ``SIGPIPE``'s default action: that would also kill
the process when an API or Redis connection is reset mid-write.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "MarkdownOption",
    "detail",
    "error",
    "guard_stdout",
    "interactive",
    "notice",
    "print_json",
    "stderr",
    "stdout",
    "success",
    "terminal",
    "write",
]

_consoles: dict[str, tuple[TextIO, Console]] = {}

#: ``--markdown``: replies and definitions are printed as the text they are unless asked.
MarkdownOption = Annotated[
    bool,
    typer.Option("--markdown", help="Render replies as Markdown (default: printed as text)."),
]


class _PipeGuard:
    """``sys.stdout``, but a closed reader sends the rest to the null device instead of raising."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed_pipe = False

    def _silence(self) -> None:
        self.closed_pipe = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # no file descriptor (a test's stream)
            pass

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._silence()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_stdout() -> None:
    """Make a closed stdout (the reader of a pipe left) end output quietly: see the docstring."""
    if not isinstance(sys.stdout, _PipeGuard):
        sys.stdout = _PipeGuard(sys.stdout)


def _console(name: str, stream: TextIO) -> Console:
    cached = _consoles.get(name)
    if cached is not None and cached[0] is stream:
        return cached[1]
    from rich.console import Console

    isatty = getattr(stream, "isatty", None)
    terminal = bool(isatty and isatty())
    # On a pipe nobody's window is 80 columns wide: let tables keep every column
    # rather than truncating them (COLUMNS still wins when set).
    width = None if terminal or os.environ.get("COLUMNS") else 400
    console = Console(file=stream, highlight=False, width=width)
    _consoles[name] = (stream, console)
    return console


def stdout() -> Console:
    """The Console for results (tables, outputs) on the current ``sys.stdout``."""
    return _console("stdout", sys.stdout)


def stderr() -> Console:
    """The Console for diagnostics on the current ``sys.stderr``."""
    return _console("stderr", sys.stderr)


def terminal() -> bool:
    """True when stdout is a terminal: someone watches it as it is written.

    Unlike :func:`interactive`, ``NO_COLOR`` does not matter: it asks for no
    colour, not for output held back (``run --stream`` streams to a terminal
    either way, and buffers for a pipe).
    """
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def interactive() -> bool:
    """True when stdout is a terminal that may get live tables and colour.

    A pipe or ``NO_COLOR`` (https://no-color.org) gets plain text instead.
    """
    return terminal() and not os.environ.get("NO_COLOR")


def _line(stream_console: Console, prefix: str, style: str, message: str) -> None:
    from rich.text import Text

    text = Text(prefix, style=style)
    text.append(" " + " ".join(message.splitlines()) if message else "")
    # soft_wrap: an error is one line however narrow the terminal, so scripts can grep it.
    stream_console.print(text, soft_wrap=True)


def error(message: str) -> None:
    """Print ``error: <message>`` as one line on stderr."""
    _line(stderr(), "error:", "bold red", message)


def notice(message: str) -> None:
    """Print ``notice: <message>`` as one line on stderr (e.g. the simulator notice)."""
    _line(stderr(), "notice:", "yellow", message)


def detail(message: str) -> None:
    """Print ``message`` dim, as one line on stderr (summaries, restarts)."""
    stderr().print(" ".join(message.splitlines()), style="dim", soft_wrap=True, markup=False)


def success(message: str, *, err: bool = False) -> None:
    """Print ``✓ <message>`` in green, on stdout unless ``err``."""
    _line(stderr() if err else stdout(), "✓", "bold green", message)


def write(text: str, *, err: bool = False) -> None:
    """Write text verbatim (no markup, no wrapping): model outputs are not ours to reflow."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text)
    stream.flush()


def print_json(document: Any) -> None:
    """Print one JSON document on stdout, and nothing else."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
