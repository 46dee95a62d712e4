"""A stdio MCP server's stderr: kept as a bounded tail, never copied to our output.

Why a pipe of our own: the SDK hands ``errlog`` to the child as its stderr, so
by default a server's chatter (start-up banners, tracebacks) lands on the CLI's
terminal, mixed into the live table or a ``--json`` document. Here it goes to a
pipe we drain: the last few KiB are kept (for a one-line reason when the server
fails to start) and every line goes to the ``claude_force_trio.mcp`` logger at
debug level. The pipe is always drained, so a chatty server never blocks on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from typing import TextIO

import anyio

__all__ = ["StderrTail"]

_log = logging.getLogger("claude_force_trio.mcp")
_KEEP = 8 * 1024
_CHUNK = 64 * 1024
_MAX_REASON = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class StderrTail:
    """The read end of a server's stderr pipe and the last bytes read from it.

    Use :meth:`writer` as the SDK's ``errlog``, call :meth:`spawned` once the
    process runs (our copy of the write end must close, or the pipe never ends),
    and run :meth:`drain` in a task until the pipe ends or the task is cancelled.
    """

    def __init__(self, server: str) -> None:
        # Created inside the event loop (anyio's Event needs one).
        self._server = server
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self._read_fd = read_fd
        self._writer: TextIO | None = open(write_fd, "w", encoding="utf-8")  # noqa: SIM115
        self._tail = bytearray()
        #: Set once the pipe has ended (every writer closed) or the drain stopped.
        self.ended = anyio.Event()

    @property
    def writer(self) -> TextIO:
        """The file the server process gets as its stderr."""
        if self._writer is None:
            raise RuntimeError("the stderr pipe was already handed over")
        return self._writer

    def spawned(self) -> None:
        """Drop our copy of the write end: the child holds its own now."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def drain(self) -> None:
        """Read the pipe to its end, keeping the tail; closes both ends when done."""
        try:
            while True:
                await anyio.wait_readable(self._read_fd)
                try:
                    chunk = os.read(self._read_fd, _CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    return
                self._keep(chunk)
        except (OSError, anyio.ClosedResourceError):
            return
        finally:
            self.spawned()
            with contextlib.suppress(OSError):
                os.close(self._read_fd)
            self.ended.set()

    def _keep(self, chunk: bytes) -> None:
        self._tail += chunk
        del self._tail[:-_KEEP]
        for line in chunk.decode("utf-8", "replace").splitlines():
            _log.debug("MCP server %r: %s", self._server, line)

    def last_line(self) -> str:
        """The last non-blank line written so far, one line, capped; ``""`` if none."""
        lines = self._tail.decode("utf-8", "replace").splitlines()
        line = next((text.strip() for text in reversed(lines) if text.strip()), "")
        line = _CONTROL.sub(lambda match: repr(match.group())[1:-1], line)
        return line if len(line) <= _MAX_REASON else line[:_MAX_REASON] + "…"
