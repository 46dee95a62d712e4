"""The dashboard's terminal: keys read at once (cbreak), and the terminal put back on every exit.

Why cbreak and not raw mode: ``q`` must act without Enter and without being
echoed, but Ctrl-C must still interrupt (cbreak keeps ``ISIG``), and output
keeps its usual newline handling, so what rich draws looks the same over SSH.
The saved settings are restored in a ``finally``: after ``q``, Ctrl-C, an
exception, or SIGTERM (turned into :class:`SystemExit` while the view runs).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Iterator
from types import FrameType

__all__ = ["Keys", "keys", "terminating_exits"]


class Keys:
    """Key presses from a terminal's descriptor, waited for with a timeout.

    Args:
        fd: the terminal's descriptor, or ``None`` when stdin is not a terminal
            (then :meth:`wait` only waits).
    """

    __slots__ = ("fd",)

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def wait(self, timeout: float) -> str:
        """What was typed within ``timeout`` seconds (``""``: nothing)."""
        watched = [] if self.fd is None else [self.fd]
        ready, _, _ = select.select(watched, [], [], max(timeout, 0.0))
        if not ready or self.fd is None:
            return ""
        data = os.read(self.fd, 64)
        if not data:  # the terminal went away: stop watching it
            self.fd = None
        return data.decode("utf-8", "replace")


@contextlib.contextmanager
def keys() -> Iterator[Keys]:
    """Stdin in cbreak mode while the block runs (when it is a terminal); restored after."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd < 0 or not os.isatty(fd):
        yield Keys(None)
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield Keys(fd)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def terminating_exits() -> Iterator[None]:
    """SIGTERM raises :class:`SystemExit` (143) while the block runs, so cleanups run."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
