"""Run timelines: the layout model, the terminal chart, the HTML page, and the CLI wiring.

Layout is checked on a fixed ``--json`` document (exact cells, exact text, exact
SVG geometry); the CLI on real short runs on the embedded simulator, offline as
``tests/test_cli.py`` is; colour in a real pseudo-terminal; the page in a
headless browser when one is installed.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from claude_force_trio._config import StepConfig, WorkflowConfig
from claude_force_trio.cli._timeline import Lane, Timeline, build_timeline, ticks
from claude_force_trio.cli._timeline_html import (
    BAR_HEIGHT,
    LEFT,
    PLOT_WIDTH,
    ROW,
    TOP,
    bar_box,
    timeline_html,
)
from claude_force_trio.cli._timeline_text import bar_cells, colour_wanted, render_timeline
from claude_force_trio.simulator import Fault, SimulatorHandle

from .test_cli import cft, offline, write_config
from .test_compat_hybrid import sim  # an instant threaded simulator, the CLI pointed at it

__all__ = ["offline", "sim"]  # fixtures: offline is autouse, and applies here too

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "boom <script>alert('x')</script> & more"


def _at(seconds: float) -> str:
    """An ISO-8601 ``started_at`` ``seconds`` after a fixed origin."""
    whole, ms = divmod(round(seconds * 1000), 1000)
    return f"2026-01-01T00:00:{whole:02d}.{ms:03d}+00:00"


def _step(sid: str, agent: str, status: str, **facts: Any) -> dict[str, Any]:
    """A step object of a ``--json`` document, with the fields the timeline reads."""
    start = facts.pop("start", None)
    return {
        "id": sid,
        "agent": agent,
        "status": status,
        "attempts": facts.pop("attempts", 1 if start is not None else 0),
        "cached": facts.pop("cached", False),
        "started_at": None if start is None else _at(start),
        "elapsed_s": facts.pop("elapsed", 0.0),
        "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 5},
        "cost_usd": facts.pop("cost", 0.001),
        "error": facts.pop("error", None),
        "resumed": facts.pop("resumed", False),
        **facts,
    }


#: fetch (0–1 s) → build (1–3 s, 3 attempts) and lint (1–1.5 s, failed) → ship (skipped);
#: warm is a cache hit at 0; notify was cancelled after it started; gate waits for approval.
DOC: dict[str, Any] = {
    "workflow": "pipeline",
    "run_id": "ab" * 16,
    "status": "failed",
    "elapsed_s": 3.0,
    "steps": [
        _step("fetch", "fetcher", "succeeded", start=0.0, elapsed=1.0),
        _step("warm", "fetcher", "succeeded", start=0.0, elapsed=0.001, cached=True, attempts=0),
        _step("build", "builder", "succeeded", start=1.0, elapsed=2.0, attempts=3),
        _step("lint", "linter", "failed", start=1.0, elapsed=0.5, error=EVIL),
        _step("ship", "shipper", "skipped", error="dependency 'lint' failed"),
        _step("notify", "notifier", "cancelled", start=0.5, elapsed=0.2),
        _step("gate", "approver", "waiting_approval"),
    ],
}
DEPENDENCIES = {"build": ("fetch",), "lint": ("fetch",), "ship": ("build", "lint")}


def workflow(name: str = "pipeline", extra: tuple[str, ...] = ()) -> WorkflowConfig:
    """The workflow ``DOC`` ran (plus ``extra`` steps that never ran)."""
    steps = [(s["id"], s["agent"]) for s in DOC["steps"]] + [(x, "late") for x in extra]
    return WorkflowConfig(
        name=name,
        steps=tuple(
            StepConfig(sid, agent, dependencies=DEPENDENCIES.get(sid, ())) for sid, agent in steps
        ),
    )


def lanes(timeline: Timeline) -> dict[str, Lane]:
    """The timeline's lanes by step id."""
    return {lane.step_id: lane for lane in timeline.lanes}


# ------------------------------------------------------------------ the model


def test_lanes_are_placed_by_start_and_elapsed_time() -> None:
    """Bars start at started_at minus the first start and last elapsed_s; others have none."""
    timeline = build_timeline(DOC, {"pipeline": workflow()})
    by_id = lanes(timeline)
    assert [(x.start, x.duration) for x in (by_id["fetch"], by_id["build"], by_id["lint"])] == [
        (0.0, 1.0),
        (1.0, 2.0),
        (1.0, 0.5),
    ]
    assert by_id["warm"].marker
    assert (by_id["warm"].start, by_id["warm"].duration) == (0.0, 0.0)
    for sid in ("ship", "notify", "gate"):
        assert by_id[sid].start is None, sid
        assert by_id[sid].end is None, sid
    statuses = [lane.status for lane in timeline.lanes]
    assert statuses == [
        "succeeded",
        "cached",
        "succeeded",
        "failed",
        "skipped",
        "cancelled",
        "waiting_approval",
    ]
    assert timeline.span_s == 3.0
    assert (by_id["build"].attempts, by_id["fetch"].tokens, by_id["lint"].error) == (3, 125, EVIL)


def test_critical_path_follows_the_measured_durations() -> None:
    """The critical path is the longest chain by elapsed time, and only its lanes are marked."""
    timeline = build_timeline(DOC, {"pipeline": workflow()})
    assert timeline.critical_path == ("fetch", "build", "ship")
    assert {x.step_id for x in timeline.lanes if x.critical} == {"fetch", "build", "ship"}
    assert timeline.note is None


def test_slower_lint_moves_the_critical_path() -> None:
    """With lint slower than build, the path goes through lint instead."""
    doc = json.loads(json.dumps(DOC))
    doc["steps"][3]["elapsed_s"] = 2.5
    assert build_timeline(doc, {"pipeline": workflow()}).critical_path == ("fetch", "lint", "ship")


@pytest.mark.parametrize(
    ("workflows", "says"),
    [
        ({}, "critical path not shown: workflow 'pipeline': it is not in the config any more"),
        (None, "critical path not shown: workflow 'pipeline': no config was loaded"),
        (
            {"pipeline": WorkflowConfig("pipeline", (StepConfig("fetch", "fetcher"),))},
            "critical path not shown: workflow 'pipeline' changed since the run",
        ),
    ],
)
def test_without_the_workflow_the_chart_says_why(
    workflows: Mapping[str, WorkflowConfig] | None, says: str
) -> None:
    """A workflow gone (or changed, or no config) draws every step, unhighlighted, with a note."""
    timeline = build_timeline(DOC, workflows)
    assert timeline.note == says
    assert timeline.critical_path == ()
    assert not any(x.critical for x in timeline.lanes)
    assert [x.step_id for x in timeline.lanes] == [s["id"] for s in DOC["steps"]]
    assert says in render_timeline(timeline, 80).plain


def test_a_running_run_shows_its_unjournalled_steps_as_pending() -> None:
    """Workflow steps missing from a running run's document are drawn pending, in config order."""
    doc = {"workflow": "pipeline", "run_id": "r", "status": "running", "steps": DOC["steps"][:1]}
    timeline = build_timeline(doc, {"pipeline": workflow(extra=("later",))})
    assert [(x.step_id, x.status) for x in timeline.lanes][:2] == [
        ("fetch", "succeeded"),
        ("warm", "pending"),
    ]
    assert timeline.lanes[-1] == Lane("later", "late", "pending")


def test_resumed_steps_and_run_many_batches() -> None:
    """A replayed step has no bar; a run-many batch has no dependencies and says so."""
    resumed = _step("fetch", "fetcher", "succeeded", start=0.0, elapsed=9.0, resumed=True)
    doc = {"run_id": "r", "status": "succeeded", "results": [resumed, DOC["steps"][2]]}
    timeline = build_timeline(doc, None)
    assert timeline.title == "run-many"
    assert timeline.note == "a run-many batch has no dependencies: no critical path"
    assert [(x.status, x.start) for x in timeline.lanes] == [("resumed", None), ("succeeded", 0.0)]
    assert timeline.span_s == 2.0


def test_run_many_keeps_every_entry_of_a_repeated_agent() -> None:
    """A batch that ran one agent twice (one id, twice) draws two lanes with their own times."""
    twice = [
        _step("helper", "helper", "succeeded", start=0.0, elapsed=0.5),
        _step("helper", "helper", "succeeded", start=0.25, elapsed=1.0),
    ]
    timeline = build_timeline({"run_id": "r", "status": "succeeded", "results": twice}, None)
    assert [(x.step_id, x.start, x.duration) for x in timeline.lanes] == [
        ("helper", 0.0, 0.5),
        ("helper", 0.25, 1.0),
    ]


# ------------------------------------------------------------------ the terminal


def test_bar_cells_cover_every_cell_the_step_touches() -> None:
    """On 30 cells for 3 s, a cell is 0.1 s: a bar covers the cells its interval touches."""
    assert bar_cells(Lane("a", "x", "succeeded", start=0.0, duration=1.0), 3.0, 30) == (0, 10)
    assert bar_cells(Lane("a", "x", "succeeded", start=1.05, duration=0.5), 3.0, 30) == (10, 16)
    assert bar_cells(Lane("a", "x", "succeeded", start=2.0, duration=0.0001), 3.0, 30) == (20, 21)
    assert bar_cells(Lane("a", "x", "succeeded", start=2.0, duration=1.0), 3.0, 30) == (20, 30)
    assert bar_cells(Lane("a", "x", "cached", start=3.0), 3.0, 30) == (29, 30)


@pytest.mark.parametrize("span", [0.004, 0.1, 0.73, 3.0, 17.2, 95.0, 3600.0])
@pytest.mark.parametrize("cells", [16, 31, 60, 120])
def test_axis_labels_never_overlap(span: float, cells: int) -> None:
    """Tick labels are at least their width plus two cells apart, from 0 up to the span."""
    marks = ticks(span, cells, 1.0)
    assert marks[0] == (0.0, marks[0][1])
    assert marks[0][1].startswith("0")
    assert marks[-1][0] <= span + 1e-9
    for (a, label), (b, _) in itertools.pairwise(marks):
        assert (b - a) / span * cells >= len(label) + 2
    assert all(re.fullmatch(r"\d+(\.\d+)?s", label) for _, label in marks)


EXPECTED_60 = """\
pipeline · failed · 3.00 s
* critical path: fetch → build → ship
  step    agent     status
* fetch   fetcher   succeeded  ███████              1.00s
  warm    fetcher   cached     ◆
* build   builder   succeeded        █████████████  2.00s ×3
  lint    linter    failed           ████           0.50s
* ship    shipper   skipped
  notify  notifier  cancelled
  gate    approver  waiting
                               ┬─────┬─────┬─────┬
                               0s    1s    2s    3s
█ ran  ◆ cache hit  ×N attempts  * critical path
✗ lint: boom <script>alert('x')</script> & more
"""


def test_exact_chart_at_60_columns() -> None:
    """The fixed document at 60 columns renders exactly this text."""
    text = render_timeline(build_timeline(DOC, {"pipeline": workflow()}), 60).plain
    assert text == EXPECTED_60.rstrip("\n")


@pytest.mark.parametrize("width", [60, 64, 72, 80, 100, 160])
def test_narrow_terminals_keep_numbers_whole(width: int) -> None:
    """At any width from 60 each line fits, and every duration and axis label is whole."""
    doc = json.loads(json.dumps(DOC))
    doc["steps"][0]["id"] = "a-very-long-step-identifier-indeed"
    text = render_timeline(build_timeline(doc, None), width).plain
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, lines
    for figure in ("1.00s", "2.00s ×3", "0.50s"):
        assert figure in text
    axis = lines[next(n for n, line in enumerate(lines) if "┬" in line) + 1].split()
    values = [float(label.removesuffix("s")) for label in axis]
    assert all(re.fullmatch(r"\d+(\.\d+)?s", label) for label in axis)
    assert values[0] == 0.0
    assert values[-1] >= 2.5


def test_chart_bars_sit_on_the_axis() -> None:
    """Each bar starts in the column of its start time on the axis below it."""
    text = render_timeline(build_timeline(DOC, {"pipeline": workflow()}), 100).plain
    lines = text.splitlines()
    rule = next(x for x in lines if "┬" in x)
    zero = rule.index("┬")
    row = {line.split()[1]: line for line in lines if line[2:].split()[:1] and "█" in line}
    assert row["fetch"].index("█") == zero
    width = len(rule.rstrip()) - zero
    assert row["build"].index("█") == zero + width // 3


class _Tty:
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colour needs a terminal, and NO_COLOR turns it off."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colour_wanted(_Tty())
    assert not colour_wanted(object())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(_Tty())


# ------------------------------------------------------------------ the page


def _svg_of(page: str) -> ET.Element:
    """The page's inline SVG, parsed as XML."""
    start, end = page.index("<svg"), page.index("</svg>") + len("</svg>")
    return ET.fromstring(page[start:end])


def test_svg_bars_have_exact_geometry() -> None:
    """Each bar's rect is at LEFT + start × scale, start-to-end long, on its row."""
    timeline = build_timeline(DOC, {"pipeline": workflow()})
    svg = _svg_of(timeline_html(timeline))
    rects = {r.findtext(f"{SVG}title", "").split(" ")[0]: r for r in svg.iter(f"{SVG}rect")}
    assert set(rects) == {"fetch", "build", "lint"}
    scale = PLOT_WIDTH / 3.0  # 200 px a second
    for sid, index, start, length in (
        ("fetch", 0, 0.0, 1.0),
        ("build", 2, 1.0, 2.0),
        ("lint", 3, 1.0, 0.5),
    ):
        rect = rects[sid]
        assert float(rect.get("x", "")) == LEFT + start * scale
        assert float(rect.get("width", "")) == length * scale
        assert float(rect.get("y", "")) == TOP + index * ROW + (ROW - BAR_HEIGHT) / 2
        assert float(rect.get("height", "")) == BAR_HEIGHT
    assert "critical" in rects["build"].get("class", "").split()
    assert "critical" not in rects["lint"].get("class", "").split()
    assert bar_box(timeline.lanes[2], 3.0, 2) == (480.0, 18.0 + 2 * 26, 400.0, 14.0)
    [marker] = svg.iter(f"{SVG}polygon")
    assert marker.get("points", "").split()[0] == f"{LEFT},{TOP + ROW + ROW // 2 - 6}"
    retries = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "attempts"]
    assert retries == ["×3"]
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert labels[0] == "0.0s"
    assert labels[-1] == "3.0s"


class _Page(HTMLParser):
    """Collect a page's tags, attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.cells: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag == "tr":
            self.cells.append([])

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.cells and self.tags[-1] in ("td", "th") and data.strip():
            self.cells[-1].append(data)


def test_page_escapes_run_text_and_loads_nothing() -> None:
    """A step error with <script> stays text; the page has no script, link or URL to fetch."""
    page = timeline_html(build_timeline(DOC, {"pipeline": workflow()}))
    parsed = _Page()
    parsed.feed(page)
    assert "script" not in parsed.tags
    assert "link" not in parsed.tags
    assert EVIL in "".join(parsed.text)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    urls = [v for _, v in parsed.attrs if v and "://" in v]
    assert urls == ["http://www.w3.org/2000/svg"]  # the SVG namespace, not a fetch
    assert "@import" not in page
    assert "url(" not in page


def test_page_table_lists_every_step() -> None:
    """The table has a row per step: id, agent, status, start, duration, attempts, tokens, cost."""
    parsed = _Page()
    parsed.feed(timeline_html(build_timeline(DOC, {"pipeline": workflow()})))
    head, *rows = parsed.cells
    assert head == [
        "step",
        "agent",
        "status",
        "start",
        "duration",
        "attempts",
        "tokens",
        "cost",
        "error",
    ]
    assert rows[2] == ["build", "builder", "succeeded", "+1.00 s", "2.00 s", "3", "125", "$0.0010"]
    assert rows[3][-1] == EVIL
    assert rows[4][:5] == ["ship", "shipper", "skipped", "—", "—"]
    assert len(rows) == len(DOC["steps"])


# ------------------------------------------------------------------ the CLI


@pytest.fixture
def fan(tmp_path: Path) -> Path:
    """A diamond ``first → (left, right) → last``, one agent each, no retries."""
    agents = {n: f"# {n}\n\nMARK-{n.upper()}: do your part.\n" for n in ("a", "b", "c", "d")}
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 256},
        "agents": {name: {"file": f"{name}.md"} for name in agents},
        "workflows": {
            "diamond": {
                "task": "build the thing",
                "steps": [
                    {"id": "first", "agent": "a"},
                    {"id": "left", "agent": "b", "dependencies": ["first"]},
                    {"id": "right", "agent": "c", "dependencies": ["first"]},
                    {"id": "last", "agent": "d", "dependencies": ["left", "right"]},
                ],
            }
        },
        "retry": {"max_attempts": 1},
    }
    return write_config(tmp_path / "proj", doc, agents)


@pytest.fixture(autouse=True)
def columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Charts in a pipe are drawn 80 columns wide."""
    monkeypatch.setenv("COLUMNS", "80")


def _chart_rows(text: str) -> dict[str, str]:
    """The chart's step rows by step id."""
    rows = {}
    for line in text.splitlines():
        words = line[2:].split()
        if words and words[0] in ("first", "left", "right", "last") and len(words) >= 3:
            rows[words[0]] = line
    return rows


def test_workflow_run_timeline_draws_the_chart_after_the_run(fan: Path) -> None:
    """`workflow run --timeline` ends with the chart: every step, a bar each, the critical path."""
    result = cft("workflow", "run", "diamond", "--no-cache", "--timeline", config=fan)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    chart = out[out.index("diamond · succeeded · ") :]
    rows = _chart_rows(chart)
    assert set(rows) == {"first", "left", "right", "last"}
    assert all("█" in row for row in rows.values())
    assert rows["first"].startswith("* ")
    assert rows["last"].startswith("* ")
    assert "* critical path: first → " in chart
    assert chart.count("\n") < 20
    assert "\x1b[" not in out


def test_json_keeps_stdout_one_document_and_draws_on_stderr(fan: Path) -> None:
    """With --json, stdout is exactly the run's document and the chart goes to stderr."""
    result = cft("workflow", "run", "diamond", "--no-cache", "--json", "--timeline", config=fan)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded"
    assert "diamond · succeeded · " in result.stderr
    assert "┬" in result.stderr
    shown = cft("runs", "show", document["run_id"][:8], "--json", "--timeline", config=fan)
    assert json.loads(shown.stdout) == document
    assert "critical path: first → " in shown.stderr


def test_runs_show_timeline_and_html(fan: Path, tmp_path: Path) -> None:
    """`runs show --timeline` draws instead of the table; `--html` writes the page."""
    ran = cft("workflow", "run", "diamond", "--no-cache", "--json", config=fan)
    document = json.loads(ran.stdout)
    page = tmp_path / "out" / "run.html"
    page.parent.mkdir()
    shown = cft("runs", "show", document["run_id"], "--timeline", "--html", str(page), config=fan)
    assert shown.exit_code == 0, shown.stderr
    assert set(_chart_rows(shown.stdout)) == {"first", "left", "right", "last"}
    assert "tokens in/out" not in shown.stdout  # the chart replaces the table
    assert f"timeline written to {page}" in shown.stderr
    svg = _svg_of(page.read_text(encoding="utf-8"))
    assert len(list(svg.iter(f"{SVG}rect"))) == 4
    table = cft("runs", "show", document["run_id"], config=fan)
    assert "tokens in/out" in table.stdout
    assert "┬" not in table.stdout


def test_runs_show_timeline_of_a_workflow_no_longer_configured(fan: Path, tmp_path: Path) -> None:
    """A run whose workflow left the config is drawn without the highlight, and says why."""
    ran = cft("workflow", "run", "diamond", "--no-cache", "--json", config=fan)
    run_id = json.loads(ran.stdout)["run_id"]
    other = write_config(
        tmp_path / "other",
        {"agents": {"a": {"file": "a.md"}}, "workflows": {"solo": ["a"]}},
        {"a": "# a\n\nalone\n"},
    )
    shown = cft("runs", "show", run_id, "--timeline", config=other)
    assert shown.exit_code == 0, shown.stderr
    assert (
        "critical path not shown: workflow 'diamond': it is not in the config any more"
        in shown.stdout
    )
    assert not any(row.startswith("* ") for row in _chart_rows(shown.stdout).values())


def test_html_to_an_unwritable_place_is_one_error_line(fan: Path, tmp_path: Path) -> None:
    """`--html` into a missing folder is one error line, exit 2."""
    ran = cft("workflow", "run", "diamond", "--no-cache", "--json", config=fan)
    run_id = json.loads(ran.stdout)["run_id"]
    shown = cft("runs", "show", run_id, "--html", str(tmp_path / "nowhere" / "x.html"), config=fan)
    assert shown.exit_code == 2
    assert shown.stderr.splitlines()[-1].startswith("error: --html: cannot write ")


def test_resume_timeline_shows_replayed_steps_without_bars(fan: Path, sim: SimulatorHandle) -> None:
    """`workflow resume --timeline`: the replayed step is `resumed`, the rest have bars."""
    sim.script(None, Fault("500"))
    failed = cft("workflow", "run", "diamond", "--no-cache", "--sequential", "--json", config=fan)
    assert failed.exit_code == 1, failed.stderr
    run_id = json.loads(failed.stdout)["run_id"]
    resumed = cft("workflow", "resume", run_id[:8], "--no-cache", "--timeline", config=fan)
    assert resumed.exit_code == 0, resumed.stderr
    rows = _chart_rows(resumed.stdout)
    assert "resumed" in rows["first"]
    assert "█" not in rows["first"]
    assert all("█" in rows[sid] for sid in ("left", "right", "last"))


# ------------------------------------------------------------------ a real terminal, a real browser


def _read_pty(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """Everything the process writes to the pseudo-terminal until it exits (bounded)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    return b"".join(chunks)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
def test_runs_show_timeline_in_a_real_terminal_has_colour(fan: Path, tmp_path: Path) -> None:
    """In a pseudo-terminal `cft runs show --timeline` draws in colour at the terminal's width."""
    import fcntl
    import struct
    import termios

    ran = cft("workflow", "run", "diamond", "--no-cache", "--json", config=fan)
    run_id = json.loads(ran.stdout)["run_id"]
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    env |= {"TERM": "xterm-256color", "CFT_HOME": os.environ["CFT_HOME"]}
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 72, 0, 0))
    command = [sys.executable, "-m", "claude_force_trio", "--config", str(fan)]
    proc = subprocess.Popen(
        [*command, "runs", "show", run_id, "--timeline"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    try:
        output = _read_pty(master, proc, timeout=30.0).decode("utf-8", "replace")
        assert proc.wait(timeout=30.0) == 0, output
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert "\x1b[" in output
    assert "█" in output
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output).replace("\r\n", "\n")
    chart = plain[plain.index("\ndiamond · succeeded") + 1 :]
    assert max(len(line) for line in chart.splitlines()) <= 72
    assert set(_chart_rows(chart)) == {"first", "left", "right", "last"}


def _browser() -> str | None:
    return next((p for n in ("chromium", "chromium-browser") if (p := shutil.which(n))), None)


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no chromium or chromium-browser on PATH")
def test_page_renders_in_a_headless_browser(tmp_path: Path) -> None:
    """Headless Chromium renders the page to a screenshot that is a real, non-blank PNG."""
    page = tmp_path / "timeline.html"
    page.write_text(timeline_html(build_timeline(DOC, {"pipeline": workflow()})), encoding="utf-8")
    # CFT_TEST_ARTEFACTS keeps the screenshot (CI uploads that folder); else it goes with tmp_path.
    artefacts = Path(os.environ.get("CFT_TEST_ARTEFACTS") or tmp_path)
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / "timeline.png"
    browser = _browser()
    assert browser is not None
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            # No network of its own: the page is self-contained, and the machine may have none.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,800",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
