"""Checks for ``POST /v1/messages/batches``: the envelope, then every entry's ``params``.

Why all of it up front: a batch that the server accepts and then fails entry by
entry costs the client a polling cycle to find a typo. The simulator refuses
the whole create instead, with one 400 ``invalid_request_error`` whose message
starts with the dotted path of the first offending field, the entry's index
included (``requests.3.params.max_tokens: Field required``), so a client bug
surfaces at once, as the API reports it. Each ``params`` goes through exactly
the checks of a ``/v1/messages`` body (shape, model and limits, tools,
thinking, turns, cache breakpoints); streaming is refused, as a batch entry
has no connection to stream on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._checks import check_semantics
from ._promptcache import Prompt
from ._validate import InvalidRequest, validate_body

__all__ = ["MAX_BATCH_REQUESTS", "BatchEntry", "parse_create"]

#: The API's limit on entries per batch.
MAX_BATCH_REQUESTS: Final = 100_000
_CUSTOM_ID: Final = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PATH_FIRST: Final = re.compile(r"^[A-Za-z_][\w.]*: ")


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One accepted entry: its ``custom_id``, checked ``params`` and prompt size."""

    custom_id: str
    params: Mapping[str, Any]
    prompt: Prompt


def _within(prefix: str, exc: InvalidRequest) -> InvalidRequest:
    """The same refusal, its field path moved under ``prefix``; always a 400."""
    message = str(exc)
    if _PATH_FIRST.match(message):
        return InvalidRequest(f"{prefix}.{message}")
    return InvalidRequest(f"{prefix}: {message}")


def _check_params(params: object, path: str) -> tuple[dict[str, Any], Prompt]:
    if not isinstance(params, dict):
        raise InvalidRequest(f"{path}: Input should be a valid dictionary")
    try:
        body = validate_body(params)
        check_semantics(body, count_tokens=False)
        prompt = Prompt.from_body(body)
    except InvalidRequest as exc:
        raise _within(path, exc) from None
    if body.get("stream") is True:
        raise InvalidRequest(f"{path}.stream: streaming is not supported in a message batch")
    return body, prompt


def _check_entry(entry: object, index: int, seen: dict[str, int]) -> BatchEntry:
    path = f"requests.{index}"
    if not isinstance(entry, Mapping):
        raise InvalidRequest(f"{path}: Input should be a valid dictionary")
    for key in entry:
        if key not in ("custom_id", "params"):
            raise InvalidRequest(f"{path}.{key}: Extra inputs are not permitted")
    for key in ("custom_id", "params"):
        if key not in entry:
            raise InvalidRequest(f"{path}.{key}: Field required")
    custom_id = entry["custom_id"]
    if not isinstance(custom_id, str):
        raise InvalidRequest(f"{path}.custom_id: Input should be a valid string")
    if not _CUSTOM_ID.match(custom_id):
        raise InvalidRequest(
            f"{path}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        )
    if (first := seen.setdefault(custom_id, index)) != index:
        raise InvalidRequest(
            f"{path}.custom_id: custom_id {custom_id!r} is already used by requests.{first}; "
            "each custom_id must be unique within a batch"
        )
    params, prompt = _check_params(entry["params"], f"{path}.params")
    return BatchEntry(custom_id, params, prompt)


def parse_create(body: object, *, max_requests: int = MAX_BATCH_REQUESTS) -> list[BatchEntry]:
    """Check a decoded create body and return its entries, in order.

    Args:
        body: the decoded request JSON.
        max_requests: most entries a batch may hold (the API's is 100,000).

    Raises:
        InvalidRequest: the first problem, worded like the API's, naming its field.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object")
    for key in body:
        if key != "requests":
            raise InvalidRequest(f"{key}: Extra inputs are not permitted")
    if "requests" not in body:
        raise InvalidRequest("requests: Field required")
    requests = body["requests"]
    if not isinstance(requests, list):
        raise InvalidRequest("requests: Input should be a valid list")
    if not requests:
        raise InvalidRequest("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > max_requests:
        raise InvalidRequest(
            f"requests: List should have at most {max_requests} items after validation, "
            f"not {len(requests)}"
        )
    seen: dict[str, int] = {}
    return [_check_entry(entry, i, seen) for i, entry in enumerate(requests)]
