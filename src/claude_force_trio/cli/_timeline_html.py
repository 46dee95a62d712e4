"""A run's timeline as one self-contained HTML page: an inline SVG chart and a table of steps.

Why one file with nothing outside it: the page is meant to be attached to a
ticket or opened from a CI artefact, long after the run and maybe offline. So
the chart is inline SVG, the style is one ``<style>`` element with system
fonts, and there is no script at all; a Content-Security-Policy says so to the
browser (``default-src 'none'``), so even a crafted step error could not load
anything. Every text that comes from the run (ids, agents, statuses, errors) is
escaped; task text and outputs are not on the page.

The chart is the model of ``_timeline`` drawn in pixels: bars from each
step's start to its end on a common axis, a diamond for a cache hit, ``×N``
after a bar that took N attempts, the critical path outlined.
"""

from __future__ import annotations

from html import escape

from ._progress import format_cost
from ._timeline import STATUS_WORDS, Lane, Timeline, ticks

__all__ = ["BAR_HEIGHT", "LEFT", "PLOT_WIDTH", "ROW", "TOP", "bar_box", "timeline_html"]

#: Geometry of the chart, in pixels: a label column, then the plot, then room for ``×N``.
WIDTH, LEFT, PLOT_WIDTH = 960, 280, 600
ROW, BAR_HEIGHT, TOP = 26, 14, 12
#: Pixels an axis label's character takes (system fonts at 11px).
_CHAR = 7.0
_MARKER = 6.0

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328}
h1{font-size:18px;margin:0 0 4px} .facts,.note{color:#59636e;margin:0 0 12px}
svg{max-width:100%;height:auto;border:1px solid #d1d9e0;border-radius:6px;background:#fff}
svg text{font:12px system-ui,sans-serif;fill:#1f2328} svg .agent{fill:#59636e}
svg .axis text{font-size:11px;fill:#59636e} svg .axis line{stroke:#d1d9e0}
.bar{fill:#54aeff} .bar.failed,.bar.timed_out{fill:#ff8182}
.bar.critical{stroke:#8250df;stroke-width:2} .bar.critical.succeeded{fill:#a475f9}
.cached{fill:#2da44e} .attempts{fill:#bf8700}
.nobar{fill:#59636e;font-style:italic}
table{border-collapse:collapse;margin-top:16px} th,td{padding:4px 10px;text-align:left;
border-bottom:1px solid #d1d9e0;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.critical td:first-child{font-weight:600;color:#8250df}
"""


def _px(value: float) -> str:
    """A coordinate as SVG text: two decimals at most, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def bar_box(lane: Lane, span: float, index: int) -> tuple[float, float, float, float]:
    """``(x, y, width, height)`` of a lane's bar in the chart (row ``index``, from 0).

    A bar is at least one pixel wide; a cache hit's marker is centred on its start.
    """
    scale = PLOT_WIDTH / span if span > 0 else 0.0
    x = LEFT + (lane.start or 0.0) * scale
    y = TOP + index * ROW + (ROW - BAR_HEIGHT) / 2
    return x, y, max(lane.duration * scale, 1.0), float(BAR_HEIGHT)


def _tooltip(lane: Lane) -> str:
    word = STATUS_WORDS.get(lane.status, lane.status)
    timing = "" if lane.start is None else f", +{lane.start:.2f} s for {lane.duration:.2f} s"
    tries = f", {lane.attempts} attempts" if lane.attempts > 1 else ""
    return f"{lane.step_id} ({lane.agent}): {word}{timing}{tries}"


def _lane_svg(lane: Lane, span: float, index: int) -> list[str]:
    x, y, width, height = bar_box(lane, span, index)
    baseline = TOP + index * ROW + ROW / 2 + 4
    name = escape(lane.step_id if len(lane.step_id) <= 22 else lane.step_id[:21] + "…")
    agent = escape(lane.agent if len(lane.agent) <= 16 else lane.agent[:15] + "…")
    parts = [
        f'<text x="8" y="{_px(baseline)}">{"★ " if lane.critical else ""}{name}</text>',
        f'<text class="agent" x="170" y="{_px(baseline)}">{agent}</text>',
    ]
    tip = f"<title>{escape(_tooltip(lane))}</title>"
    if lane.start is None:
        word = escape(STATUS_WORDS.get(lane.status, lane.status))
        parts.append(f'<text class="nobar" x="{LEFT + 4}" y="{_px(baseline)}">{word}{tip}</text>')
    elif lane.marker:
        cy, r = y + height / 2, _MARKER
        corners = ((x, cy - r), (x + r, cy), (x, cy + r), (x - r, cy))
        points = " ".join(f"{_px(cx)},{_px(cy_)}" for cx, cy_ in corners)
        parts.append(f'<polygon class="cached" points="{points}">{tip}</polygon>')
    else:
        classes = " ".join(["bar", lane.status, *(["critical"] if lane.critical else [])])
        parts.append(
            f'<rect class="{classes}" x="{_px(x)}" y="{_px(y)}" width="{_px(width)}"'
            f' height="{_px(height)}" rx="2">{tip}</rect>'
        )
        if lane.attempts > 1:
            parts.append(
                f'<text class="attempts" x="{_px(x + width + 4)}" y="{_px(baseline)}">'
                f"×{lane.attempts}</text>"
            )
    return parts


def _svg(timeline: Timeline) -> str:
    span, lanes = timeline.axis_s, timeline.lanes
    axis_y = TOP + len(lanes) * ROW + 6
    height = axis_y + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}"'
        f' viewBox="0 0 {WIDTH} {height}" role="img" aria-label="timeline of the run">'
    ]
    # The axis and its grid first, so the bars are drawn over the lines.
    end = LEFT + PLOT_WIDTH
    parts.append(f'<g class="axis"><line x1="{LEFT}" y1="{axis_y}" x2="{end}" y2="{axis_y}"/>')
    scale = PLOT_WIDTH / span if span > 0 else 0.0
    for seconds, label in ticks(span, PLOT_WIDTH, _CHAR):
        x = _px(LEFT + seconds * scale)
        parts.append(f'<line x1="{x}" y1="{TOP}" x2="{x}" y2="{axis_y + 4}"/>')
        parts.append(f'<text x="{x}" y="{axis_y + 18}" text-anchor="middle">{label}</text>')
    parts.append("</g>")
    for index, lane in enumerate(lanes):
        parts += _lane_svg(lane, span, index)
    parts.append("</svg>")
    return "\n".join(parts)


def _row(lane: Lane) -> str:
    start = "—" if lane.start is None else f"+{lane.start:.2f} s"
    duration = "—" if lane.start is None else f"{lane.duration:.2f} s"
    cost = "—" if lane.cost_usd is None else format_cost(lane.cost_usd)
    cells = [
        f"<td>{escape(lane.step_id)}</td>",
        f"<td>{escape(lane.agent)}</td>",
        f"<td>{escape(STATUS_WORDS.get(lane.status, lane.status))}</td>",
        f'<td class="n">{start}</td>',
        f'<td class="n">{duration}</td>',
        f'<td class="n">{lane.attempts}</td>',
        f'<td class="n">{lane.tokens:,}</td>',
        f'<td class="n">{cost}</td>',
        f"<td>{escape(lane.error or '')}</td>",
    ]
    opening = '<tr class="critical">' if lane.critical else "<tr>"
    return opening + "".join(cells) + "</tr>"


def timeline_html(timeline: Timeline) -> str:
    """The whole page: a heading, the chart, the critical path (or why not), the steps' table.

    Args:
        timeline: the run, from ``_timeline.build_timeline``.
    """
    title = escape(f"{timeline.title} · run {timeline.run_id[:12]}")
    facts = escape(
        f"{timeline.status.replace('_', ' ')} · {len(timeline.lanes)} steps"
        f" · {timeline.span_s:.2f} s from the first start to the last end"
    )
    if timeline.note:
        path = f'<p class="note">{escape(timeline.note)}</p>'
    elif timeline.critical_path:
        path = f'<p class="note">★ critical path: {escape(" → ".join(timeline.critical_path))}</p>'
    else:
        path = ""
    head = ("step", "agent", "status", "start", "duration", "attempts", "tokens", "cost", "error")
    rows = "\n".join(_row(lane) for lane in timeline.lanes)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Timeline · {title}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{title}</h1>
<p class="facts">{facts}</p>
{path}
<figure>
{_svg(timeline)}
<figcaption class="note">bars: from a step's start to its end · ◆ cache hit · ×N attempts
· ★ critical path · steps without a bar did not run in this session</figcaption>
</figure>
<table>
<thead><tr>{"".join(f"<th>{name}</th>" for name in head)}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""
