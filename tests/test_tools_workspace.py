"""Workspace tools: confined to their folder, read-only, bounded, and clear when they refuse."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from claude_force_trio._tools import Tool, ToolError, workspace_tools

pytestmark = pytest.mark.anyio


def tools_of(root: Path, **bounds: int) -> dict[str, Tool]:
    """The workspace tools of ``root`` by name."""
    return {made.spec.name: made for made in workspace_tools(root, **bounds)}


async def run(root: Path, name: str, **arguments: Any) -> str:
    """Call one tool and return its text."""
    output = await tools_of(root)[name].call(arguments)
    assert isinstance(output.content, str)
    return output.content


async def refusal(root: Path, name: str, **arguments: Any) -> str:
    """Call one tool that must refuse; its message, checked to show no host path."""
    with pytest.raises(ToolError) as caught:
        await tools_of(root)[name].call(arguments)
    message = str(caught.value)
    assert str(root) not in message
    assert str(root.parent) not in message
    return message


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A small project: code, a nested folder, a VCS folder and a cache."""
    work = tmp_path / "work"
    (work / "src" / "pkg").mkdir(parents=True)
    (work / "src" / "app.py").write_text("import os\nprint('hi')\nSECRET = 1\n")
    (work / "src" / "pkg" / "util.py").write_text("def helper():\n    return 'hi'\n")
    (work / "README.md").write_text("# Demo\n")
    for hidden in (".git", "node_modules", "__pycache__", ".venv"):
        (work / hidden).mkdir()
        (work / hidden / "inside.py").write_text("print('hi')\n")
    (tmp_path / "outside.txt").write_text("host secret\n")
    return work


def test_the_three_tools_and_their_schemas(root: Path) -> None:
    """read_file, list_files and search_text, each with a described object schema."""
    made = tools_of(root)
    assert sorted(made) == ["list_files", "read_file", "search_text"]
    read = made["read_file"].spec
    assert read.description.startswith("Read a text file of the workspace")
    assert read.input_schema["required"] == ["path"]
    assert read.input_schema["properties"]["start_line"] == {
        "type": "integer",
        "minimum": 1,
        "description": "the first line to show (1 is the first line of the file).",
        "default": 1,
    }
    assert not any(tool.spec.side_effects for tool in made.values())


async def test_read_file_numbers_lines(root: Path) -> None:
    """A file comes back with line numbers; start_line and max_lines pick a window."""
    assert await run(root, "read_file", path="src/app.py") == (
        "     1\timport os\n     2\tprint('hi')\n     3\tSECRET = 1"
    )
    window = await run(root, "read_file", path="./src/../src/app.py", start_line=2, max_lines=1)
    assert window == "     2\tprint('hi')\n[more lines follow; continue with start_line=3]"
    assert "past the end" in await refusal(root, "read_file", path="src/app.py", start_line=9)
    (root / "empty.txt").write_text("")
    assert await run(root, "read_file", path="empty.txt") == "empty.txt is empty"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("../outside.txt", "'../outside.txt' leads outside the workspace"),
        ("src/../../outside.txt", "leads outside the workspace"),
        ("/etc/passwd", "absolute paths are not allowed"),
        ("missing.py", "missing.py: not found"),
        ("src/app.py/x", "not found"),
        (".git/config", ".git/config: version-control folders are not readable"),
        ("src", "src is a directory; use list_files"),
        ("a\x00b", "without NUL characters"),
    ],
)
async def test_read_file_refuses_paths_outside_and_odd_ones(
    root: Path, path: str, fragment: str
) -> None:
    """Absolute paths, .., VCS folders, missing files, folders and NULs are refused clearly."""
    assert fragment in await refusal(root, "read_file", path=path)


async def test_symlinks_out_are_refused_and_inside_ones_followed(root: Path) -> None:
    """A symlink that leads outside (absolute or relative) is refused; one inside is read."""
    outside = root.parent / "outside.txt"
    (root / "abs-link").symlink_to(outside)
    (root / "rel-link").symlink_to("../outside.txt")
    (root / "dir-link").symlink_to(root.parent)
    (root / "good-link").symlink_to("src/app.py")
    for path in ("abs-link", "rel-link", "dir-link/outside.txt"):
        message = await refusal(root, "read_file", path=path)
        assert "leads outside the workspace" in message
    assert (await run(root, "read_file", path="good-link")).startswith("     1\timport os")


async def test_special_and_binary_files_are_refused(root: Path) -> None:
    """A FIFO is refused without blocking; a file with NUL bytes is refused as binary."""
    os.mkfifo(root / "pipe")
    (root / "blob.bin").write_bytes(b"\x89PNG\x00\x00data")
    assert "pipe is a FIFO, not a regular file" in await refusal(root, "read_file", path="pipe")
    assert "blob.bin looks binary" in await refusal(root, "read_file", path="blob.bin")


async def test_big_file_is_cut_with_a_note_that_says_where_to_go_on(root: Path) -> None:
    """Output stops at max_file_bytes on a line boundary; the note gives the next start_line."""
    (root / "big.txt").write_text("".join(f"line {n:04}\n" for n in range(1, 1001)))
    read = tools_of(root, max_file_bytes=100)["read_file"]
    first = (await read.call({"path": "big.txt"})).content
    assert isinstance(first, str)
    assert first.splitlines()[:2] == ["     1\tline 0001", "     2\tline 0002"]
    # Each numbered line is 17 bytes with its newline: five fit in 100.
    assert first.endswith(
        "     5\tline 0005\n[output cut at 100 bytes; continue with start_line=6]"
    )
    nxt = (await read.call({"path": "big.txt", "start_line": 6})).content
    assert isinstance(nxt, str)
    assert nxt.startswith("     6\tline 0006\n")
    (root / "wide.txt").write_text("x" * 500 + "\nnext\n")
    wide = (await read.call({"path": "wide.txt"})).content
    assert isinstance(wide, str)
    assert wide.endswith("[output cut at 100 bytes; continue with start_line=2]")
    far = await tools_of(root, max_file_bytes=10)["read_file"].call(
        {"path": "big.txt", "start_line": 60}
    )
    assert far.content == "    60\tlin\n[output cut at 10 bytes; continue with start_line=61]"


async def test_read_file_does_not_scan_without_bound(root: Path) -> None:
    """A start_line far into a huge file is refused once read_file has scanned its limit."""
    (root / "huge.txt").write_text("y\n" * 5000)
    read = tools_of(root, max_file_bytes=16)["read_file"]
    with pytest.raises(ToolError, match="line 4000 lies beyond the first 1 KiB"):
        await read.call({"path": "huge.txt", "start_line": 4000})


async def test_list_files_skips_hidden_tool_folders(root: Path) -> None:
    """Listings mark folders and links, skip .git/.venv/node_modules/__pycache__, filter by glob."""
    (root / "link").symlink_to("src")
    assert await run(root, "list_files") == "README.md\nlink@\nsrc/"
    assert await run(root, "list_files", recursive=True) == (
        "README.md\nlink@\nsrc/\nsrc/app.py\nsrc/pkg/\nsrc/pkg/util.py"
    )
    assert await run(root, "list_files", path="src", pattern="*.py", recursive=True) == (
        "src/app.py\nsrc/pkg/util.py"
    )
    assert await run(root, "list_files", pattern="src/pkg/*", recursive=True) == "src/pkg/util.py"
    assert await run(root, "list_files", pattern="*.rs") == ".: no entries match '*.rs'"
    assert "is a file, not a directory" in await refusal(root, "list_files", path="README.md")
    assert "leads outside" in await refusal(root, "list_files", path="..")


async def test_list_files_is_bounded(root: Path) -> None:
    """A listing returns at most max_results entries and says it stopped."""
    for n in range(10):
        (root / f"f{n}.txt").write_text("x")
    listed = (await tools_of(root, max_results=3)["list_files"].call({})).content
    note = "[listing stopped at 3 entries; narrow the path or pattern]"
    assert listed == f"README.md\nf0.txt\nf1.txt\n{note}"


async def test_search_text_finds_lines_and_skips_hidden_and_binary(root: Path) -> None:
    """Matches come as path:line: text, literal by default; hidden folders and binaries skipped."""
    (root / "blob.bin").write_bytes(b"hi\x00there")
    found = await run(root, "search_text", pattern="'hi'")
    assert found == "src/app.py:2: print('hi')\nsrc/pkg/util.py:2: return 'hi'"
    assert await run(root, "search_text", pattern=r"^SECRET\s*=", regex=True) == (
        "src/app.py:3: SECRET = 1"
    )
    assert await run(root, "search_text", pattern="(", path="src/app.py") == (
        "src/app.py:2: print('hi')"
    )
    assert await run(root, "search_text", pattern="nothing-here") == (
        "no matches for 'nothing-here' in 3 files under ."
    )
    assert "invalid regular expression '('" in await refusal(
        root, "search_text", pattern="(", regex=True
    )


async def test_search_text_is_bounded_by_results_and_bytes(root: Path) -> None:
    """A search stops at max_results matches, and at its total read limit, saying so."""
    for n in range(20):
        (root / f"m{n:02}.txt").write_text("match\n" * 3)
    search = tools_of(root, max_results=5)["search_text"]
    hits = (await search.call({"pattern": "match", "max_results": 50})).content
    assert isinstance(hits, str)
    assert hits.splitlines()[:5] == [f"m0{n // 3}.txt:{n % 3 + 1}: match" for n in range(5)]
    assert hits.endswith("[search stopped at 5 matches; narrow the path or pattern]")
    few = (await search.call({"pattern": "match", "max_results": 2})).content
    assert isinstance(few, str)
    assert few.count("\n") == 2
    # 16-byte files, 64 × 16 = 1 KiB in all: the walk stops after 1024 bytes (64 files).
    for n in range(100):
        (root / "many" / f"{n:03}.txt").parent.mkdir(exist_ok=True)
        (root / "many" / f"{n:03}.txt").write_text("abcdefghijklmno\n")
    scan = tools_of(root, max_file_bytes=16, max_results=200)["search_text"]
    stopped = (await scan.call({"pattern": "zzz", "path": "many"})).content
    assert stopped == (
        "no matches for 'zzz' in 64 files under many\n"
        "[search stopped after reading 1 KiB; narrow the path or pattern]"
    )


def test_workspace_root_must_be_a_folder(tmp_path: Path) -> None:
    """A root that is not a directory, or a bound that is not positive, is refused up front."""
    with pytest.raises(ValueError, match="not a directory"):
        workspace_tools(tmp_path / "nope")
    with pytest.raises(ValueError, match="must be positive"):
        workspace_tools(tmp_path, max_results=0)
