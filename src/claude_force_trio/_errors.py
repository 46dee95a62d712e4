"""The exception tree of claude-force-trio.

Every error the library raises on purpose is a :class:`CFTError`. Lower-level
failures (httpx, JSON decoding, OS errors) are mapped once, at the edge where
they happen, and chained with ``raise ... from exc`` so nothing is lost::

    CFTError
    ├── ConfigError                 bad claude.json, agent file, or argument; names the JSON path
    │   ├── ConfigNotFoundError     no claude.json, or no file it names     (+ FileNotFoundError)
    │   ├── UnknownAgentError       a name the config has no agent for      (+ ValueError)
    │   ├── UnknownWorkflowError    a name the config has no workflow for   (+ ValueError)
    │   └── MissingAPIKeyError      a key required up front, and none set   (+ ValueError)
    ├── TrackingDisabledError       metrics asked of an untracked orchestrator (+ RuntimeError)
    ├── APIError                    anything that went wrong talking to the Messages API
    │   ├── APIConnectionError      no HTTP response: refused, reset, TLS, protocol error
    │   │   ├── APITimeoutError     connect/read/write/pool timeout of one attempt
    │   │   └── LocalResourceError  this machine ran short (EMFILE, ENOBUFS…), not the server
    │   │       └── LocalTimeoutError   a local stall: pool wait, loopback connect, busy loop
    │   ├── APIResponseError        the server answered something we cannot parse
    │   ├── StreamError             an ``error`` event arrived mid-stream, before message_stop
    │   └── APIStatusError          a non-2xx response: status_code, error_type, request_id
    │       ├── BadRequestError         400 invalid_request_error
    │       ├── AuthenticationError     401 authentication_error
    │       ├── PermissionDeniedError   403 permission_error
    │       ├── NotFoundError           404 not_found_error
    │       ├── RequestTooLargeError    413 request_too_large
    │       ├── RateLimitError          429 rate_limit_error
    │       ├── InternalServerError     500 and other 5xx api_error
    │       └── OverloadedError         529 overloaded_error
    ├── CircuitOpenError            the breaker for (base URL, model) is open; no request was sent
    ├── BudgetError                 a budget cannot be checked (no ledger reachable); nothing sent
    │   └── BudgetExceededError     a call's worst-case cost does not fit a budget; nothing sent
    ├── StepTimeoutError            a step ran past its own deadline
    └── StepError                   raise_for_status() of a step that did not succeed (skipped…)

Why some errors are builtin exceptions too: Claude Force raised ``ValueError``
for unknown agents and workflows, ``FileNotFoundError`` for a missing config and
``RuntimeError`` when tracking is off, so code migrating from it keeps its
``except`` clauses, whichever layer (engine, loader, compatibility API) raises.

The API key never appears in any message: the client scrubs every server text
(a proxy may quote the request back) once, at its edge, before building an
error — the key and any run of 8 of its characters become ``[redacted]``,
control characters are escaped, and the text is capped at 500 characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._names import did_you_mean as did_you_mean
from ._names import not_found_message as not_found_message
from ._public import publish

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetError",
    "BudgetExceededError",
    "CFTError",
    "CircuitOpenError",
    "ConfigError",
    "ConfigNotFoundError",
    "InternalServerError",
    "LocalResourceError",
    "LocalTimeoutError",
    "MissingAPIKeyError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "StepError",
    "StepTimeoutError",
    "StreamError",
    "TrackingDisabledError",
    "UnknownAgentError",
    "UnknownWorkflowError",
    "did_you_mean",
    "not_found_message",
    "status_error",
]


class CFTError(Exception):
    """Base class of every error claude-force-trio raises on purpose."""


class ConfigError(CFTError):
    """Raised when configuration or user input is invalid.

    ``path`` is where the problem is, as a JSON path into ``claude.json``
    (``workflows.review.steps[2].dependencies``) or the name of a CLI argument.
    ``str(err)`` is one line: ``path: message``.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class ConfigNotFoundError(ConfigError, FileNotFoundError):
    """Raised when a file the configuration needs is not there.

    The ``claude.json`` itself (``path`` is the file or folder tried), or a
    file it names (``path`` is the JSON path: ``agents.linter.file``).
    """


class _UnknownName(ConfigError, ValueError):
    """An agent or workflow name the config does not define (see the two subclasses)."""

    kind = "name"

    def __init__(
        self, path: str, name: object, known: Iterable[str], message: str | None = None
    ) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(path, message or not_found_message(self.kind, name, self.known))


class UnknownAgentError(_UnknownName):
    """Raised when a name is not one of the config's agents.

    The message says ``not found`` and suggests close names (``Did you mean?``)
    or lists the agents (``Available agents:``), as Claude Force's did.

    Attributes:
        name: the name asked for.
        known: the agents the config defines, sorted.
    """

    kind = "agent"


class UnknownWorkflowError(_UnknownName):
    """Raised when a name is not one of the config's workflows.

    Attributes as :class:`UnknownAgentError`; the message lists ``Available workflows:``.
    """

    kind = "workflow"


class MissingAPIKeyError(ConfigError, ValueError):
    """Raised when a key is required up front (``validate_api_key=True``) and none is set."""

    def __init__(self, path: str = "ANTHROPIC_API_KEY") -> None:
        super().__init__(
            path,
            "Anthropic API key not found: export ANTHROPIC_API_KEY='your-api-key' "
            "(create one at https://console.anthropic.com/account/keys) "
            "or pass anthropic_api_key=...",
        )


class TrackingDisabledError(CFTError, RuntimeError):
    """Raised when metrics are asked of an orchestrator built with ``enable_tracking=False``."""

    def __init__(self) -> None:
        super().__init__(
            "Performance tracking is not enabled: create the orchestrator with "
            "enable_tracking=True (the default) to record every call"
        )


class APIError(CFTError):
    """Raised when a call to the Messages API did not produce a message."""


class APIConnectionError(APIError):
    """Raised when no HTTP response arrived (refused, reset, protocol error)."""


class APITimeoutError(APIConnectionError):
    """Raised when one attempt ran past its connect, read, write or pool timeout."""


class APIResponseError(APIError):
    """Raised when the server answered 2xx with a body we cannot understand."""


class StreamError(APIError):
    """Raised when an SSE stream carried an ``error`` event before ``message_stop``.

    The API sends these (typically ``overloaded_error``) after a 200 status, so
    they are retryable like the matching status error.
    """

    def __init__(self, error_type: str, message: str, request_id: str | None = None) -> None:
        self.error_type = error_type
        self.message = message
        self.request_id = request_id
        super().__init__(f"stream error ({error_type}): {message}")


class APIStatusError(APIError):
    """Raised when the API answered with a non-success status.

    Attributes:
        status_code: the HTTP status.
        error_type: the API's ``error.type`` (``rate_limit_error``…), or ``"unknown"``.
        message: the API's ``error.message``.
        request_id: the ``request-id`` header, for support tickets.
        headers: the response headers (lower-cased names); ``retry-after`` and
            ``anthropic-ratelimit-*`` live here. Never contains request headers.
    """

    status_code: int = 0

    def __init__(
        self,
        status_code: int,
        error_type: str,
        message: str,
        *,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.error_type = error_type
        self.message = message
        self.request_id = request_id
        self.headers: dict[str, str] = dict(headers or {})
        suffix = f" (request-id {request_id})" if request_id else ""
        super().__init__(f"HTTP {status_code} {error_type}: {message}{suffix}")


class BadRequestError(APIStatusError):
    """400: the request body is invalid; fix the request, do not retry."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this resource."""


class NotFoundError(APIStatusError):
    """404: unknown route or model."""


class RequestTooLargeError(APIStatusError):
    """413: the request exceeds the API's size limit."""


class RateLimitError(APIStatusError):
    """429: the organisation's rate limit was hit; ``retry-after`` says when to come back."""


class InternalServerError(APIStatusError):
    """500 and other 5xx statuses: a server-side failure."""


class OverloadedError(APIStatusError):
    """529: the API is temporarily overloaded."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: RequestTooLargeError,
    429: RateLimitError,
    529: OverloadedError,
}


def status_error(
    status_code: int,
    error_type: str,
    message: str,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> APIStatusError:
    """Build the most specific :class:`APIStatusError` subclass for a status code."""
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    return cls(status_code, error_type, message, request_id=request_id, headers=headers)


class CircuitOpenError(CFTError):
    """Raised instead of sending a request while the circuit breaker is open.

    Attributes:
        key: the breaker's ``(base_url, model)``.
        retry_at: ``anyio.current_time()`` at which a half-open probe is allowed.
    """

    def __init__(self, key: tuple[str, str], retry_at: float) -> None:
        self.key = key
        self.retry_at = retry_at
        super().__init__(f"circuit open for {key[1]} at {key[0]}: failing fast, no request sent")


class BudgetError(CFTError):
    """Raised instead of sending a request whose cost cannot be checked: the day ledger is gone.

    With money at stake the call is not sent rather than sent unchecked. ``code``
    is what the step's ``error_type`` says.
    """

    code = "budget_unavailable"


class BudgetExceededError(BudgetError):
    """Raised instead of sending a request whose worst-case cost does not fit a budget.

    Attributes:
        scope: which budget: ``run`` (this run's cap) or ``day`` (the UTC day's).
        limit_usd: that budget.
        committed_usd: what is already spent or reserved under it.
        needed_usd: the call's worst-case cost (``None``: its model has no price).
    """

    code = "budget_exceeded"

    def __init__(
        self, scope: str, limit_usd: float, committed_usd: float, needed_usd: float | None
    ) -> None:
        self.scope = scope
        self.limit_usd = limit_usd
        self.committed_usd = committed_usd
        self.needed_usd = needed_usd
        why = (
            "its model has no known price, so its cost cannot be bounded"
            if needed_usd is None
            else f"its worst case ${needed_usd:.4f} does not fit: ${committed_usd:.4f} of "
            f"${limit_usd:.4f} already spent or reserved"
        )
        super().__init__(f"{scope} budget exceeded: the call was not sent ({why})")


class StepTimeoutError(CFTError):
    """Raised when a step ran past its own timeout (its cancel scope fired)."""

    def __init__(self, step: str, timeout_s: float) -> None:
        self.step = step
        self.timeout_s = timeout_s
        super().__init__(f"step {step!r} timed out after {timeout_s:g} s")


class StepError(CFTError):
    """Raised by ``StepResult.raise_for_status()`` for a step with no error of its own.

    A failed or timed-out step re-raises the exception it recorded; a skipped or
    cancelled one, or a failure known only by its message, raises this.

    Attributes:
        step: the step's id.
        status: the step's status (``skipped``, ``cancelled``…).
    """

    def __init__(self, step: str, status: str, message: str) -> None:
        self.step = step
        self.status = status
        super().__init__(f"step {step!r} {status.replace('_', ' ')}: {message}")


class LocalResourceError(APIConnectionError):
    """Raised when a request could not be sent because *this machine* ran short.

    No file descriptors (``EMFILE``), socket buffers (``ENOBUFS``) or local
    ports (``EADDRNOTAVAIL``): the server's health is not in question, so the
    circuit breaker does not count it. It is retried after a backoff without
    using up the retry policy's attempts (up to a cap of its own), and the
    adaptive concurrency is halved so that fewer connections are needed at once.

    Attributes:
        errno: the OS error number, or ``None`` for a :class:`LocalTimeoutError`.
    """

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        self.errno = errno
        super().__init__(message)


class LocalTimeoutError(LocalResourceError, APITimeoutError):
    """Raised when a request timed out on this machine, before the server had a say.

    Waiting for one of our own pooled connections, or connecting to a loopback
    address, or connecting while this process's event loop was too busy to
    notice the connection completing (client-side starvation). Handled like
    :class:`LocalResourceError`.
    """


publish(globals())
