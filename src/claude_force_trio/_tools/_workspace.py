"""Read-only workspace tools: ``read_file``, ``list_files`` and ``search_text``.

``workspace_tools(root)`` offers a folder to the model, so an agent asked to
review code can read it. Every path is confined to the folder (see ``_paths``:
no absolute paths, no ``..`` above it, no symlink out, regular files only,
VCS and virtual-environment folders skipped), nothing is ever written, and
every answer is bounded: a file's text is cut at ``max_file_bytes`` with a
note saying where to go on, listings and searches stop at ``max_results`` and
walk at most ``100 × max_results`` entries, and a search reads at most
``64 × max_file_bytes`` in all. Binary files (a NUL byte in the first 8 KiB)
are refused by ``read_file`` and skipped by ``search_text``.

The tools are library tools of the methods below, so their schemas come from
the same signatures and docstrings, the model's input is validated the same
way, and the blocking filesystem work runs in worker threads.

Known limit: Python's ``re`` cannot be interrupted, so a catastrophic regex
(``(a+)+$``) on a long line may keep its worker thread busy after the tool
call has timed out (the step goes on; the thread ends when the match does).
"""

from __future__ import annotations

import os
import re
import stat
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, BinaryIO

from .._public import publish
from ._base import Tool, ToolError
from ._library import library_tool
from ._paths import Entry, Walk, Workspace, open_file, refuse_kind

__all__ = ["workspace_tools"]

#: Bytes looked at to tell a binary file: a NUL among them means binary (as git does).
_SNIFF = 8192
#: A walk visits at most this many entries per result it may return.
_WALK_FACTOR = 100
#: A search reads at most this many times ``max_file_bytes`` in all.
_SCAN_FACTOR = 64
#: A matching line is quoted up to this many characters.
_QUOTE = 200


def workspace_tools(
    root: Path, *, max_file_bytes: int = 256 * 1024, max_results: int = 200
) -> list[Tool]:
    """The read-only tools for the folder ``root``: read_file, list_files, search_text.

    Args:
        root: the folder the model may read (nothing outside it).
        max_file_bytes: the most text one ``read_file`` answer holds, and the
            most of one file a search reads.
        max_results: the most entries a listing, or matches a search, returns.

    Raises:
        ValueError: ``root`` is not a directory, or a bound is not positive.
        RuntimeError: the OS cannot confine paths (no ``openat``).
    """
    if max_file_bytes < 1 or max_results < 1:
        raise ValueError("max_file_bytes and max_results must be positive")
    files = _Files(Workspace(root), max_file_bytes, max_results)
    return [library_tool(files.read_file), library_tool(files.list_files),
            library_tool(files.search_text)]  # fmt: skip


def _size(count: int) -> str:
    return f"{count // 1024} KiB" if count >= 1024 and not count % 1024 else f"{count} bytes"


class _Files:
    """The three tools over one workspace (their methods' docstrings are what the model reads)."""

    def __init__(self, workspace: Workspace, max_file_bytes: int, max_results: int) -> None:
        self._ws = workspace
        self._cap = max_file_bytes
        self._results = max_results

    def read_file(
        self,
        path: Annotated[str, "The file, relative to the workspace root (e.g. 'src/app.py')."],
        start_line: Annotated[int, {"minimum": 1}] = 1,
        max_lines: Annotated[int | None, {"minimum": 1}] = None,
    ) -> str:
        """Read a text file of the workspace, each line prefixed with its number and a tab.

        Long output is cut with a note saying which start_line continues it.

        Args:
            path: the file, relative to the workspace root.
            start_line: the first line to show (1 is the first line of the file).
            max_lines: the most lines to show; default: as many as fit.
        """
        fd, shown, mode = self._ws.open(path)
        try:
            refuse_kind(shown, mode, "file")
        except ToolError:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as file:
            if b"\x00" in file.read(_SNIFF):
                raise ToolError(f"{shown} looks binary (it holds NUL bytes); only text is read")
            file.seek(0)
            return _Lines(file, shown, self._cap).read(start_line, max_lines)

    def list_files(
        self,
        path: Annotated[str, "The folder, relative to the workspace root."] = ".",
        pattern: Annotated[str | None, "A glob such as '*.py', matched against names"] = None,
        recursive: bool = False,
    ) -> str:
        """List a folder of the workspace: folders end with '/', symbolic links with '@'.

        Args:
            path: the folder, relative to the workspace root ('.' is the root).
            pattern: keep only the entries whose name (or, if the glob holds a
                '/', whose path) matches it.
            recursive: list the folders below as well.
        """
        fd, shown, mode = self._ws.open(path)
        try:
            refuse_kind(shown, mode, "dir")
            walk = Walk(_WALK_FACTOR * self._results)
            lines: list[str] = []
            more = False
            for entry in walk.entries(fd, shown, recursive=recursive):
                if pattern and not _matches(entry, pattern):
                    continue
                if len(lines) == self._results:
                    more = True
                    break
                lines.append(entry.path + {"dir": "/", "link": "@"}.get(entry.kind, ""))
        finally:
            os.close(fd)
        if more or walk.truncated:
            lines.append(f"[listing stopped at {len(lines)} entries; narrow the path or pattern]")
        if not lines:
            return f"{shown}: no entries" + (f" match {pattern!r}" if pattern else "")
        return "\n".join(lines)

    def search_text(
        self,
        pattern: Annotated[str, {"minLength": 1}],
        path: Annotated[str, "A file or folder, relative to the workspace root."] = ".",
        regex: bool = False,
        max_results: Annotated[int | None, {"minimum": 1}] = None,
    ) -> str:
        """Find the lines of the workspace's text files that contain a string or match a regex.

        Each match is given as 'path:line: text'.

        Args:
            pattern: the text to find (or a Python regular expression, with regex).
            path: the file or folder to search, relative to the workspace root.
            regex: treat the pattern as a regular expression.
            max_results: the most matches to return.
        """
        try:
            wanted = re.compile(pattern if regex else re.escape(pattern))
        except re.error as exc:
            raise ToolError(f"invalid regular expression {pattern!r}: {exc}") from None
        limit = min(max_results or self._results, self._results)
        search = _Search(wanted, limit, self._cap, _SCAN_FACTOR * self._cap)
        fd, shown, mode = self._ws.open(path)
        try:
            if stat.S_ISDIR(mode):  # a folder: walk it
                walk = Walk(_WALK_FACTOR * self._results)
                for entry in walk.entries(fd, shown, recursive=True):
                    if entry.kind == "file" and not search.file(entry):
                        break
                if walk.truncated and not search.stopped:
                    search.stopped = f"after {walk.visited} entries"
            else:
                refuse_kind(shown, mode, "file")
                search.read(os.dup(fd), shown)
        finally:
            os.close(fd)
        return search.report(pattern, shown)


def _matches(entry: Entry, pattern: str) -> bool:
    return fnmatchcase(entry.path if "/" in pattern else entry.name, pattern)


class _Lines:
    """Numbered lines of one open text file, within a byte budget."""

    def __init__(self, file: BinaryIO, shown: str, cap: int) -> None:
        self._file = file
        self._shown = shown
        self._cap = cap

    def read(self, start: int, max_lines: int | None) -> str:
        out: list[str] = []
        used = number = skipped = 0  # number: how many whole lines are behind us
        note = ""
        while raw := self._file.readline(self._cap + 1):
            whole = raw.endswith(b"\n") or len(raw) <= self._cap
            if number + 1 < start:
                number += whole
                skipped += len(raw)
                if skipped > _SCAN_FACTOR * self._cap:
                    raise ToolError(
                        f"{self._shown}: line {start} lies beyond the first"
                        f" {_size(_SCAN_FACTOR * self._cap)}, as far as read_file goes"
                    )
                continue
            if max_lines is not None and len(out) == max_lines:
                note = f"[more lines follow; continue with start_line={number + 1}]"
                break
            entry = f"{number + 1:>6}\t{raw.decode('utf-8', 'replace').rstrip(chr(13) + chr(10))}"
            if used + len(entry.encode()) + 1 > self._cap:
                if not out:  # one line longer than the budget: show its start
                    out.append(entry.encode()[: self._cap].decode("utf-8", "ignore"))
                    number += 1
                note = f"[output cut at {_size(self._cap)}; continue with start_line={number + 1}]"
                break
            out.append(entry)
            used += len(entry.encode()) + 1
            number += 1
        if not out:
            if number == 0:
                return f"{self._shown} is empty"
            raise ToolError(f"{self._shown} has {number} lines; start_line {start} is past the end")
        return "\n".join([*out, note] if note else out)


class _Search:
    """One search's matches and bounds, fed file by file."""

    def __init__(self, wanted: re.Pattern[str], limit: int, per_file: int, total: int) -> None:
        self._wanted = wanted
        self._limit = limit
        self._per_file = per_file
        self._total = total
        self._budget = total
        self.matches: list[str] = []
        self.files = 0
        self.partial = 0
        #: Why the search ended early ("at 200 matches"…); "" if it did not.
        self.stopped = ""

    def file(self, entry: Entry) -> bool:
        """Search one walked file; ``False`` once a bound is reached (stop walking)."""
        fd = open_file(entry)
        if fd is not None:
            self.read(fd, entry.path)
        return not self.stopped

    def read(self, fd: int, shown: str) -> None:
        """Search the open file ``fd`` (closed here), shown to the model as ``shown``."""
        if self._budget <= 0:
            os.close(fd)
            self.stopped = f"after reading {_size(self._total)}"
            return
        take = min(self._per_file, self._budget)
        with os.fdopen(fd, "rb") as file:
            data = file.read(take + 1)
        if b"\x00" in data[:_SNIFF]:
            return
        self.files += 1
        if len(data) > take:
            data = data[:take]
            self.partial += 1
        self._budget -= len(data)
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if self._wanted.search(line):
                if len(self.matches) == self._limit:
                    self.stopped = f"at {self._limit} matches"
                    return
                self.matches.append(f"{shown}:{number}: {line.strip()[:_QUOTE]}")

    def report(self, pattern: str, shown: str) -> str:
        """The matches, one a line, then a note for each bound that was reached."""
        lines = list(self.matches)
        if not lines:
            lines.append(f"no matches for {pattern!r} in {self.files} files under {shown}")
        if self.stopped:
            lines.append(f"[search stopped {self.stopped}; narrow the path or pattern]")
        if self.partial:
            lines.append(f"[{self.partial} large files were searched in their first part only]")
        return "\n".join(lines)


publish(globals())
