"""The simulator's settings and the record it keeps of every request.

Both are frozen values: a config is shared by every connection task and must
not change under them, and a record handed to a test must not change after
the assertion that read it.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import ConfigError
from ._batchfaults import BatchFaultPlan
from ._faults import FaultPlan

__all__ = ["LatencyFn", "RequestRecord", "SimulatorConfig", "SimulatorStats", "config_from_env"]

#: Given a request body, the total seconds the reply should take (``None``: use the model).
LatencyFn = Callable[[Mapping[str, Any]], float | None]


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the simulator behaves. The defaults make a demo look like the real API.

    Args:
        ttft_ms: time to first token, in milliseconds.
        tokens_per_s: output speed; ``0`` means output takes no time at all.
        latency_scale: multiplies the modelled latency (``0`` makes every reply instant).
        latency_fn: given the request body, the total seconds for that reply, overriding
            the model when it returns a number (tests use it to give each step a fixed time).
        faults: probabilities of injected faults; ``None`` injects none.
        rpm: requests per minute (token bucket); ``None`` means unlimited. With any
            limit set, every response carries the ``anthropic-ratelimit-*`` headers.
        tpm: input tokens per minute; ``None`` means unlimited.
        otpm: output tokens per minute; ``None`` means unlimited.
        seed: seeds the fault draws, so a run's faults are reproducible.
        api_key: when set, any other key gets 401; when ``None``, any key is accepted.
        batch_latency_s: how long a Message Batch processes, in seconds, scaled by
            ``latency_scale`` like every other latency (``0``: ended when first polled).
        batch_faults: probabilities of per-entry outcomes other than success
            (``errored``, ``invalid``, ``expired``, ``canceled``); ``None`` injects none.
        batch_max_requests: most entries a batch may hold (the API's 100,000).
        batch_max_bytes: the largest batch create body, in bytes (the API's 256 MB);
            a larger one gets 413.
    """

    ttft_ms: float = 400.0
    tokens_per_s: float = 150.0
    latency_scale: float = 1.0
    latency_fn: LatencyFn | None = None
    faults: FaultPlan | None = None
    rpm: int | None = None
    tpm: int | None = None
    otpm: int | None = None
    seed: int = 0
    api_key: str | None = field(default=None, repr=False)
    batch_latency_s: float = 1.0
    batch_faults: BatchFaultPlan | None = None
    batch_max_requests: int = 100_000
    batch_max_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "tokens_per_s", "latency_scale", "batch_latency_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("rpm", "tpm", "otpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        for name in ("batch_max_requests", "batch_max_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")

    def latency(self, body: Mapping[str, Any], output_tokens: int) -> tuple[float, float]:
        """(time to first token, total time) in seconds for one reply.

        ``latency_fn`` sets the total; the first token still comes after the modelled
        TTFT (or at the end, if the total is shorter), so streams look natural.
        """
        ttft = self.ttft_ms / 1000.0 * self.latency_scale
        generation = output_tokens / self.tokens_per_s if self.tokens_per_s > 0 else 0.0
        total = ttft + generation * self.latency_scale
        if self.latency_fn is not None and (fixed := self.latency_fn(body)) is not None:
            total = max(0.0, float(fixed))
            ttft = min(ttft, total)
        return ttft, total


def config_from_env(environ: Mapping[str, str] | None = None) -> SimulatorConfig:
    """The embedded simulator's settings: demo latencies, scaled by ``CFT_SIM_LATENCY_SCALE``.

    ``CFT_SIM_LATENCY_SCALE=0`` makes replies instant (tests, CI); ``2`` doubles
    every latency. One reader for the engine and the CLI alike.

    Raises:
        ConfigError: the value is not a finite number ≥ 0 (named after the variable).
    """
    raw = (os.environ if environ is None else environ).get("CFT_SIM_LATENCY_SCALE", "").strip()
    if not raw:
        return SimulatorConfig()
    try:
        return SimulatorConfig(latency_scale=float(raw))
    except ValueError:
        raise ConfigError("CFT_SIM_LATENCY_SCALE", f"expected a number ≥ 0, got {raw!r}") from None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the simulator saw it. Auth headers and keys are never recorded.

    ``status`` is ``None`` when no HTTP answer was sent (``reset``, ``stall``, or the
    client went away first). Times are ``anyio.current_time()`` values (virtual under
    trio's ``MockClock``).
    """

    seq: int
    method: str
    path: str
    status: int | None
    stream: bool
    model: str | None
    fault: str | None
    started_at: float
    finished_at: float
    body: Mapping[str, Any] | None
    usage: Mapping[str, Any] | None
    request_id: str
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class SimulatorStats:
    """Counts over the request log: by status (``None``: no answer) and by fault kind.

    ``batches`` and ``batch_requests`` count the Message Batches created (answered 200)
    and the entries they held, so a test can tell one batch of 1,000 entries from
    1,000 ``/v1/messages`` calls. Token totals are over ``/v1/messages`` answers only.
    """

    requests: int
    by_status: Mapping[int | None, int]
    by_fault: Mapping[str, int]
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    batches: int = 0
    batch_requests: int = 0

    @classmethod
    def from_records(cls, records: list[RequestRecord]) -> SimulatorStats:
        """Aggregate a snapshot of the log."""

        def total(name: str) -> int:
            return sum(int((r.usage or {}).get(name) or 0) for r in records)

        created = [
            r for r in records
            if (r.method, r.path, r.status) == ("POST", "/v1/messages/batches", 200)
        ]  # fmt: skip

        return cls(
            requests=len(records),
            by_status=dict(Counter(r.status for r in records)),
            by_fault=dict(Counter(r.fault for r in records if r.fault)),
            input_tokens=total("input_tokens"),
            output_tokens=total("output_tokens"),
            cache_creation_input_tokens=total("cache_creation_input_tokens"),
            cache_read_input_tokens=total("cache_read_input_tokens"),
            batches=len(created),
            batch_requests=sum(len((r.body or {}).get("requests") or ()) for r in created),
        )
