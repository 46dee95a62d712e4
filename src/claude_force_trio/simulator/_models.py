"""The models the simulator knows: ids, aliases, output limits, and ``GET /v1/models``.

Why a table: the API refuses a model it does not serve and a ``max_tokens``
above the model's limit, and a client that only ever talks to the simulator
must meet those refusals before it meets the API. The table covers every
model the engine prices (``claude_force_trio._pricing``) and the older ids
the Claude Force compatibility layer still sends. An alias (``claude-sonnet-4-5``)
and its dated id (``claude-sonnet-4-5-20250929``) are both accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, unquote

from ._validate import InvalidRequest, UnknownModel

__all__ = ["MODELS", "ModelSpec", "find_model", "model_info", "model_page", "models_response"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model: its id, name, release date, limits and the ids that name it."""

    id: str
    display_name: str
    created_at: str
    max_tokens: int
    aliases: tuple[str, ...] = ()
    thinking: bool = True
    max_input_tokens: int = 200_000


def _m(
    model_id: str, name: str, date: str, max_tokens: int, *aliases: str, thinking: bool = True,
    context: int = 200_000,
) -> ModelSpec:  # fmt: skip
    return ModelSpec(model_id, name, f"{date}T00:00:00Z", max_tokens, aliases, thinking, context)


#: Newest first, as ``GET /v1/models`` lists them.
MODELS: Final[tuple[ModelSpec, ...]] = (
    _m("claude-fable-5-2", "Claude Fable 5.2", "2026-11-09", 128_000, context=1_000_000),
    _m("claude-haiku-5-5", "Claude Haiku 5.5", "2026-10-07", 128_000, context=1_000_000),
    _m("claude-sonnet-5-5", "Claude Sonnet 5.5", "2026-09-28", 128_000, context=1_000_000),
    _m("claude-opus-5-5", "Claude Opus 5.5", "2026-09-23", 128_000, context=1_000_000),
    _m("claude-fable-5-1", "Claude Fable 5.1", "2026-09-01", 128_000, context=1_000_000),
    _m("claude-mythos-5-1", "Claude Mythos 5.1", "2026-09-01", 128_000, context=1_000_000),
    _m("claude-opus-5", "Claude Opus 5", "2026-07-24", 128_000, context=1_000_000),
    _m("claude-fable-5", "Claude Fable 5", "2026-09-15", 128_000, context=1_000_000),
    _m("claude-mythos-5", "Claude Mythos 5", "2026-09-15", 128_000, context=1_000_000),
    _m("claude-sonnet-5", "Claude Sonnet 5", "2026-07-01", 128_000, context=1_000_000),
    _m("claude-opus-4-8", "Claude Opus 4.8", "2026-06-10", 128_000, context=1_000_000),
    _m("claude-opus-4-7", "Claude Opus 4.7", "2026-04-16", 128_000, context=1_000_000),
    _m("claude-mythos-preview", "Claude Mythos Preview", "2026-04-07", 128_000),
    _m("claude-opus-4-6", "Claude Opus 4.6", "2026-02-04", 128_000, context=1_000_000),
    _m("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17", 64_000, context=1_000_000),
    _m("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-01", 64_000, "claude-opus-4-5"),
    _m("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01", 64_000, "claude-haiku-4-5"),
    _m("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29", 64_000,
       "claude-sonnet-4-5"),
    _m("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05", 32_000, "claude-opus-4-1"),
    _m("claude-opus-4-20250514", "Claude Opus 4", "2025-05-14", 32_000, "claude-opus-4-0"),
    _m("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-14", 64_000, "claude-sonnet-4-0"),
    _m("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-19", 64_000,
       "claude-3-7-sonnet-latest"),
    _m("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22", 8_192,
       "claude-3-5-haiku-latest", thinking=False),
    _m("claude-3-5-sonnet-20241022", "Claude Sonnet 3.5", "2024-10-22", 8_192,
       "claude-3-5-sonnet-latest", thinking=False),
    _m("claude-3-haiku-20240307", "Claude Haiku 3", "2024-03-07", 4_096, thinking=False),
    _m("claude-3-opus-20240229", "Claude Opus 3", "2024-02-29", 4_096, thinking=False),
)  # fmt: skip

_BY_NAME: Final[Mapping[str, ModelSpec]] = {
    name: spec for spec in MODELS for name in (spec.id, *spec.aliases)
}


def find_model(name: str) -> ModelSpec | None:
    """The model an id or alias names, or ``None`` when the API would not serve it."""
    return _BY_NAME.get(name)


def _supported(flag: bool) -> dict[str, bool]:
    return {"supported": flag}


def _capabilities(spec: ModelSpec) -> dict[str, Any]:
    on, think = _supported(True), _supported(spec.thinking)
    return {
        "batch": on,
        "citations": on,
        "code_execution": on,
        "context_management": {
            "supported": spec.thinking,
            "clear_thinking_20251015": think,
            "clear_tool_uses_20250919": think,
            "compact_20260112": None,
        },
        "effort": {"supported": spec.thinking, **dict.fromkeys(
            ("low", "medium", "high", "max"), think), "xhigh": None},
        "image_input": on,
        "pdf_input": on,
        "structured_outputs": think,
        "thinking": {"supported": spec.thinking, "types": {"enabled": think, "adaptive": think}},
    }  # fmt: skip


def model_info(spec: ModelSpec) -> dict[str, Any]:
    """The API's ``ModelInfo`` object for one model."""
    return {
        "type": "model",
        "id": spec.id,
        "display_name": spec.display_name,
        "created_at": spec.created_at,
        "max_input_tokens": spec.max_input_tokens,
        "max_tokens": spec.max_tokens,
        "capabilities": _capabilities(spec),
    }


def _cursor(models: Sequence[ModelSpec], model_id: str | None) -> int | None:
    """Index of ``model_id`` in ``models``; ``None`` when the cursor names no model."""
    for i, spec in enumerate(models):
        if spec.id == model_id:
            return i
    return None


def model_page(
    *, limit: int = 20, after_id: str | None = None, before_id: str | None = None
) -> dict[str, Any]:
    """One page of ``GET /v1/models``, paginated by ``after_id`` / ``before_id`` as the API is.

    Raises:
        ValueError: a cursor that names no model, or ``limit`` outside 1..1000.
    """
    if not 1 <= limit <= 1000:
        raise ValueError("limit: Input should be greater than or equal to 1 and at most 1000")
    start, stop = 0, len(MODELS)
    if after_id is not None:
        if (index := _cursor(MODELS, after_id)) is None:
            raise ValueError(f"after_id: no model {after_id!r}")
        start = index + 1
    if before_id is not None:
        if (index := _cursor(MODELS, before_id)) is None:
            raise ValueError(f"before_id: no model {before_id!r}")
        stop = index
        start = max(start, stop - limit)
    page = MODELS[start:stop][:limit]
    more = (start + len(page) < stop) if before_id is None else start > 0
    return {
        "data": [model_info(spec) for spec in page],
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
        "has_more": more,
    }


def models_response(path: str, query: str) -> dict[str, Any]:
    """The body for ``GET /v1/models`` or ``GET /v1/models/{model_id}``.

    Raises:
        InvalidRequest: a malformed ``limit`` or cursor (400).
        UnknownModel: ``/v1/models/{model_id}`` names no model (404).
    """
    rest = path.removeprefix("/v1/models").strip("/")
    if rest:
        spec = find_model(unquote(rest))
        if spec is None:
            raise UnknownModel(f"model: {unquote(rest)}")
        return model_info(spec)
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    try:
        limit = int(params.get("limit", "20"))
        return model_page(
            limit=limit, after_id=params.get("after_id"), before_id=params.get("before_id")
        )
    except ValueError as exc:
        message = str(exc) if ":" in str(exc) else "limit: Input should be a valid integer"
        raise InvalidRequest(message) from None
