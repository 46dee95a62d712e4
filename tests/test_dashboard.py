"""``cft dashboard``: the incremental reader, the rolling figures, the state lines, the views.

Times are fixed epoch seconds passed in (``now``), so every figure is exact;
the pseudo-terminal test runs the real command against a file another process
appends to.
"""

from __future__ import annotations

import copy
import io
import json
import os
import select
import subprocess
import sys
import termios
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claude_force_trio._events import BreakerStateChanged, ConcurrencyChanged
from claude_force_trio._metrics import FIELDS, MetricsRecorder, ReadStats, read_records
from claude_force_trio._metrics._record import is_state_line
from claude_force_trio.cli import app
from claude_force_trio.cli._dashboard_tail import MetricsTail
from claude_force_trio.cli._dashboard_view import plain, render, snapshot, sparkline
from claude_force_trio.cli._dashboard_window import RollingStats
from tests.test_config import BASE, make_project
from tests.test_metrics import finished

runner = CliRunner()
#: 2027-01-15T08:00:00Z: a fixed "now" for the rolling figures.
NOW = 1_800_000_000.0


def iso(epoch: float) -> str:
    """The recorder's time stamp for ``epoch``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def call(at: float, **kw: Any) -> bytes:
    """One call line as the recorder writes it (FIELDS order, compact), finished at ``at``."""
    doc: dict[str, Any] = dict.fromkeys(FIELDS)
    doc |= {
        "ts": iso(at),
        "agent": "linter",
        "model": "claude-sonnet-4-5",
        "success": True,
        "status": "succeeded",
        "cached": False,
        "attempts": 1,
        "latency_ms": 100.0,
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cost_usd": 0.01,
        "project": "p1",
    } | kw
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def state(kind: str, at: float = NOW, pid: int = 4242, **kw: Any) -> bytes:
    """One state line (breaker, concurrency, closed) as the recorder writes it."""
    doc = {"ts": iso(at), "kind": kind, "pid": pid, "engine": "e1", "project": "p1"} | kw
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def append(folder: Path, data: bytes, name: str = "executions.jsonl") -> None:
    """Append ``data`` to a metrics file."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "ab") as handle:
        handle.write(data)


def agents(tail: MetricsTail) -> list[str]:
    """The ``agent`` of each line the next read yields."""
    return [json.loads(line)["agent"] for line in tail.lines()]


# -- the incremental reader --------------------------------------------------------------


def test_tail_reads_only_what_was_appended(tmp_path: Path) -> None:
    """Each read yields the new lines only, and reads only the new bytes."""
    append(tmp_path, call(NOW, agent="a") + call(NOW, agent="b"))
    with MetricsTail(tmp_path, tail_bytes=1 << 20) as tail:
        assert agents(tail) == ["a", "b"]
        assert agents(tail) == []
        before = tail.stats.bytes_read
        new = call(NOW, agent="c")
        append(tmp_path, new)
        assert agents(tail) == ["c"]
        assert tail.stats.bytes_read - before == len(new)


def test_a_torn_last_line_waits_for_its_end(tmp_path: Path) -> None:
    """Half a line is not yielded; once its writer finishes it, the whole line is."""
    line = call(NOW, agent="torn")
    append(tmp_path, call(NOW, agent="a") + line[:40])
    with MetricsTail(tmp_path, tail_bytes=1 << 20) as tail:
        assert agents(tail) == ["a"]
        append(tmp_path, line[40:-1])
        assert agents(tail) == []
        append(tmp_path, b"\n")
        assert agents(tail) == ["torn"]


def test_rotation_finishes_the_old_file_then_reads_the_new_one(tmp_path: Path) -> None:
    """A rename to executions.1.jsonl is seen by the inode: old tail, then the new file."""
    append(tmp_path, call(NOW, agent="a"))
    with MetricsTail(tmp_path, tail_bytes=1 << 20) as tail:
        assert agents(tail) == ["a"]
        append(tmp_path, call(NOW, agent="b"))  # lands before the rotation
        (tmp_path / "executions.jsonl").rename(tmp_path / "executions.1.jsonl")
        assert agents(tail) == ["b"]  # the old file's end, no new file yet
        append(tmp_path, call(NOW, agent="c"))
        assert agents(tail) == ["c"]
        assert tail.stats.rotations == 1
        append(tmp_path, call(NOW, agent="d"))
        assert agents(tail) == ["d"]


def test_truncation_starts_over(tmp_path: Path) -> None:
    """A file cut shorter than the offset is read again from its start."""
    append(tmp_path, call(NOW, agent="a") + call(NOW, agent="b"))
    with MetricsTail(tmp_path, tail_bytes=1 << 20) as tail:
        assert agents(tail) == ["a", "b"]
        (tmp_path / "executions.jsonl").write_bytes(call(NOW, agent="c"))
        assert agents(tail) == ["c"]
        assert tail.stats.truncations == 1


def test_the_first_read_takes_the_tail_across_rotated_files(tmp_path: Path) -> None:
    """Only the last tail_bytes are read, from the first whole line; older files first."""
    one = call(NOW, agent="x")
    append(tmp_path, one * 3, "executions.2.jsonl")
    append(tmp_path, call(NOW, agent="o") + call(NOW, agent="p"), "executions.1.jsonl")
    append(tmp_path, call(NOW, agent="n"))
    size = len(one)  # every line has the same length here
    with MetricsTail(tmp_path, tail_bytes=2 * size + 10) as tail:
        assert agents(tail) == ["p", "n"]  # "o" was cut: its head was out of budget
        assert tail.stats.skipped_bytes == 3 * size + size
        append(tmp_path, call(NOW, agent="next"))
        assert agents(tail) == ["next"]


def test_a_missing_file_is_waited_for(tmp_path: Path) -> None:
    """No metrics yet: nothing to read, and the file is picked up once it appears."""
    with MetricsTail(tmp_path / "metrics", tail_bytes=0) as tail:
        assert agents(tail) == []
        append(tmp_path / "metrics", call(NOW, agent="a"))
        assert agents(tail) == ["a"]


# -- the rolling figures -------------------------------------------------------------------


def fed(lines: list[bytes], *, now: float = NOW, **kw: Any) -> RollingStats:
    """RollingStats at ``now`` with ``lines`` fed in."""
    stats = RollingStats(now, alive=lambda pid: pid == 4242, **kw)
    for line in lines:
        stats.feed(line.rstrip(b"\n"))
    return stats


def doc_of(stats: RollingStats, **read: Any) -> dict[str, Any]:
    """The snapshot document of ``stats``."""
    from claude_force_trio.cli._dashboard_tail import TailStats

    return snapshot(stats, TailStats(**read))


def test_rates_over_the_last_minute_are_exact() -> None:
    """Calls/s, percentiles, tokens/s, cost/min, cache hits, errors and in-flight on fixed input."""
    lines = [call(NOW - i, latency_ms=100.0 * (i + 1), cached=i % 4 == 0) for i in range(10)]
    lines.append(call(NOW - 5, success=False, status="failed", error_type="RateLimitError"))
    lines.append(call(NOW - 7, success=False, status="timed_out", cost_usd=None))
    lines.append(call(NOW - 120, latency_ms=9999.0))  # outside the minute, inside the ring
    doc = doc_of(fed(lines))
    assert doc["calls"] == 12
    assert doc["calls_per_s"] == 0.2
    # 100, 100, 100 (the failures), 200 … 1000: ranks 5.5 and 10.45 of 12
    assert doc["latency_ms"] == {"p50": 450.0, "p95": 945.0}
    assert doc["tokens_per_s"] == {"input": 2.0, "output": 1.0}
    assert doc["cost_per_min_usd"] == 0.11
    assert doc["cache_hit_rate"] == round(3 / 12, 4)
    assert doc["error_rate"] == round(2 / 12, 4)
    assert doc["errors"] == {"RateLimitError": 1, "timed_out": 1}
    assert doc["in_flight"] == round((5500 + 200) / 1000 / 60, 3)
    assert doc["today"] == {"date": "2027-01-15", "calls": 13, "cost_usd": 0.12, "complete": True}


def test_p50_interpolates_like_the_metrics_summary() -> None:
    """The window's percentiles are Quantiles' (linear between ranks)."""
    lines = [call(NOW - 1, latency_ms=v) for v in (10.0, 20.0, 30.0, 40.0)]
    assert doc_of(fed(lines))["latency_ms"] == {"p50": 25.0, "p95": 38.5}


def test_advancing_the_clock_rolls_calls_out_of_the_window() -> None:
    """A minute later the calls have left the rates but stay in the sparklines and today."""
    stats = fed([call(NOW - 1), call(NOW)])
    assert doc_of(stats)["calls"] == 2
    stats.advance(NOW + 61)
    doc = doc_of(stats)
    assert (doc["calls"], doc["latency_ms"]["p50"], doc["today"]["calls"]) == (0, None, 2)
    assert sum(doc["sparklines"]["calls_per_s"]) * 30 == pytest.approx(2, abs=0.01)
    stats.advance(NOW + 900)
    assert sum(doc_of(stats)["sparklines"]["calls_per_s"]) == 0


def test_sparklines_have_one_column_per_step() -> None:
    """The ring of 900 s in 30 s columns: 30 columns, a call in the newest one."""
    doc = doc_of(fed([call(NOW)]))
    spark = doc["sparklines"]
    assert len(spark["calls_per_s"]) == 30
    assert spark["calls_per_s"][-1] == round(1 / 30, 4)
    assert spark["latency_ms_mean"][-1] == 100.0
    assert spark["latency_ms_mean"][0] is None
    assert spark["error_rate"][-1] == 0.0


def test_a_new_utc_day_restarts_todays_totals() -> None:
    """At midnight UTC today's calls and cost start from zero."""
    midnight = 1_800_057_600.0  # 2027-01-16T00:00:00Z
    stats = fed([call(midnight - 10)], now=midnight - 5)
    assert stats.today_calls == 1
    stats.advance(midnight + 1)
    stats.feed(call(midnight + 1).rstrip())
    assert (stats.today_calls, stats.today_cost) == (1, 0.01)


def test_old_lines_are_skipped_without_parsing() -> None:
    """Lines before the ring and before today are counted as old, not parsed or malformed."""
    stats = fed([call(NOW - 86_400), b'{"ts":"2000-01-01T00:00:00.000+00:00",garbage'])
    assert (stats.counts.skipped_old, stats.counts.malformed, stats.counts.calls) == (2, 0, 0)
    assert stats.today_complete(history_started=False)


def test_malformed_and_glued_lines() -> None:
    """A torn line glued to a whole one yields the whole one; junk is counted."""
    glued = b'{"ts":"2027-01-15T07:59:59.000+00:00","agent":' + call(NOW).rstrip()
    stats = fed([b"not json", glued, b'{"ts":"2027-01-15T07:59:59.000+00:00"}'])
    assert (stats.counts.malformed, stats.counts.calls) == (3, 1)


def test_project_scoping_counts_only_that_projects_lines() -> None:
    """A project's view leaves out other projects' calls and state; all projects see both."""
    lines = [
        call(NOW, project="p1"),
        call(NOW, project="p2"),
        call(NOW, project=None),
        state("breaker", base_url="u", model="m", old="closed", state="open", project="p2"),
    ]
    mine = doc_of(fed(lines, project="p1"))
    assert (mine["calls"], mine["open_breakers"], mine["project"]) == (1, [], "p1")
    every = doc_of(fed(lines))
    assert (every["calls"], len(every["open_breakers"])) == (3, 1)


def test_breakers_and_concurrency_follow_state_lines() -> None:
    """Open breakers and limits per live engine; closed breakers, closed engines, dead pids go."""
    lines = [
        state("breaker", base_url="https://api", model="m", old="closed", state="open"),
        state("breaker", base_url="https://api", model="n", old="closed", state="open"),
        state("breaker", base_url="https://api", model="n", old="open", state="closed"),
        state("concurrency", limit=4, reason="rate limited (429)"),
        state("concurrency", pid=999, limit=2, reason="rate limited (429)"),  # dead process
    ]
    stats = fed(lines)
    doc = doc_of(stats)
    assert doc["open_breakers"] == [
        {"pid": 4242, "base_url": "https://api", "model": "m", "state": "open"}
    ]
    assert doc["concurrency"] == [
        {"pid": 4242, "limit": 4, "reason": "rate limited (429)", "since": iso(NOW)}
    ]
    stats.feed(state("closed").rstrip())
    doc = doc_of(stats)
    assert (doc["open_breakers"], doc["concurrency"]) == ([], [])


# -- the recorder's state lines ------------------------------------------------------------


def test_the_recorder_writes_state_lines_at_once_and_closed_at_the_end(tmp_path: Path) -> None:
    """A breaker change is flushed when it happens, the latest limit by close(), then closed."""
    rec = MetricsRecorder(tmp_path, project="p1")
    rec(finished("r1"))
    rec(BreakerStateChanged(("https://api", "m"), "closed", "open", 1.0))
    written = (tmp_path / "executions.jsonl").read_bytes().splitlines()
    assert [is_state_line(line) for line in written] == [False, True]
    doc = json.loads(written[1])
    keys = ["ts", "kind", "pid", "engine", "project", "base_url", "model", "old", "state"]
    assert list(doc) == keys
    assert (doc["kind"], doc["pid"], doc["state"], doc["project"]) == (
        "breaker",
        os.getpid(),
        "open",
        "p1",
    )
    rec(ConcurrencyChanged(4, "rate limited (429)", 2.0))
    rec.close()
    kinds = [
        json.loads(line).get("kind")
        for line in (tmp_path / "executions.jsonl").read_bytes().splitlines()
    ]
    assert kinds == [None, "breaker", "concurrency", "closed"]
    stats = ReadStats()
    assert [r["run_id"] for r in read_records(tmp_path, stats=stats)] == ["r1"]
    assert (stats.lines, stats.malformed) == (1, 0)


def test_a_moving_limit_writes_only_its_latest_value(tmp_path: Path) -> None:
    """Fifty limit changes between two writes leave one concurrency line: the last."""
    rec = MetricsRecorder(tmp_path, project="p1")
    for limit in range(1, 51):
        rec(ConcurrencyChanged(limit, "grew back", float(limit)))
    rec.close()
    docs = [json.loads(line) for line in (tmp_path / "executions.jsonl").read_bytes().splitlines()]
    assert [(d["kind"], d.get("limit")) for d in docs] == [("concurrency", 50), ("closed", None)]


def test_call_lines_keep_their_shape(tmp_path: Path) -> None:
    """A call line still has exactly FIELDS, in order; no state, no closed line."""
    with MetricsRecorder(tmp_path) as rec:
        rec(finished("r1"))
    (line,) = (tmp_path / "executions.jsonl").read_bytes().splitlines()
    assert tuple(json.loads(line)) == FIELDS
    assert not is_state_line(line)


# -- the views --------------------------------------------------------------------------------


def test_sparkline_scales_to_the_largest_value() -> None:
    """Zero is the lowest mark, the largest the highest, None a blank; ASCII on request."""
    assert sparkline([0.0, 0.5, 1.0, None]) == "▁▅█ "
    assert sparkline([0.0, 1.0], ascii_only=True) == ".@"
    assert sparkline([0.0, 0.0]) == "▁▁"


def test_plain_and_rich_views_show_every_figure() -> None:
    """The plain snapshot and the live view name each figure, the breakers and the limit."""
    lines = [
        call(NOW, success=False, status="failed", error_type="APITimeoutError"),
        call(NOW),
        state("breaker", base_url="https://api", model="m", old="closed", state="open"),
    ]
    doc = doc_of(fed(lines), skipped_bytes=5_000_000)
    text = plain(doc)
    for label in ("calls/s", "p50 / p95", "tokens/s", "cost/min", "cost today", "cache hits"):
        assert label in text
    assert "errors by type: APITimeoutError 1 (50.0%)" in text
    assert "breakers: m @ https://api open (pid 4242)" in text
    assert "skipped 5.0 MB of older history" in text
    assert "(partial)" in text  # history was skipped and nothing read is from before today
    from rich.console import Console

    console = Console(width=80, record=True, file=io.StringIO())
    console.print(render(doc, hint="q quits"))
    drawn = console.export_text()
    for shown in ("q quits", "calls/s", "APITimeoutError", "▁"):
        assert shown in drawn


# -- the command --------------------------------------------------------------------------------


def test_cft_dashboard_on_a_pipe_prints_one_snapshot(isolated_state: Path) -> None:
    """Not a terminal: one plain snapshot, or one --json document, and exit 0."""
    now = time.time()
    append(isolated_state / "metrics", call(now - 1) + call(now - 2, project="p2"))
    result = runner.invoke(app, ["dashboard", "--all-projects"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("cft dashboard · all projects")
    doc = json.loads(runner.invoke(app, ["dashboard", "--all-projects", "--json"]).stdout)
    assert (doc["calls"], doc["today"]["calls"], doc["read"]["lines"]) == (2, 2, 2)


def test_cft_dashboard_shows_the_current_project(tmp_path: Path, isolated_state: Path) -> None:
    """With a config, only its project's calls; without one, --all-projects is asked for."""
    now = time.time()
    append(isolated_state / "metrics", call(now, project="named") + call(now, project="other"))
    config = make_project(tmp_path, copy.deepcopy(BASE) | {"project": "named"})
    scoped = runner.invoke(app, ["--config", str(config), "dashboard", "--json"])
    doc = json.loads(scoped.stdout)
    assert (doc["project"], doc["calls"]) == ("named", 1)
    missing = runner.invoke(app, ["--config", str(tmp_path / "nowhere"), "dashboard"])
    assert missing.exit_code == 2
    assert "--all-projects" in missing.stderr


# -- a real terminal --------------------------------------------------------------------------


def read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 10.0) -> None:
    """Read ``fd`` into ``seen`` until ``needle`` shows up (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} never appeared in {bytes(seen[-2000:])!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break


def test_the_dashboard_draws_refreshes_and_quits_in_a_pseudo_terminal(
    isolated_state: Path,
) -> None:
    """On a pty: drawn full-screen, redrawn after another process appends, q restores the tty."""
    import fcntl
    import struct

    metrics = isolated_state / "metrics"
    append(metrics, call(time.time(), agent="a"))
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    before = termios.tcgetattr(slave)
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30")
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "claude_force_trio",
            "dashboard",
            "--all-projects",
            "--interval",
            "0.1",
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    seen = bytearray()
    try:
        read_until(master, b"1 calls", seen)
        assert b"\x1b[?1049h" in seen  # the alternate screen
        writer = (
            "import sys, time\n"
            "from claude_force_trio._metrics._files import MetricsFile\n"
            "MetricsFile(sys.argv[1], max_bytes=1 << 30, keep=1).append(sys.stdin.buffer.read())\n"
        )
        lines = b"".join(call(time.time(), agent="b") for _ in range(4))
        subprocess.run(
            [sys.executable, "-c", writer, str(metrics)], input=lines, check=True, timeout=30
        )
        read_until(master, b"5 calls", seen)
        os.write(master, b"q")
        assert child.wait(timeout=10) == 0
        read_until(master, b"\x1b[?1049l", seen)  # back from the alternate screen
        assert termios.tcgetattr(slave) == before  # echo and line mode restored
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
        os.close(slave)


def test_window_percentiles_past_the_exact_limit_stay_within_one_percent() -> None:
    """Past 10,000 values the window's percentiles come from log buckets, within 1%."""
    from claude_force_trio.cli._dashboard_latency import Latencies

    window = Latencies()
    for second in range(4):
        bucket = Latencies()
        for i in range(3000):
            bucket.add(float(second * 3000 + i + 1))
        window.merge(bucket)
    assert window.count == 12_000
    for q, exact in ((0.5, 6000.5), (0.95, 11400.05)):
        value = window.quantile(q)
        assert value is not None
        assert abs(value - exact) / exact <= 0.01
    zeros = Latencies()
    zeros.add(0.0)
    assert zeros.quantile(0.5) == 0.0
