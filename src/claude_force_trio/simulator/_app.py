"""The simulator itself: per-connection loop, routing, checks, faults, replies, the log.

Order of checks for ``POST /v1/messages`` follows the API: route, auth,
``anthropic-version``, JSON, body shape; then an injected fault (scripted
first, else the seeded plan), then the rate limiter, then the reply. A fault
is therefore consumed only by a request that would otherwise have succeeded.
The Message Batches routes (``/v1/messages/batches…``) share the auth and
version checks and are answered by ``_batches``; faults and rate limits do
not apply to them.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import ByteStream

from ._batches import BATCHES_ROUTE, BatchStore
from ._checks import check_semantics
from ._config import RequestRecord, SimulatorConfig, SimulatorStats
from ._faults import FAULT_KINDS, Fault
from ._http import MAX_BODY_BYTES, BadHttpRequest, HttpConnection, HttpRequest
from ._models import models_response
from ._promptcache import CacheUsage, Prompt, PromptCache
from ._ratelimit import RateLimiter
from ._replies import Reply
from ._streaming import send_message, stream_message
from ._threads import ThreadStore
from ._turns import reply_for
from ._validate import SUPPORTED_VERSIONS, InvalidRequest, validate_body
from ._wire import content_of, error_body, message_object, new_id, usage_object

__all__ = ["Simulator"]

log = logging.getLogger("claude_force_trio.simulator")

_ROUTES = {"/v1/messages": False, "/v1/messages/count_tokens": True}
_MODELS_ROUTE = "/v1/models"
_CLIENT_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError)


@dataclass(slots=True)
class _Exchange:
    """What one request did, filled in as it goes and frozen into a RequestRecord."""

    seq: int
    request: HttpRequest
    request_id: str
    started_at: float
    status: int | None = None
    error_type: str | None = None
    body: dict[str, Any] | None = None
    fault: str | None = None
    usage: dict[str, Any] | None = None
    keep_alive: bool = True
    #: The body with its whole history (a beta ``thread`` holds the earlier turns).
    full: dict[str, Any] | None = None


class _Refusal(Exception):
    """An error answer decided during the checks: status, API error type, message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


class Simulator:
    """A running simulator: its URL, config and request log, and the fault script.

    Create it through :func:`open_simulator` (in-process) or :func:`serve_simulator`.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.url = ""
        self._records: list[RequestRecord] = []
        self._script: deque[Fault | None] = deque()
        self._rng = random.Random(self.config.seed)
        self._cache = PromptCache()
        self._limiter: RateLimiter | None = None
        self._seq = itertools.count(1)
        self._threads = ThreadStore()
        self._batches = BatchStore(self.config, self._cache)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the log, in the order requests finished."""
        return list(self._records)

    def clear_log(self) -> None:
        """Forget the recorded requests (the prompt cache and rate limits are kept)."""
        self._records.clear()

    def stats(self) -> SimulatorStats:
        """Counts by status and fault kind, and token totals, over the current log."""
        return SimulatorStats.from_records(self._records)

    def script(self, *faults: Fault | str | None) -> None:
        """Queue faults for the next ``/v1/messages`` requests, one per request, in order.

        Args:
            faults: a :class:`Fault`, a fault kind such as ``"529"``, or ``None`` for
                "answer this one normally". Appends to what is already queued; the
                seeded plan resumes once the queue is empty.
        """
        self._script.extend(Fault(f) if isinstance(f, str) else f for f in faults)

    def _limits(self) -> RateLimiter | None:
        c = self.config
        if self._limiter is None and (c.rpm or c.tpm or c.otpm):
            self._limiter = RateLimiter(c.rpm, c.tpm, c.otpm, anyio.current_time())
        return self._limiter

    def _next_fault(self) -> Fault | None:
        if self._script:
            return self._script.popleft()
        plan = self.config.faults
        return plan.draw(self._rng) if plan is not None and plan.rates else None

    def _base_headers(self, request_id: str) -> list[tuple[str, str]]:
        """Headers every response carries: request id, and rate limits when configured."""
        headers = [("request-id", request_id)]
        if (limiter := self._limits()) is not None:
            headers += limiter.headers(anyio.current_time())
        return headers

    async def handle_connection(self, stream: ByteStream) -> None:
        """Serve requests on one connection until the client leaves; never raises."""
        http = HttpConnection(stream)
        try:
            while True:
                try:
                    request = await http.read_request(self._body_limit)
                except BadHttpRequest as exc:
                    if http.can_respond:
                        rid = new_id("req")
                        body = error_body("invalid_request_error", str(exc), rid)
                        headers = [*self._base_headers(rid), ("content-type", "application/json")]
                        await http.respond(exc.status, [*headers, ("connection", "close")], body)
                    return
                if request is None:
                    return
                exchange = await self._serve_one(http, request)
                if not exchange.keep_alive or not http.next_cycle():
                    return
        except _CLIENT_GONE:
            pass
        except Exception:  # a simulator bug must not take the whole server down
            log.exception("simulator: unexpected error on a connection")
        finally:
            await http.aclose()

    async def _serve_one(self, http: HttpConnection, request: HttpRequest) -> _Exchange:
        ex = _Exchange(next(self._seq), request, new_id("req"), anyio.current_time())
        try:
            try:
                await self._dispatch(http, ex)
            except _Refusal as refusal:
                await self._send_error(
                    http, ex, refusal.status, refusal.error_type, refusal.message
                )
            except _CLIENT_GONE:
                ex.keep_alive = False
            except Exception:
                log.exception("simulator: unexpected error answering %s", request.path)
                ex.keep_alive = False
                if http.can_respond:
                    await self._send_error(http, ex, 500, "api_error", "Internal simulator error")
        finally:
            self._records.append(self._record(ex))
        return ex

    def _record(self, ex: _Exchange) -> RequestRecord:
        body = ex.body or {}
        model = body.get("model")
        return RequestRecord(
            seq=ex.seq,
            method=ex.request.method,
            path=ex.request.path,
            status=ex.status,
            stream=body.get("stream") is True,
            model=model if isinstance(model, str) else None,
            fault=ex.fault,
            started_at=ex.started_at,
            finished_at=anyio.current_time(),
            body=ex.body,
            usage=ex.usage,
            request_id=ex.request_id,
            error_type=ex.error_type,
        )

    async def _send_error(
        self, http: HttpConnection, ex: _Exchange, status: int, error_type: str, message: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:  # fmt: skip
        """Answer with the API's error body and record the outcome."""
        ex.status, ex.error_type = status, error_type
        headers = [*self._base_headers(ex.request_id), ("content-type", "application/json")]
        await http.respond(
            status, headers + (extra or []), error_body(error_type, message, ex.request_id)
        )

    async def _respond_json(self, http: HttpConnection, ex: _Exchange, data: object) -> None:
        """A 200 JSON answer that is not a Message (token counts, model listings)."""
        ex.status = 200
        headers = [*self._base_headers(ex.request_id), ("content-type", "application/json")]
        await http.respond(200, headers, json.dumps(data).encode())

    def _check_headers(self, headers: dict[str, str], *, version_required: bool = True) -> None:
        key = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if key is None and auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
        # Messages never include the key that was sent, so it cannot leak into logs.
        if not key:
            raise _Refusal(401, "authentication_error", "x-api-key header is required")
        expected = self.config.api_key
        if expected is not None and not hmac.compare_digest(key.encode(), expected.encode()):
            raise _Refusal(401, "authentication_error", "invalid x-api-key")
        version = headers.get("anthropic-version")
        if version is None and not version_required:
            return
        if version is None:
            raise _Refusal(400, "invalid_request_error", "anthropic-version: header is required")
        if version not in SUPPORTED_VERSIONS:
            supported = " or ".join(SUPPORTED_VERSIONS)
            raise _Refusal(400, "invalid_request_error", f"anthropic-version: must be {supported}")

    def _body_limit(self, path: str) -> int:
        """The largest request body for ``path``: a batch create may be far larger."""
        return self.config.batch_max_bytes if path == BATCHES_ROUTE else MAX_BODY_BYTES

    @staticmethod
    def _decode(request: HttpRequest) -> object:
        try:
            return json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Refusal(
                400,
                "invalid_request_error",
                f"There was an error parsing the body of your request: {exc}",
            ) from None

    async def _dispatch_batches(self, http: HttpConnection, ex: _Exchange) -> None:
        """The Message Batches routes (``_batches``): checks, then a JSON or JSONL answer."""
        request = ex.request
        self._check_headers(request.headers)
        decoded = None
        if (request.method, request.path) == ("POST", BATCHES_ROUTE):
            decoded = self._decode(request)
            ex.body = decoded if isinstance(decoded, dict) else None
        base_url = f"http://{request.headers['host']}" if "host" in request.headers else self.url
        try:
            answer = self._batches.answer(
                request.method, request.path, request.query, decoded,
                now=anyio.current_time(), base_url=base_url,
            )  # fmt: skip
        except InvalidRequest as exc:
            raise _Refusal(exc.status, exc.error_type, str(exc)) from None
        if isinstance(answer, dict):
            await self._respond_json(http, ex, answer)
            return
        ex.status = 200
        headers = [*self._base_headers(ex.request_id), ("content-type", "application/x-jsonl")]
        await http.start_stream(200, headers)
        for chunk in answer:
            await http.send_chunk(chunk)
        await http.end_stream()

    async def _dispatch(self, http: HttpConnection, ex: _Exchange) -> None:
        request = ex.request
        if request.path == BATCHES_ROUTE or request.path.startswith(BATCHES_ROUTE + "/"):
            await self._dispatch_batches(http, ex)
            return
        if request.method == "GET" and request.path.startswith(_MODELS_ROUTE):
            self._check_headers(request.headers, version_required=False)
            try:
                listing = models_response(request.path, request.query)
            except InvalidRequest as exc:
                raise _Refusal(exc.status, exc.error_type, str(exc)) from None
            await self._respond_json(http, ex, listing)
            return
        count_tokens = _ROUTES.get(request.path)
        if count_tokens is None or request.method != "POST":
            raise _Refusal(404, "not_found_error", "Not found")
        self._check_headers(request.headers)
        decoded = self._decode(request)
        try:
            ex.body = validate_body(decoded, count_tokens=count_tokens)
            ex.full = full = self._threads.expand(ex.body)
            check_semantics(full, count_tokens=count_tokens)
            prompt = Prompt.from_body(full)
        except InvalidRequest as exc:
            if isinstance(decoded, dict):
                ex.body = decoded
            raise _Refusal(exc.status, exc.error_type, str(exc)) from None
        if count_tokens:
            ex.usage = {"input_tokens": prompt.input_tokens}
            await self._respond_json(http, ex, ex.usage)
            return
        if (fault := self._next_fault()) is not None:
            ex.fault = fault.kind
            await self._inject(http, ex, fault, prompt)
            return
        reply = reply_for(full)
        now = anyio.current_time()
        if (limiter := self._limits()) is not None:
            verdict = limiter.admit(prompt.input_tokens, reply.output_tokens, now)
            if not verdict.admitted:
                ms = max(1, math.ceil(verdict.retry_after * 1000))
                retry = [("retry-after", str(math.ceil(ms / 1000))), ("retry-after-ms", str(ms))]
                await self._send_error(http, ex, 429, "rate_limit_error", verdict.reason, retry)
                return
        await self._answer(http, ex, reply, self._cache.account(prompt, now))

    async def _answer(
        self, http: HttpConnection, ex: _Exchange, reply: Reply, cache: CacheUsage,
        fail: Fault | None = None,
    ) -> None:  # fmt: skip
        """Send the reply (JSON or SSE) after its modelled latency, and record it."""
        assert ex.body is not None
        model = str(ex.body["model"])
        ex.usage = usage_object(cache, reply.output_tokens)
        latency = self.config.latency(ex.body, reply.output_tokens)
        msg_id = new_id("msg")
        if ex.body.get("thread") and ex.full is not None:
            self._threads.remember(msg_id, ex.full, content_of(reply))
        # Status first: if the client leaves mid-reply the log still says what was sent.
        ex.status = 200
        headers = self._base_headers(ex.request_id)
        if ex.body.get("stream") is True:
            await stream_message(
                http, headers, msg_id, model, reply, ex.usage, latency,
                request_id=ex.request_id, fail=fail,
            )  # fmt: skip
        else:
            message = message_object(msg_id, model, reply, ex.usage)
            await send_message(http, headers, message, latency[1])

    async def _inject(
        self, http: HttpConnection, ex: _Exchange, fault: Fault, prompt: Prompt
    ) -> None:
        assert ex.body is not None
        if fault.kind == "reset":
            ex.keep_alive = False
            await http.reset()
            return
        if fault.kind == "stall":
            ex.keep_alive = False
            await http.wait_until_gone()
            return
        if fault.kind == "stream_error" and ex.body.get("stream") is True:
            cache = self._cache.account(prompt, anyio.current_time())
            assert ex.full is not None
            await self._answer(http, ex, reply_for(ex.full), cache, fail=fault)
            return
        status, error_type, default_message = FAULT_KINDS[fault.kind] or (500, "api_error", "")
        extra = [*fault.retry_headers(), *fault.headers.items()]
        await self._send_error(
            http, ex, status, error_type, fault.message or default_message, extra
        )
