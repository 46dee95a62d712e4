"""``BatchesClient``: the Message Batches routes over the Messages client's pool and error mapping.

Why a subclass of :class:`~claude_force_trio._api._client.MessagesClient`:
the batches routes (create, retrieve, list, cancel, results) are the same
edge — the same headers, the same connection pool, the same mapping of every
wire failure onto ``_errors`` and the same scrubbing of server text through one
:class:`~claude_force_trio._api._redact.Redactor` — so they reuse it instead of
drawing a second edge beside it.

Results are JSONL, possibly hundreds of megabytes: :meth:`BatchesClient.read_results`
reads the body chunk by chunk and hands each line's outcome to a callback as
soon as the line is complete, never holding the whole body. Each outcome is
what a live call would have given: a :class:`MessageResult` marked
``batch=True``, or the error the live path raises for the same failure
(``invalid_request_error`` → :class:`BadRequestError`, ``api_error`` →
:class:`InternalServerError`…); an entry that was not processed (``expired``,
``canceled``) is a :class:`BatchEntryUnfinished`, which the retry policy treats
as retryable, like a connection that gave no answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import httpx

from .._errors import APIConnectionError, APIResponseError, CFTError, status_error
from .._types import MessageResult
from ._client import MessagesClient
from ._redact import SHORT_LIMIT
from ._wire import (
    MAX_BODY_BYTES,
    content_blocks,
    merge_usage,
    opt_str,
    raise_status,
    usage_from_counts,
)

__all__ = [
    "BATCHES_PATH",
    "BatchEntryResult",
    "BatchEntryUnfinished",
    "BatchInfo",
    "BatchPage",
    "BatchesClient",
]

BATCHES_PATH: Final = "/v1/messages/batches"
#: The HTTP status the live path gives each ``error.type`` a batch entry can carry.
_ERROR_STATUS: Final[Mapping[str, int]] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class BatchEntryUnfinished(APIConnectionError):
    """Raised for a batch entry that got no answer: ``expired``, ``canceled`` or ``missing``.

    Retryable (an :class:`APIConnectionError`: no response came for the
    request), so the batch layer resubmits it in a later batch while the retry
    policy allows.

    Attributes:
        outcome: ``expired``, ``canceled``, or ``missing`` (no result line, or the
            batch is gone).
        batch_id: the batch the entry was in.
        custom_id: the entry's ``custom_id``.
    """

    def __init__(self, outcome: str, batch_id: str, custom_id: str) -> None:
        self.outcome = outcome
        self.batch_id = batch_id
        self.custom_id = custom_id
        super().__init__(f"batch entry {custom_id} of {batch_id}: {outcome}, no answer")


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """A ``MessageBatch`` object as the API reports it.

    Attributes:
        id: ``msgbatch_…``.
        processing_status: ``in_progress``, ``canceling`` or ``ended``.
        request_counts: ``processing``, ``succeeded``, ``errored``, ``canceled``, ``expired``.
        created_at: RFC 3339 dates, as sent (``None`` when absent), like the three below.
        ended_at: when processing ended.
        expires_at: when unfinished entries expire.
        cancel_initiated_at: when a cancel was asked.
        results_url: where the JSONL results are, once ended.
        raw: the whole object, scrubbed, for ``--json``.
    """

    id: str
    processing_status: str
    request_counts: Mapping[str, int]
    created_at: str | None = None
    ended_at: str | None = None
    expires_at: str | None = None
    cancel_initiated_at: str | None = None
    results_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ended(self) -> bool:
        """Whether processing has ended (results can be read)."""
        return self.processing_status == "ended"


@dataclass(frozen=True, slots=True)
class BatchPage:
    """One page of ``GET /v1/messages/batches``, newest first."""

    batches: tuple[BatchInfo, ...]
    has_more: bool
    last_id: str | None


@dataclass(frozen=True, slots=True)
class BatchEntryResult:
    """One line of a batch's results: the entry's ``custom_id`` and its outcome."""

    custom_id: str
    outcome: MessageResult | CFTError


class BatchesClient(MessagesClient):
    """The Message Batches API (arguments as for :class:`MessagesClient`)."""

    @property
    def _root(self) -> str:
        return self.base_url + BATCHES_PATH

    async def create_batch(self, lines: Sequence[bytes]) -> BatchInfo:
        """``POST /v1/messages/batches`` with ``lines``, each one encoded request entry.

        Args:
            lines: ``{"custom_id": ..., "params": ...}`` objects, JSON-encoded.

        Raises:
            APIStatusError: the create was refused (a 400 names ``requests.N.…``).
            APITimeoutError: a timeout passed.
            APIConnectionError: no response.
            APIResponseError: a 2xx answer that is not a batch.
        """
        content = b'{"requests":[' + b",".join(lines) + b"]}"
        return self._info(await self._json("POST", self._root, content))

    async def retrieve(self, batch_id: str) -> BatchInfo:
        """``GET /v1/messages/batches/{id}`` (errors as for :meth:`create_batch`)."""
        return self._info(await self._json("GET", f"{self._root}/{quote(batch_id)}"))

    async def cancel(self, batch_id: str) -> BatchInfo:
        """``POST /v1/messages/batches/{id}/cancel`` (errors as for :meth:`create_batch`)."""
        return self._info(await self._json("POST", f"{self._root}/{quote(batch_id)}/cancel", b""))

    async def list_batches(
        self, *, limit: int = 20, after_id: str | None = None, before_id: str | None = None
    ) -> BatchPage:
        """One page of batches, newest first (errors as for :meth:`create_batch`).

        Args:
            limit: batches on the page (1–1000).
            after_id: the page after this batch (the previous page's ``last_id``).
            before_id: the page before this batch.
        """
        params: dict[str, str | int] = {"limit": limit}
        if after_id is not None:
            params["after_id"] = after_id
        if before_id is not None:
            params["before_id"] = before_id
        url = httpx.URL(self._root, params=params)
        data = await self._json("GET", str(url))
        items = data.get("data")
        if not isinstance(items, list):
            raise APIResponseError("malformed batch list: no data array")
        return BatchPage(
            tuple(self._info(item) for item in items),
            bool(data.get("has_more")),
            self._redact(opt_str(data.get("last_id")) or "", SHORT_LIMIT) or None,
        )

    async def read_results(
        self, batch: BatchInfo, on_entry: Callable[[BatchEntryResult], object]
    ) -> int:
        """Stream an ended batch's results, calling ``on_entry`` as each line completes.

        The results URL is the batch's ``results_url`` when it is on this
        client's host (the key is never sent elsewhere), else the same path here.

        Returns:
            How many lines were read.

        Raises:
            APIStatusError: the results were refused (not ended, gone).
            APIConnectionError: the connection failed part way (lines already
                handed over stay handed over).
            APIResponseError: a line that is not a result, or one over
                :data:`MAX_BODY_BYTES`.
        """
        response = await self._request("GET", self._results_url(batch))
        if not response.is_success:
            raise_status(response, await self._read_body(response), self._redact)
        pending = bytearray()
        count = 0
        try:
            async for chunk in response.aiter_bytes():
                pending += chunk
                if b"\n" not in chunk:
                    if len(pending) > MAX_BODY_BYTES:
                        raise APIResponseError("a batch result line is larger than allowed")
                    continue
                *lines, rest = pending.split(b"\n")
                pending = bytearray(rest)
                for line in lines:
                    if line.strip():
                        on_entry(self._entry(bytes(line), batch.id))
                        count += 1
            if pending.strip():
                on_entry(self._entry(bytes(pending), batch.id))
                count += 1
        except httpx.HTTPError as exc:
            self._raise_transport(exc)
        finally:
            await response.aclose()
        return count

    # -- the wire ---------------------------------------------------------------

    def _results_url(self, batch: BatchInfo) -> str:
        own = httpx.URL(self.base_url)
        if batch.results_url:
            given = httpx.URL(batch.results_url)
            if (given.scheme, given.host, given.port) == (own.scheme, own.host, own.port):
                return batch.results_url
        return f"{self._root}/{quote(batch.id)}/results"

    async def _request(self, method: str, url: str, content: bytes | None = None) -> httpx.Response:
        if self._closed:
            raise RuntimeError("this BatchesClient has been closed")
        request = httpx.Request(
            method, url, headers=self._json_headers, content=content, extensions=self._extensions
        )
        try:
            return await self._transport.handle_async_request(request)
        except httpx.HTTPError as exc:
            self._raise_sending(exc)

    async def _json(self, method: str, url: str, content: bytes | None = None) -> dict[str, Any]:
        response = await self._request(method, url, content)
        body = await self._read_body(response)
        if not response.is_success:
            raise_status(response, body, self._redact)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise APIResponseError("malformed Message Batches response (not JSON)") from exc
        if not isinstance(data, dict):
            raise APIResponseError("malformed Message Batches response (not an object)")
        return data

    def _info(self, data: object) -> BatchInfo:
        if not isinstance(data, dict):
            raise APIResponseError("malformed message batch: not an object")
        batch_id, status = data.get("id"), data.get("processing_status")
        if not isinstance(batch_id, str) or not isinstance(status, str):
            raise APIResponseError("malformed message batch: no id or processing_status")
        raw = json.loads(self._redact(json.dumps(data), 1 << 30))
        counts = data.get("request_counts")
        kept = {
            str(k): v
            for k, v in (counts.items() if isinstance(counts, dict) else ())
            if isinstance(v, int) and not isinstance(v, bool)
        }

        def stamp(name: str) -> str | None:
            value = opt_str(data.get(name))
            return None if value is None else self._redact(value, SHORT_LIMIT)

        return BatchInfo(
            self._redact(batch_id, SHORT_LIMIT),
            self._redact(status, SHORT_LIMIT),
            kept,
            stamp("created_at"),
            stamp("ended_at"),
            stamp("expires_at"),
            stamp("cancel_initiated_at"),
            opt_str(data.get("results_url")),
            raw,
        )

    def _entry(self, line: bytes, batch_id: str) -> BatchEntryResult:
        """One result line: its custom id and the outcome a live call would have had."""
        try:
            data = json.loads(line)
            custom_id = data["custom_id"]
            result = data["result"]
            kind = result["type"]
            if not isinstance(custom_id, str) or not isinstance(kind, str):
                raise TypeError("custom_id and result.type must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise APIResponseError(f"malformed batch result line ({type(exc).__name__})") from exc
        if kind == "succeeded":
            try:
                return BatchEntryResult(custom_id, self._message(result["message"]))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                error = APIResponseError(
                    self._redact(f"malformed batch message ({type(exc).__name__}: {exc})")
                )
                return BatchEntryResult(custom_id, error)
        if kind == "errored":
            return BatchEntryResult(custom_id, self._entry_error(result.get("error")))
        outcome = kind if kind in ("expired", "canceled") else "missing"
        return BatchEntryResult(custom_id, BatchEntryUnfinished(outcome, batch_id, custom_id))

    def _entry_error(self, envelope: object) -> CFTError:
        """The live path's error for an ``errored`` entry's ``{"type": "error", "error": …}``."""
        inner = envelope.get("error") if isinstance(envelope, dict) else None
        error_type = opt_str(inner.get("type")) if isinstance(inner, dict) else None
        message = opt_str(inner.get("message")) if isinstance(inner, dict) else None
        request_id = opt_str(envelope.get("request_id")) if isinstance(envelope, dict) else None
        kind = error_type or "api_error"
        return status_error(
            _ERROR_STATUS.get(kind, 500),
            self._redact(kind, SHORT_LIMIT),
            self._redact(message or "the batch entry failed"),
            request_id=None if request_id is None else self._redact(request_id, SHORT_LIMIT),
        )

    def _message(self, data: Mapping[str, Any]) -> MessageResult:
        msg_id, model = data["id"], data["model"]
        if not (isinstance(msg_id, str) and isinstance(model, str)):
            raise TypeError("id and model must be strings")
        kept = content_blocks(data["content"])
        counts: dict[str, int] = {}
        merge_usage(counts, data.get("usage"))
        return MessageResult(
            id=self._redact(msg_id, SHORT_LIMIT),
            model=self._redact(model, SHORT_LIMIT),
            text="".join(block["text"] for block in kept if block["type"] == "text"),
            stop_reason=opt_str(data.get("stop_reason")),
            usage=usage_from_counts(counts),
            stop_sequence=opt_str(data.get("stop_sequence")),
            content=kept,
            batch=True,
        )
