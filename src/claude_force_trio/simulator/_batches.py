"""The Message Batches routes: create, retrieve, list, cancel, delete, and results as JSONL.

Why a clock model and not background work: a batch's state is a pure function
of the simulator's clock (``anyio.current_time()``, virtual under trio's
``MockClock``), so nothing runs between polls, a simulator on a thread and one
in a test's own trio run behave alike, and a test can jump the clock past a
batch's end instead of waiting. A batch of N entries processes for
``SimulatorConfig.batch_latency_s × latency_scale`` seconds, entry *i*
finishing at ``(i + 1) / N`` of that span; it reports ``in_progress`` (every
entry counted as ``processing``, as the API counts until the end) and then
``ended`` with its ``results_url``. Cancelling makes it ``canceling`` for a
tenth of the span (never past its natural end): entries that had finished
keep their outcome, the others are ``canceled``. Entries still unfinished 24
hours after creation are ``expired``.

When a batch is first seen ended, its results are fixed once: each entry gets
the reply ``/v1/messages`` gives for the same params (non-streaming), with
usage accounted against the same prompt cache at the entry's finishing time,
or the outcome its marker or the seeded plan gives it (``_batchfaults``). The
results are streamed as ``application/x-jsonl`` in chunks of about 64 KiB,
each line encoded only when its chunk is sent, in entry order.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs, unquote

from ._batchcheck import BatchEntry, parse_create
from ._batchfaults import BATCH_FAULT_KINDS, entry_fault
from ._config import SimulatorConfig
from ._promptcache import PromptCache
from ._turns import reply_for
from ._validate import InvalidRequest
from ._wire import message_object, new_id, usage_object

__all__ = ["BATCHES_ROUTE", "BatchNotFound", "BatchStore"]

BATCHES_ROUTE: Final = "/v1/messages/batches"
_DAY_S: Final = 24 * 3600.0
_CANCEL_FRACTION: Final = 0.1
_CHUNK_BYTES: Final = 64 * 1024
_OUTCOMES: Final = ("succeeded", "errored", "canceled", "expired")


class BatchNotFound(InvalidRequest):
    """A batch id the simulator does not hold (never created, or deleted): 404."""

    status = 404
    error_type = "not_found_error"


@dataclass(slots=True)
class _Batch:
    """One batch: its entries, their pre-drawn faults, its clock, and (once ended) results."""

    id: str
    entries: list[BatchEntry]
    faults: list[str | None]
    created: float  # the simulator's clock
    wall: float  # time.time() at creation, to print the clock as dates
    span: float
    cancel_at: float | None = None
    results: list[dict[str, Any]] | None = field(default=None, repr=False)

    def finish(self, index: int) -> float:
        """When entry ``index`` is done processing, on the simulator's clock."""
        return self.created + self.span * (index + 1) / len(self.entries)

    @property
    def ends_at(self) -> float:
        """When processing ends: naturally, at expiry, or a short while after a cancel."""
        natural = self.created + min(self.span, _DAY_S)
        if self.cancel_at is None:
            return natural
        return min(natural, self.cancel_at + self.span * _CANCEL_FRACTION)

    def status(self, now: float) -> str:
        if now >= self.ends_at:
            return "ended"
        return "in_progress" if self.cancel_at is None else "canceling"

    def stamp(self, clock: float | None) -> str | None:
        """An RFC 3339 date for a time on the simulator's clock (``None`` stays ``None``)."""
        if clock is None:
            return None
        when = datetime.fromtimestamp(self.wall + (clock - self.created), UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class BatchStore:
    """Every batch the simulator holds, oldest first, and the routes that read them.

    Args:
        config: the simulator's settings (``batch_latency_s``, ``batch_faults``, ``seed``).
        cache: the simulator's prompt cache, which batch entries read and write too.
    """

    def __init__(self, config: SimulatorConfig, cache: PromptCache) -> None:
        self._config = config
        self._cache = cache
        self._batches: dict[str, _Batch] = {}
        self._ordinal = itertools.count(1)

    def answer(
        self, method: str, path: str, query: str, body: object, *, now: float, base_url: str
    ) -> dict[str, Any] | Iterator[bytes]:
        """The answer to one batches request: a JSON object, or the JSONL results' chunks.

        Args:
            method: the HTTP method.
            path: the path, starting with ``/v1/messages/batches``.
            query: the raw query string (``limit``, ``before_id``, ``after_id``).
            body: the decoded JSON body of a create; ignored otherwise.
            now: ``anyio.current_time()``.
            base_url: ``http://host:port`` as the client reached the simulator.

        Raises:
            BatchNotFound: an unknown batch id, or no such route (404).
            InvalidRequest: a refused create, list query, delete or results fetch (400).
        """
        parts = path.removeprefix(BATCHES_ROUTE).strip("/").split("/")
        batch_id, action = unquote(parts[0]), "/".join(parts[1:])
        if not batch_id:
            if method == "POST":
                return self._create(body, now, base_url)
            if method == "GET":
                return self._page(query, now, base_url)
        elif (method, action) == ("GET", ""):
            return self._object(self._get(batch_id, now), now, base_url)
        elif (method, action) == ("DELETE", ""):
            return self._delete(batch_id, now)
        elif (method, action) == ("POST", "cancel"):
            return self._cancel(batch_id, now, base_url)
        elif (method, action) == ("GET", "results"):
            return self._results(batch_id, now)
        raise BatchNotFound("Not found")

    def _create(self, body: object, now: float, base_url: str) -> dict[str, Any]:
        entries = parse_create(body, max_requests=self._config.batch_max_requests)
        ordinal = next(self._ordinal)
        plan = self._config.batch_faults
        rng = random.Random(f"{self._config.seed}:batch:{ordinal}")
        drawn = [plan.draw(rng) if plan is not None and plan.rates else None for _ in entries]
        batch = _Batch(
            id=new_id("msgbatch"),
            entries=entries,
            faults=[entry_fault(e.params, d) for e, d in zip(entries, drawn, strict=True)],
            created=now,
            wall=time.time(),
            span=self._config.batch_latency_s * self._config.latency_scale,
        )
        self._batches[batch.id] = batch
        # The create answer is the batch as it starts, whatever its span: in progress.
        return self._object(batch, now, base_url, starting=True)

    def _get(self, batch_id: str, now: float) -> _Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise BatchNotFound(f"message_batch_id: {batch_id} not found")
        if batch.results is None and batch.status(now) == "ended":
            batch.results = self._settle(batch)
        return batch

    def _settle(self, batch: _Batch) -> list[dict[str, Any]]:
        """Fix every entry's result, the first time the batch is seen ended."""
        results: list[dict[str, Any]] = []
        expires = batch.created + _DAY_S
        for index, (entry, fault) in enumerate(zip(batch.entries, batch.faults, strict=True)):
            done = batch.finish(index)
            if batch.cancel_at is not None and done > batch.cancel_at:
                fault = "canceled"
            elif done > expires:
                fault = "expired"
            results.append(
                {"custom_id": entry.custom_id, "result": self._result(entry, fault, done)}
            )
        return results

    def _result(self, entry: BatchEntry, fault: str | None, done: float) -> dict[str, Any]:
        if fault is None:
            reply = reply_for(entry.params)
            usage = usage_object(self._cache.account(entry.prompt, done), reply.output_tokens)
            message = message_object(new_id("msg"), str(entry.params["model"]), reply, usage)
            return {"type": "succeeded", "message": message}
        error = BATCH_FAULT_KINDS[fault]
        if error is None:
            return {"type": fault}
        error_type, message_text = error
        return {
            "type": "errored",
            "error": {
                "type": "error",
                "error": {"type": error_type, "message": message_text},
                "request_id": None,
            },
        }

    def _object(
        self, batch: _Batch, now: float, base_url: str, *, starting: bool = False
    ) -> dict[str, Any]:
        """The API's ``MessageBatch`` object for ``batch`` as of ``now``."""
        status = "in_progress" if starting else batch.status(now)
        counts = dict.fromkeys(("processing", *_OUTCOMES), 0)
        if status == "ended" and batch.results is not None:
            for line in batch.results:
                counts[line["result"]["type"]] += 1
        else:
            counts["processing"] = len(batch.entries)
        ended = status == "ended"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": batch.stamp(batch.ends_at) if ended else None,
            "created_at": batch.stamp(batch.created),
            "expires_at": batch.stamp(batch.created + _DAY_S),
            "archived_at": None,
            "cancel_initiated_at": batch.stamp(batch.cancel_at),
            "results_url": f"{base_url}{BATCHES_ROUTE}/{batch.id}/results" if ended else None,
        }

    def _cancel(self, batch_id: str, now: float, base_url: str) -> dict[str, Any]:
        batch = self._get(batch_id, now)
        # Cancelling an ended or canceling batch changes nothing and answers it as it is.
        if batch.status(now) == "in_progress":
            batch.cancel_at = now
        return self._object(batch, now, base_url)

    def _delete(self, batch_id: str, now: float) -> dict[str, Any]:
        batch = self._get(batch_id, now)
        if batch.status(now) != "ended":
            raise InvalidRequest(
                f"message_batch_id: {batch_id} is still processing; a batch can only be "
                "deleted once it has ended (cancel it first)"
            )
        del self._batches[batch_id]
        return {"id": batch_id, "type": "message_batch_deleted"}

    def _results(self, batch_id: str, now: float) -> Iterator[bytes]:
        batch = self._get(batch_id, now)
        if batch.results is None:
            raise InvalidRequest(
                f"message_batch_id: {batch_id} has not ended; its results are available "
                "once processing_status is 'ended' (results_url is null until then)"
            )
        return _chunks(batch.results)

    def _page(self, query: str, now: float, base_url: str) -> dict[str, Any]:
        """One page of ``GET /v1/messages/batches``: newest first, ``before_id``/``after_id``."""
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        try:
            limit = int(params.get("limit", "20"))
        except ValueError:
            raise InvalidRequest("limit: Input should be a valid integer") from None
        if not 1 <= limit <= 1000:
            raise InvalidRequest(
                "limit: Input should be greater than or equal to 1 and at most 1000"
            )
        newest_first = list(reversed(self._batches))
        start, stop = 0, len(newest_first)
        after, before = params.get("after_id"), params.get("before_id")
        if after is not None:
            start = _index(newest_first, after, "after_id") + 1
        if before is not None:
            stop = _index(newest_first, before, "before_id")
            start = max(start, stop - limit)
        page = newest_first[start:stop][:limit]
        more = (start + len(page) < stop) if before is None else start > 0
        return {
            "data": [self._object(self._get(b, now), now, base_url) for b in page],
            "has_more": more,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }


def _index(ids: list[str], cursor: str, name: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise InvalidRequest(f"{name}: no message batch {cursor!r}") from None


def _chunks(results: list[dict[str, Any]]) -> Iterator[bytes]:
    """The JSONL body in pieces of about 64 KiB, each line encoded as its piece fills."""
    piece = bytearray()
    for line in results:
        piece += _dumps(line) + b"\n"
        if len(piece) >= _CHUNK_BYTES:
            yield bytes(piece)
            piece.clear()
    if piece:
        yield bytes(piece)
