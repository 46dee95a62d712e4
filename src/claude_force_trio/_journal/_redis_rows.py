"""The Redis journal's rows: its key layout, and reading runs back (blocking, in a thread).

Kept apart from :mod:`._redis_journal` (the writes, the async surface and the
connection) so each reads alone. Every method here is a blocking redis-py
call sequence; the journal runs them through ``anyio.to_thread``. The layout is
described in :mod:`._redis_journal`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .._errors import ConfigError
from ._records import RunRecord, decode_object, decode_steps, iso

__all__ = ["MIN_PREFIX", "RunRows", "micros"]

#: The shortest run id prefix a lookup matches (as for the SQLite journal).
MIN_PREFIX = 6


def micros(moment: datetime) -> int:
    """``moment`` in whole microseconds since the epoch: the start index's score."""
    return round(moment.timestamp() * 1_000_000)


class RunRows:
    """The runs under ``prefix`` on ``client`` (a ``decode_responses=True`` redis-py client)."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def key(self, kind: str, run_id: str = "") -> str:
        """The key of ``kind`` (``run``, ``steps``, ``order``, ``approvals``) for ``run_id``,
        or of an index (``by-start``, ``ids``) without one."""
        return f"{self.prefix}{kind}:{run_id}" if run_id else f"{self.prefix}{kind}"

    def find(self, run_id: str, with_document: bool) -> RunRecord | None:
        """The run ``run_id`` names (its id or a unique prefix of 6+), else ``None``.

        Raises:
            ConfigError: the prefix matches more than one run.
        """
        if not run_id:
            return None
        if not self.client.exists(self.key("run", run_id)):
            if len(run_id) < MIN_PREFIX:
                return None
            ids = self.key("ids")
            # "[" makes the bound inclusive and literal; 0xff sorts after any UTF-8 byte.
            low, high = f"[{run_id}", f"[{run_id}".encode() + b"\xff"
            matches = self.client.zrangebylex(ids, low, high, start=0, num=3)
            if len(matches) > 1:
                count = int(self.client.zlexcount(ids, low, high))
                shown = ", ".join(matches[:2]) + (", …" if count > 2 else "")
                raise ConfigError(
                    "run_id", f"{run_id!r} matches {count} runs ({shown}); give more of the id"
                )
            if not matches:
                return None
            run_id = str(matches[0])
        records = self.read([run_id], with_document=with_document, with_steps=True)
        return records[0] if records else None

    def read(
        self, run_ids: Sequence[str], *, with_document: bool, with_steps: bool
    ) -> list[RunRecord]:
        """The records of ``run_ids`` (missing ones left out), read in one transaction."""
        pipe = self.client.pipeline(transaction=True)
        for run_id in run_ids:
            pipe.hgetall(self.key("run", run_id))
            if with_steps:
                pipe.hgetall(self.key("steps", run_id))
                pipe.lrange(self.key("order", run_id), 0, -1)
        replies = pipe.execute()
        width = 3 if with_steps else 1
        records: list[RunRecord] = []
        for index, run_id in enumerate(run_ids):
            fields = replies[index * width]
            if not fields:
                continue
            steps: dict[str, Mapping[str, Any]] = {}
            if with_steps:
                steps = _steps(run_id, replies[index * width + 1], replies[index * width + 2])
            records.append(_record(run_id, fields, steps, with_document=with_document))
        return records

    def newest(
        self, workflow: str | None, status: str | None, limit: int, with_steps: bool
    ) -> list[RunRecord]:
        """Up to ``limit`` runs, newest start first, of ``workflow`` and ``status`` if given."""
        found: list[RunRecord] = []
        page = max(limit, 100)
        start = 0
        while len(found) < limit:
            run_ids = self.client.zrevrange(self.key("by-start"), start, start + page - 1)
            if not run_ids:
                break
            start += page
            for record in self.read(run_ids, with_document=True, with_steps=with_steps):
                if (workflow is None or record.workflow == workflow) and (
                    status is None or record.status == status
                ):
                    found.append(record)
        return found[:limit]

    def prune(self, cutoff: datetime) -> int:
        """Delete the runs finished (else started) before ``cutoff``; returns how many."""
        # A run's finish is never before its start: only runs started before the cutoff qualify.
        by_start = self.key("by-start")
        candidates = self.client.zrangebyscore(by_start, "-inf", f"({micros(cutoff)}")
        removed = 0
        cut = iso(cutoff)
        for run_id in candidates:
            finished, started = self.client.hmget(
                self.key("run", run_id), "finished_at", "started_at"
            )
            when = finished or started
            if when is not None and when >= cut:
                continue
            pipe = self.client.pipeline(transaction=True)
            for kind in ("run", "steps", "order", "approvals"):
                pipe.delete(self.key(kind, run_id))
            pipe.zrem(by_start, run_id)
            pipe.zrem(self.key("ids"), run_id)
            pipe.execute()
            removed += 1
        return removed


def _steps(
    run_id: str, data: Mapping[str, str], order: Sequence[str]
) -> dict[str, Mapping[str, Any]]:
    """A run's steps in first-journalled order, garbled ones left out (with one warning)."""
    ordered = [step_id for step_id in order if step_id in data]
    ordered += sorted(set(data) - set(ordered))
    return decode_steps([(step_id, data[step_id], False) for step_id in ordered], run_id=run_id)


def _record(
    run_id: str,
    fields: Mapping[str, str],
    steps: Mapping[str, Mapping[str, Any]],
    *,
    with_document: bool,
) -> RunRecord:
    kind = fields.get("kind", "workflow")
    document = (
        decode_object(fields.get("document"), where=f"run {run_id} document")
        if with_document
        else None
    )
    return RunRecord(
        run_id=run_id,
        kind="many" if kind == "many" else "workflow",
        workflow=fields.get("workflow"),
        fingerprint=fields.get("fingerprint"),
        task=fields.get("task"),
        status=fields.get("status", "running"),
        started_at=fields.get("started_at", ""),
        finished_at=fields.get("finished_at"),
        steps=steps,
        document=document,
    )
