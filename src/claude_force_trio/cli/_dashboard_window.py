"""The dashboard's figures: rolling per-second buckets, today's totals, engines' live state.

Why per-second buckets in a ring: a refresh must cost what was appended, not
what the history holds. Each record is folded once into the bucket of the
second it finished in (a ``deque`` of :attr:`RollingStats.history_s` of them);
moving the clock forward drops the oldest buckets. A refresh then sums at most
``history_s`` buckets — the rates over the last ``window_s`` seconds and one
sparkline column per ``step_s`` — and never goes back to the file.

Times are the records' own (``ts``, when the call finished) against ``now``,
which the caller passes in (the wall clock in the CLI, fixed numbers in tests).
A record later than ``now`` (a writer's clock ahead of ours) counts in the
newest second; one older than the ring counts only in today's totals.

"Today" is the UTC day, as the day budget's. Lines older than both the ring and
today are skipped by their time stamp's text, without parsing the JSON; the
others are parsed with ``pydantic_core.from_json`` when it is installed (typer
requires pydantic; three times the speed of :mod:`json`, which is the fallback).

State lines (:func:`~.._metrics._record.is_state_line`) are kept per engine —
its breakers' states and its concurrency limit — until a ``closed`` line, or
until its process is gone (``alive``: checked by pid on this host).
"""

from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .._metrics._record import is_state_line
from ._dashboard_latency import Latencies

__all__ = ["Bucket", "EngineState", "RollingStats", "pid_alive"]

_RECORD_START = b'{"ts":'
_NUMBER = (int, float)
_decode = json.JSONDecoder().decode
_parse: Callable[[bytes], Any]
try:  # typer brings pydantic: its JSON parser reads a line three times faster than json's
    from pydantic_core import from_json as _parse
except ImportError:  # pragma: no cover - an older typer, without pydantic

    def _parse(line: bytes) -> Any:
        return _decode(line.decode("utf-8"))


#: ``{"ts":"2025-01-02T03:04:05.678+00:00"`` — where the recorder's time stamp sits.
_TS = slice(7, 36)


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` runs on this host (or exists but is not ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


class Bucket:
    """The calls that finished in one second (or one sparkline column)."""

    __slots__ = (
        "busy_ms",
        "cached",
        "calls",
        "cost",
        "errors",
        "failed",
        "input",
        "latency",
        "output",
    )

    def __init__(self) -> None:
        self.calls = self.failed = self.cached = self.input = self.output = 0
        self.busy_ms = self.cost = 0.0
        self.latency = Latencies()
        self.errors: dict[str, int] = {}

    def add(self, record: dict[str, Any]) -> None:
        """Count one normalised call record."""
        self.calls += 1
        self.cached += record["cached"]
        self.input += record["input_tokens"]
        self.output += record["output_tokens"]
        latency = record["latency_ms"]
        self.busy_ms += latency
        self.latency.add(latency)
        cost = record["cost_usd"]
        if cost is not None:
            self.cost += cost
        if not record["success"]:
            self.failed += 1
            kind = record["error_type"] or record["status"] or "unknown"
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def merge(self, other: Bucket, *, latency: bool = True) -> None:
        """Add everything ``other`` counted (its latencies too unless ``latency`` is false)."""
        self.calls += other.calls
        self.failed += other.failed
        self.cached += other.cached
        self.input += other.input
        self.output += other.output
        self.busy_ms += other.busy_ms
        self.cost += other.cost
        if latency:
            self.latency.merge(other.latency)
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count


@dataclass(slots=True)
class EngineState:
    """What one engine's state lines said last: breakers not closed, its concurrency limit."""

    pid: int
    engine: str
    project: str | None
    breakers: dict[tuple[str, str], str] = field(default_factory=dict)
    limit: int | None = None
    reason: str | None = None
    since: str | None = None


@dataclass(slots=True)
class _Counts:
    lines: int = 0
    calls: int = 0
    states: int = 0
    malformed: int = 0
    skipped_old: int = 0
    other_projects: int = 0


class RollingStats:
    """Rolling figures over the records fed to it, for one project or all.

    Args:
        now: the current time (epoch seconds): where the ring ends at first.
        project: only this project's records; every project's when ``None``.
        history_s: seconds the ring keeps (the sparklines' span).
        window_s: seconds the rates are taken over (the last ones of the ring).
        alive: whether a pid still runs (engines of dead processes are dropped).
    """

    def __init__(
        self,
        now: float,
        *,
        project: str | None = None,
        history_s: int = 900,
        window_s: int = 60,
        alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        if not 1 <= window_s <= history_s:
            raise ValueError("window_s must be at least 1 and at most history_s")
        self.project = project
        self.history_s = history_s
        self.window_s = window_s
        self.alive = alive
        self.counts = _Counts()
        self.engines: dict[tuple[int, str], EngineState] = {}
        #: The earliest call record seen (its ``ts``), and today's calls and cost.
        self.first: datetime | None = None
        self.today_calls = 0
        self.today_cost = 0.0
        self._ring: deque[Bucket | None] = deque([None] * history_s, maxlen=history_s)
        self._newest = int(now)
        self.now = now
        self._day = datetime.fromtimestamp(now, UTC).date()
        self._cutoff = ""
        self._midnight = 0.0
        self._set_cutoff()

    def _set_cutoff(self) -> None:
        midnight = datetime.combine(self._day, datetime.min.time(), UTC)
        self._midnight = midnight.timestamp()
        oldest = datetime.fromtimestamp(self._newest - self.history_s + 1, UTC)
        self._cutoff = min(midnight, oldest).isoformat(timespec="milliseconds")

    def advance(self, now: float) -> None:
        """Move the ring's end to ``now`` (never backwards); a new UTC day restarts today."""
        self.now = max(self.now, now)
        second = int(now)
        gap = second - self._newest
        if gap > 0:
            if gap >= self.history_s:
                self._ring.extend([None] * self.history_s)
            else:
                self._ring.extend([None] * gap)
            self._newest = second
        day = datetime.fromtimestamp(self.now, UTC).date()
        if day != self._day:
            self._day = day
            self.today_calls, self.today_cost = 0, 0.0
        self._set_cutoff()

    def feed(self, line: bytes) -> None:
        """Fold one line of the metrics file in (a call, a state line, or something malformed)."""
        counts = self.counts
        counts.lines += 1
        state = is_state_line(line)
        if (
            not state
            and line.startswith(b'{"ts":"')
            and line[_TS].decode("ascii", "replace") < (self._cutoff)
        ):
            counts.skipped_old += 1
            return
        obj = _load(line)
        if obj is None:
            glued = line.rfind(_RECORD_START, 1)
            obj = _load(line[glued:]) if glued > 0 else None
            counts.malformed += 1
            if obj is None:
                return
            state = is_state_line(line[glued:])
        if state:
            self._state(obj)
            return
        record = _call(obj)
        if record is None:
            counts.malformed += 1
        elif self.project is not None and record["project"] != self.project:
            counts.other_projects += 1
        else:
            self.add(record)

    def add(self, record: dict[str, Any]) -> None:
        """Count one call record (:func:`~.._metrics.read_records`' keys; these suffice).

        Its keys: ``ts`` (an aware datetime), ``success``, ``status``, ``error_type``,
        ``cached``, ``latency_ms``, ``input_tokens``, ``output_tokens``, ``cost_usd``.
        """
        self.counts.calls += 1
        moment: datetime = record["ts"]
        if self.first is None or moment < self.first:
            self.first = moment
        epoch = moment.timestamp()
        if self._midnight <= epoch < self._midnight + 86_400:
            self.today_calls += 1
            self.today_cost += record["cost_usd"] or 0.0
        index = min(int(epoch) - self._newest, 0) + self.history_s - 1
        if index < 0:
            return
        bucket = self._ring[index]
        if bucket is None:
            bucket = self._ring[index] = Bucket()
        bucket.add(record)

    def _state(self, obj: dict[str, Any]) -> None:
        pid, engine, kind = obj.get("pid"), obj.get("engine"), obj.get("kind")
        project = obj.get("project")
        if type(pid) is not int or type(engine) is not str:
            self.counts.malformed += 1
            return
        if self.project is not None and project != self.project:
            self.counts.other_projects += 1
            return
        self.counts.states += 1
        key = (pid, engine)
        if kind == "closed":
            self.engines.pop(key, None)
            return
        entry = self.engines.get(key)
        if entry is None:
            text = project if type(project) is str else None
            entry = self.engines[key] = EngineState(pid, engine, text)
        if kind == "breaker":
            where = (str(obj.get("base_url")), str(obj.get("model")))
            new = obj.get("state")
            if new == "closed":
                entry.breakers.pop(where, None)
            elif type(new) is str:
                entry.breakers[where] = new
        elif kind == "concurrency" and type(obj.get("limit")) is int:
            entry.limit, entry.reason = obj["limit"], _text(obj.get("reason"))
            entry.since = _text(obj.get("ts"))

    def live_engines(self) -> list[EngineState]:
        """Engines whose process still runs, oldest pid first (the dead are forgotten)."""
        for key in [key for key in self.engines if not self.alive(key[0])]:
            del self.engines[key]
        return sorted(self.engines.values(), key=lambda e: (e.pid, e.engine))

    def window(self, seconds: int | None = None) -> Bucket:
        """The last ``seconds`` (default ``window_s``) of the ring, summed."""
        total = Bucket()
        count = self.window_s if seconds is None else min(seconds, self.history_s)
        for index in range(self.history_s - count, self.history_s):
            bucket = self._ring[index]
            if bucket is not None:
                total.merge(bucket)
        return total

    def columns(self, step_s: int) -> list[Bucket]:
        """The ring in columns of ``step_s`` seconds, oldest first (the sparklines' data).

        Columns carry no latency quantiles (merging them all would cost every
        value of the ring per refresh): a column's latency is its mean, ``busy_ms / calls``.
        """
        ring = list(self._ring)
        start = len(ring) % step_s
        out = []
        for left in range(start, len(ring), step_s):
            column = Bucket()
            for bucket in ring[left : left + step_s]:
                if bucket is not None:
                    column.merge(bucket, latency=False)
            out.append(column)
        return out

    def today_complete(self, history_started: bool) -> bool:
        """Whether today's totals hold every call of the day.

        True when the read began at the oldest file's start, or when it met a line
        from before today (lines are appended in about time order).

        Args:
            history_started: the read began at the oldest file's start (nothing was skipped).
        """
        if history_started or self.counts.skipped_old:
            return True
        midnight = datetime.combine(self._day, datetime.min.time(), UTC)
        return self.first is not None and self.first < midnight


def _load(line: bytes) -> Any:
    try:
        return _parse(line)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurdly nested
        return None


def _call(obj: Any) -> dict[str, Any] | None:
    """The fields the dashboard uses, checked as :func:`~.._metrics.read_records` checks them.

    Leaner than the full record (one runs per appended line on every refresh);
    a line it refuses is one ``cft metrics`` counts as malformed too.
    """
    if type(obj) is not dict:
        return None
    get = obj.get
    ts: Any = get("ts")
    latency: Any = get("latency_ms")
    if type(ts) is not str or type(get("agent")) is not str or type(latency) not in _NUMBER:
        return None
    try:
        moment = datetime.fromisoformat(ts)
    except ValueError:
        return None
    if not math.isfinite(latency):
        return None
    cost: Any = get("cost_usd")
    success = get("success")
    return {
        "ts": moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC),
        "success": success is True or (success is None and get("status") == "succeeded"),
        "status": _text(get("status")),
        "error_type": _text(get("error_type")),
        "cached": get("cached") is True,
        "latency_ms": float(latency),
        "input_tokens": _count(get("input_tokens")),
        "output_tokens": _count(get("output_tokens")),
        "cost_usd": float(cost) if type(cost) in _NUMBER and math.isfinite(cost) else None,
        "project": _text(get("project")),
    }


def _count(value: Any) -> int:
    return value if type(value) is int else 0


def _text(value: Any) -> str | None:
    return value if type(value) is str else None
