"""Input-token counting and prompt-cache accounting, modelled on the API's rules.

A request's prompt is a sequence of segments in the order the API caches them:
tools, then system blocks, then message content blocks. A ``cache_control``
breakpoint on a segment marks the prefix up to and including it as cacheable
(a top-level ``cache_control`` marks the last segment). A prefix shorter than
the model's minimum is never cached. The longest prefix still alive is read
(and its TTL refreshed); later breakpoints are written. Tokens are characters
divided by four, rounded up: the API's counts differ, the arithmetic does not.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._validate import InvalidRequest

__all__ = ["CacheUsage", "Prompt", "PromptCache", "min_cacheable_tokens", "tokens_for"]

MAX_BREAKPOINTS = 4
_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


def tokens_for(chars: int) -> int:
    """The simulator's tokenizer: four characters a token, rounded up."""
    return math.ceil(chars / 4)


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix the API caches for ``model`` (per the prompt-caching docs)."""
    name = model.lower()
    if any(m in name for m in ("haiku-4-5", "opus-4-5", "opus-4-6")):
        return 4096
    if "haiku" in name:
        return 2048
    return 1024


def _block_text(block: Mapping[str, Any]) -> str:
    if block.get("type") == "text":
        return str(block.get("text", ""))
    return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A cacheable prefix: its token count, content hash and TTL in seconds."""

    tokens: int
    key: str
    ttl: float


@dataclass(frozen=True, slots=True)
class Prompt:
    """What caching needs to know about a request: its size and its breakpoints."""

    model: str
    input_tokens: int
    breakpoints: tuple[Breakpoint, ...]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Prompt:
        """Segment a validated body; more than four breakpoints is a 400, as at the API."""
        segments: list[tuple[str, Mapping[str, Any] | None]] = []
        for tool in body.get("tools") or ():
            rest = {k: v for k, v in tool.items() if k != "cache_control"}
            segments.append((json.dumps(rest, sort_keys=True), tool.get("cache_control")))
        system = body.get("system")
        if isinstance(system, str):
            segments.append((system, None))
        elif isinstance(system, list):
            segments.extend((_block_text(b), b.get("cache_control")) for b in system)
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                segments.append((f"{message['role']}: {content}", None))
            else:
                segments.extend((_block_text(b), b.get("cache_control")) for b in content)
        top = body.get("cache_control")
        if top and segments and segments[-1][1] is None:
            segments[-1] = (segments[-1][0], top)
        return cls._build(str(body["model"]), segments)

    @classmethod
    def _build(cls, model: str, segments: Sequence[tuple[str, Mapping[str, Any] | None]]) -> Prompt:
        digest = hashlib.sha256(model.encode())
        chars = 0
        breakpoints: list[Breakpoint] = []
        for text, cache_control in segments:
            digest.update(b"\x00" + text.encode())
            chars += len(text)
            if cache_control:
                ttl = _TTL_SECONDS[str(cache_control.get("ttl", "5m"))]
                breakpoints.append(Breakpoint(tokens_for(chars), digest.hexdigest(), ttl))
        if len(breakpoints) > MAX_BREAKPOINTS:
            raise InvalidRequest(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {len(breakpoints)}."
            )
        return cls(model, max(1, tokens_for(chars)), tuple(breakpoints))


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """How a request's input tokens split between fresh, cache-written and cache-read."""

    input_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class PromptCache:
    """Cached prefixes by content hash, each with an expiry on the event loop's clock."""

    def __init__(self) -> None:
        self._expires: dict[str, float] = {}

    def account(self, prompt: Prompt, now: float) -> CacheUsage:
        """Read the longest live prefix, write later breakpoints, and split the tokens."""
        minimum = min_cacheable_tokens(prompt.model)
        eligible = [bp for bp in prompt.breakpoints if bp.tokens >= minimum]
        read, start = 0, 0
        for index in range(len(eligible) - 1, -1, -1):
            bp = eligible[index]
            if self._expires.get(bp.key, -math.inf) > now:
                read, start = bp.tokens, index + 1
                self._expires[bp.key] = now + bp.ttl  # a hit refreshes the TTL
                break
        by_ttl = {300.0: 0, 3600.0: 0}
        done = read
        for bp in eligible[start:]:
            by_ttl[bp.ttl] = by_ttl.get(bp.ttl, 0) + max(0, bp.tokens - done)
            done = max(done, bp.tokens)
            self._expires[bp.key] = now + bp.ttl
        if len(self._expires) > 10_000:
            self._expires = {k: t for k, t in self._expires.items() if t > now}
        created = done - read
        return CacheUsage(
            input_tokens=max(0, prompt.input_tokens - read - created),
            cache_creation_input_tokens=created,
            cache_read_input_tokens=read,
            ephemeral_5m_input_tokens=by_ttl[300.0],
            ephemeral_1h_input_tokens=by_ttl[3600.0],
        )
