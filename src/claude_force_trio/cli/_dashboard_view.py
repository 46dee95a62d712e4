"""What the dashboard shows: one document per refresh, drawn as a rich view or plain text.

Why one document first: the live view, the plain snapshot and ``--json`` show
the same figures, so they are computed once (:func:`snapshot`) and each form
only lays them out. Rates are over the last ``window_s`` seconds; sparklines
cover the ring (``history_s``), one column per ``step_s`` seconds.

Sparklines use the block characters ``▁…█`` when the output can encode them,
else ``.:-=+*#%@`` — plain characters, no cursor tricks, so a dashboard over SSH
draws as it does locally.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._dashboard_tail import TailStats
from ._dashboard_window import Bucket, RollingStats

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["plain", "render", "snapshot", "sparkline"]

_BLOCKS = "▁▂▃▄▅▆▇█"
_ASCII = ".:-=+*#%@"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _column(column: Bucket, step_s: int) -> dict[str, float | None]:
    calls = column.calls
    return {
        "calls_per_s": calls / step_s,
        "latency_ms_mean": column.busy_ms / calls if calls else None,
        "tokens_per_s": (column.input + column.output) / step_s,
        "cost_per_min_usd": column.cost / step_s * 60,
        "error_rate": column.failed / calls if calls else None,
    }


def snapshot(stats: RollingStats, read: TailStats, *, step_s: int = 30) -> dict[str, Any]:
    """The dashboard's figures now, as a JSON-ready document (``--json`` prints it).

    Args:
        stats: the rolling figures, advanced to the current time.
        read: what the reader has read (and skipped) so far.
        step_s: seconds per sparkline column.
    """
    window = stats.window()
    seconds = stats.window_s
    calls = window.calls
    columns = [_column(c, step_s) for c in stats.columns(step_s)]
    engines = stats.live_engines()
    today = datetime.fromtimestamp(stats.now, UTC)
    return {
        "project": stats.project,
        "now": today.isoformat(timespec="seconds"),
        "window_s": seconds,
        "history_s": stats.history_s,
        "step_s": step_s,
        "calls": calls,
        "calls_per_s": round(calls / seconds, 4),
        "latency_ms": {
            "p50": _round(window.latency.quantile(0.5)),
            "p95": _round(window.latency.quantile(0.95)),
        },
        "tokens_per_s": {
            "input": round(window.input / seconds, 3),
            "output": round(window.output / seconds, 3),
        },
        "cost_per_min_usd": round(window.cost / seconds * 60, 6),
        "cache_hit_rate": round(window.cached / calls, 4) if calls else None,
        "error_rate": round(window.failed / calls, 4) if calls else None,
        "errors": dict(sorted(window.errors.items(), key=lambda kv: (-kv[1], kv[0]))),
        "in_flight": round(window.busy_ms / 1000 / seconds, 3),
        "today": {
            "date": today.date().isoformat(),
            "calls": stats.today_calls,
            "cost_usd": round(stats.today_cost, 6),
            "complete": stats.today_complete(read.skipped_bytes == 0),
        },
        "open_breakers": [
            {"pid": e.pid, "base_url": where[0], "model": where[1], "state": state}
            for e in engines
            for where, state in sorted(e.breakers.items())
        ],
        "concurrency": [
            {"pid": e.pid, "limit": e.limit, "reason": e.reason, "since": e.since}
            for e in engines
            if e.limit is not None
        ],
        "sparklines": {
            name: [_round(c[name], 4) for c in columns]
            for name in ("calls_per_s", "latency_ms_mean", "tokens_per_s", "cost_per_min_usd")
        }
        | {"error_rate": [_round(c["error_rate"], 4) for c in columns]},
        "read": {
            "files": read.files,
            "bytes_read": read.bytes_read,
            "skipped_bytes": read.skipped_bytes,
            "lines": stats.counts.lines,
            "malformed": stats.counts.malformed,
            "rotations": read.rotations,
            "truncations": read.truncations,
        },
    }


def sparkline(values: list[float | None], *, ascii_only: bool = False) -> str:
    """``values`` as one character each, scaled to the largest (``None``: a blank)."""
    marks = _ASCII if ascii_only else _BLOCKS
    top = max((v for v in values if v is not None), default=0.0)
    out = []
    for value in values:
        if value is None:
            out.append(" ")
        elif top <= 0:
            out.append(marks[0])
        else:
            out.append(marks[min(len(marks) - 1, int(value / top * (len(marks) - 1) + 0.5))])
    return "".join(out)


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _rows(doc: dict[str, Any], *, ascii_only: bool) -> list[tuple[str, str, str]]:
    """(label, figure over the window, sparkline) for each line of the view."""
    spark = doc["sparklines"]
    lat, tok, today = doc["latency_ms"], doc["tokens_per_s"], doc["today"]

    def line(name: str) -> str:
        return sparkline(spark[name], ascii_only=ascii_only)

    since = "" if today["complete"] else " (partial)"
    return [
        ("calls/s", _num(doc["calls_per_s"], digits=2), line("calls_per_s")),
        (
            "latency p50 / p95",
            f"{_num(lat['p50'], digits=0)} / {_num(lat['p95'], ' ms', 0)}",
            line("latency_ms_mean"),
        ),
        (
            "tokens/s in / out",
            f"{_num(tok['input'], digits=0)} / {_num(tok['output'], digits=0)}",
            line("tokens_per_s"),
        ),
        ("cost/min", f"${doc['cost_per_min_usd']:,.4f}", line("cost_per_min_usd")),
        ("cost today", f"${today['cost_usd']:,.4f}{since}", f"{today['calls']:,} calls"),
        ("cache hits", _rate(doc["cache_hit_rate"]), ""),
        ("errors", _rate(doc["error_rate"]), line("error_rate")),
        ("in flight (avg)", _num(doc["in_flight"], digits=2), ""),
    ]


def _details(doc: dict[str, Any]) -> list[str]:
    """The lines below the figures: errors by type, breakers, concurrency, what was read."""
    out = []
    errors = doc["errors"]
    if errors:
        calls = doc["calls"] or 1
        out.append(
            "errors by type: "
            + ", ".join(f"{kind} {n} ({n / calls:.1%})" for kind, n in errors.items())
        )
    breakers = doc["open_breakers"]
    if breakers:
        out.append(
            "breakers: "
            + ", ".join(
                f"{b['model']} @ {b['base_url']} {b['state']} (pid {b['pid']})" for b in breakers
            )
        )
    else:
        out.append("breakers: none open")
    limits = doc["concurrency"]
    if limits:
        out.append(
            "concurrency limit: "
            + ", ".join(f"{c['limit']} (pid {c['pid']}, {c['reason']})" for c in limits)
        )
    else:
        out.append("concurrency limit: at its maximum (no change recorded by a running engine)")
    read = doc["read"]
    note = f"read {read['bytes_read'] / 1e6:,.1f} MB"
    if read["skipped_bytes"]:
        note += f", skipped {read['skipped_bytes'] / 1e6:,.1f} MB of older history"
    if read["malformed"]:
        note += f", {read['malformed']:,} malformed lines"
    out.append(note)
    return out


def _title(doc: dict[str, Any]) -> str:
    scope = "all projects" if doc["project"] is None else f"project {doc['project']}"
    minutes = doc["history_s"] // 60
    window = f"last {doc['window_s']} s, sparklines {minutes} min"
    return f"cft dashboard · {scope} · {doc['now']} · {window}"


def plain(doc: dict[str, Any], *, ascii_only: bool = False) -> str:
    """The snapshot as plain lines (no colour, no cursor movement)."""
    rows = _rows(doc, ascii_only=ascii_only)
    width = max(len(label) for label, _, _ in rows)
    figure = max(len(value) for _, value, _ in rows)
    lines = [_title(doc)]
    lines += [
        f"{label:<{width}}  {value:>{figure}}  {spark}".rstrip() for label, value, spark in rows
    ]
    lines += _details(doc)
    return "\n".join(lines) + "\n"


def render(doc: dict[str, Any], *, ascii_only: bool = False, hint: str = "") -> RenderableType:
    """The live view of ``doc``: a table of figures with sparklines, then the details."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(style="cyan", no_wrap=True, overflow="crop")
    for label, value, spark in _rows(doc, ascii_only=ascii_only):
        table.add_row(label, value, spark)
    title = Text(_title(doc), style="bold")
    if hint:
        title.append(f"  {hint}", style="dim")
    details = [Text(line, overflow="fold") for line in _details(doc)]
    return Group(title, Text(""), table, Text(""), *details)
