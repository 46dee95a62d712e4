"""The wire format of the Messages API: request headers, kept response headers, usage, text.

Shared by the client (JSON answers) and the stream reader (SSE answers), so
both read a server the same way and neither grows past one job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import metadata
from typing import Any, NoReturn

import httpx

from .._errors import status_error
from .._types import Usage
from ._redact import SHORT_LIMIT, Redactor

__all__ = [
    "MAX_BODY_BYTES",
    "NOT_FOR_COUNT",
    "build_headers",
    "clean_text",
    "content_blocks",
    "dumps",
    "json_post",
    "kept_headers",
    "merge_usage",
    "opt_str",
    "raise_status",
    "usage_from_counts",
]

#: The most (decoded) bytes a non-streamed response body may have: a Message
#: is rarely over 1 MB, and gzip must not let a few kilobytes unpack into gigabytes.
MAX_BODY_BYTES = 32 * 1024 * 1024

#: Response headers worth keeping: what the retry layer and the rate limiter read.
_KEPT_HEADERS = frozenset({"request-id", "retry-after", "retry-after-ms", "x-should-retry"})
_RATELIMIT_PREFIX = "anthropic-ratelimit-"

#: Fields of a Messages body that ``count_tokens`` rejects as unknown, so callers
#: may count the very body they are about to send. A deny-list rather than an
#: allow-list so fields added to both endpoints later pass through.
NOT_FOR_COUNT = frozenset(
    {
        "max_tokens",
        "stream",
        "temperature",
        "top_k",
        "top_p",
        "stop_sequences",
        "metadata",
        "service_tier",
        "container",
        "inference_geo",
    }
)

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
#: The ``cache_creation`` breakdown of cache writes by lifetime (priced apart).
_CACHE_CREATION_FIELDS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")

dumps = json.JSONEncoder(separators=(",", ":")).encode


def _package_version() -> str:
    try:
        return metadata.version("claude-force-trio")
    except metadata.PackageNotFoundError:
        return "0"


def build_headers(
    *,
    host: bytes,
    api_key: str | None,
    auth: str,
    version: str,
    user_agent: str | None,
    accept: str,
) -> httpx.Headers:
    """Build the request headers once, so no call pays for them again.

    ``Host`` is among them (``URL.netloc``, as httpx writes it), so a request
    needs only its ``Content-Length`` added (``_client``).
    """
    headers = {
        "Host": host.decode("ascii"),
        "anthropic-version": version,
        "content-type": "application/json",
        "accept": accept,
        "user-agent": user_agent or f"claude-force-trio/{_package_version()}",
    }
    if accept == "application/json":
        headers["accept-encoding"] = "gzip, deflate"
    else:
        # A compressed event stream can sit in a proxy's or zlib's buffer;
        # events must reach on_text as soon as they are sent.
        headers["accept-encoding"] = "identity"
    if api_key:
        if auth == "bearer":
            headers["authorization"] = f"Bearer {api_key}"
        else:
            headers["x-api-key"] = api_key
    return httpx.Headers(headers)


def kept_headers(response: httpx.Response, redact: Redactor) -> dict[str, str]:
    """The response headers worth keeping, their values scrubbed: a proxy may echo the key."""
    kept: dict[str, str] = {}
    for name, value in response.headers.multi_items():  # names come lower-cased
        if name in _KEPT_HEADERS or name.startswith(_RATELIMIT_PREFIX):
            kept[name] = redact(value, SHORT_LIMIT)
    return kept


def raise_status(response: httpx.Response, content: bytes, redact: Redactor) -> NoReturn:
    """Raise the :class:`APIStatusError` subclass for an error reply, its texts scrubbed.

    The API's error shape gives the type, the message and the request id; any
    other body (a proxy's HTML page, say) is shown from its start, scrubbed
    whole before it is cut, so no piece of a key survives the cut.
    """
    headers = kept_headers(response, redact)
    request_id = headers.get("request-id")
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        error_type = redact(opt_str(error.get("type")) or "unknown", SHORT_LIMIT)
        message = opt_str(error.get("message")) or ""
        if body_id := opt_str(data.get("request_id")):
            request_id = redact(body_id, SHORT_LIMIT)
    else:
        error_type = "unknown"
        message = content.decode("utf-8", "replace")
    raise status_error(
        response.status_code, error_type, redact(message), request_id=request_id, headers=headers
    )


def merge_usage(usage: dict[str, int], data: object) -> None:
    """Fold an API ``usage`` object into ``usage``.

    ``message_delta`` counts are cumulative for the whole message (not
    increments) and fields may be null or absent, so each present integer
    replaces the earlier one and the rest are left alone.
    """
    if not isinstance(data, dict):
        return
    breakdown = data.get("cache_creation")
    by_ttl = breakdown if isinstance(breakdown, dict) else {}
    for source, names in ((data, _USAGE_FIELDS), (by_ttl, _CACHE_CREATION_FIELDS)):
        for name in names:
            value = source.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                usage[name] = value


def usage_from_counts(counts: Mapping[str, int]) -> Usage:
    return Usage(
        counts.get("input_tokens", 0),
        counts.get("output_tokens", 0),
        counts.get("cache_creation_input_tokens", 0),
        counts.get("cache_read_input_tokens", 0),
        counts.get("ephemeral_5m_input_tokens", 0),
        counts.get("ephemeral_1h_input_tokens", 0),
    )


def opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# A JSON "\\ud800" escape decodes to a lone surrogate, which no UTF-8 output can
# carry: it would crash the next request's cache key, or the terminal printing it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """The answer's text as sent, but with any lone surrogate replaced by U+FFFD.

    Valid pairs were already joined by the JSON decoder, so whatever surrogate
    is left is lone: a broken server or proxy, made printable here once.
    """
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def content_blocks(blocks: object) -> tuple[dict[str, Any], ...]:
    """A reply's ``content`` as the engine keeps it: each block as sent, text made printable.

    Blocks of kinds added later pass through untouched (a loop must send them
    back as they came); only a ``text`` block's text is cleaned, as
    :func:`clean_text` cleans the joined answer.

    Raises:
        TypeError: ``content`` is not a list of objects that each have a string
            ``type``, or a text block has no string ``text``.
    """
    if not isinstance(blocks, list):
        raise TypeError("content must be a list")
    kept: list[dict[str, Any]] = []
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise TypeError("each content block must be an object with a string type")
        if block["type"] == "text":
            if not isinstance(block.get("text"), str):
                raise TypeError("a text block's text must be a string")
            block = block | {"text": clean_text(block["text"])}
        kept.append(block)
    return tuple(kept)


def json_post(
    url: httpx.URL, headers: httpx.Headers, body: Mapping[str, Any], extensions: dict[str, Any]
) -> httpx.Request:
    """A POST of ``body`` as JSON, with ``headers`` (from :func:`build_headers`) and its length.

    Why the body goes as a stream: given ``content=``, httpx "prepares" the
    request by rebuilding every header (normalised, lowered, a tuple each) to
    add Host and Content-Length, ~8 µs and ~15 objects a call that live as long
    as the request. ``Host`` is in ``headers`` already; the length is added here.
    """
    content = dumps(body).encode()
    request = httpx.Request(
        "POST", url, headers=headers, stream=httpx.ByteStream(content), extensions=extensions
    )
    request.headers["Content-Length"] = str(len(content))
    request.read()  # holds the bytes as ``request.content``, as ``content=`` would
    return request
