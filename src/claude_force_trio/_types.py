"""Value objects shared by the client, the engine, the cache and the metrics.

They live apart from ``_client`` so that the cache and the metrics can speak of
usage and responses without importing httpx.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._public import publish

__all__ = ["MessageResult", "Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one response, as the API reports them (``usage``).

    ``cache_creation_5m_input_tokens`` and ``cache_creation_1h_input_tokens``
    are the API's ``cache_creation`` breakdown of ``cache_creation_input_tokens``
    by cache lifetime (1-hour writes cost more); both are 0 when the answer
    gave no breakdown.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_5m_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_5m_input_tokens + other.cache_creation_5m_input_tokens,
            self.cache_creation_1h_input_tokens + other.cache_creation_1h_input_tokens,
        )

    @property
    def total_tokens(self) -> int:
        """All tokens billed, input of every kind plus output."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    @property
    def prompt_tokens(self) -> int:
        """The request's whole prompt: plain input, cache writes and cache reads."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def to_dict(self) -> dict[str, Any]:
        """The counts under the API's own names (the ``--json`` contract).

        The four flat counts are always there; the API's ``cache_creation``
        breakdown is added only when the answer reported one.
        """
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }
        if self.cache_creation_5m_input_tokens or self.cache_creation_1h_input_tokens:
            out["cache_creation"] = {
                "ephemeral_5m_input_tokens": self.cache_creation_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.cache_creation_1h_input_tokens,
            }
        return out

    @classmethod
    def from_api(cls, data: Mapping[str, Any] | None) -> Usage:
        """Build from an API ``usage`` object; missing or null counts are 0.

        Args:
            data: the ``usage`` object, with or without its ``cache_creation``
                breakdown (``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``).
        """
        if not data:
            return cls()
        breakdown = data.get("cache_creation")
        by_ttl: Mapping[str, Any] = breakdown if isinstance(breakdown, Mapping) else {}
        return cls(
            _count(data, "input_tokens"),
            _count(data, "output_tokens"),
            _count(data, "cache_creation_input_tokens"),
            _count(data, "cache_read_input_tokens"),
            _count(by_ttl, "ephemeral_5m_input_tokens"),
            _count(by_ttl, "ephemeral_1h_input_tokens"),
        )


def _count(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class MessageResult:
    """A complete response of ``POST /v1/messages``, reduced to what the engine uses.

    Attributes:
        id: the message id (``msg_…``).
        model: the model that answered.
        text: all ``text`` content blocks joined.
        stop_reason: ``end_turn``, ``max_tokens``, ``stop_sequence``, ``tool_use``…
        usage: token counts.
        request_id: the ``request-id`` response header, if any.
        headers: response headers worth keeping (``anthropic-ratelimit-*``,
            ``retry-after``), lower-cased. Never request headers, never the key.
        elapsed_s: request sent → response complete, on ``trio.current_time()``.
        ttft_s: request sent → first text token, for streamed responses.
        content: the reply's content blocks exactly as received (``text``,
            ``tool_use``, ``thinking``, ``redacted_thinking``,
            ``server_tool_use``…), streamed ones assembled: a tool loop sends
            them back unchanged, as the API requires of thinking blocks.
        batch: answered through the Message Batches API (priced at half the rate).
    """

    id: str
    model: str
    text: str
    stop_reason: str | None
    usage: Usage = field(default_factory=Usage)
    stop_sequence: str | None = None
    request_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0
    ttft_s: float | None = None
    content: tuple[Mapping[str, Any], ...] = ()
    batch: bool = False


publish(globals())
