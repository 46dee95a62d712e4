"""Library tools: plain Python functions (sync or async) offered to the model.

``library_tool(fn)`` reads the function once, at registration: its name, the
first paragraph of its docstring (the description), its parameters' type
hints, defaults and ``Args:`` entries (the input schema; see ``_schema``). A
hint with no JSON Schema, a name the API refuses or a bad option is a
``TypeError`` then, naming the function, not a failure mid-run.

Each call validates the model's input against the schema first (``jsonschema``,
imported on the first call), so the function never sees input it did not
declare; an invalid input is a :class:`ToolError` naming the first problem,
which goes back to the model. Async functions are awaited. Sync functions run
in a worker thread with ``abandon_on_cancel=True``: a timeout or cancellation
returns at once, but Python cannot stop a thread, so the function keeps running
until it returns, and its result is dropped (on asyncio, the process waits for
such a thread at exit; on trio it does not). Each such call takes its own
thread token, so a hung tool cannot starve the engine's other thread work.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

import anyio
import anyio.to_thread

from .._public import publish
from ._base import Tool, ToolError, ToolOutput, ToolSpec
from ._schema import Field, field_for, object_schema, parse_docstring

__all__ = ["LibraryTool", "as_tool", "library_tool", "tool"]

P = ParamSpec("P")
R = TypeVar("R")

#: What the API accepts as a client tool's name (and what ``tool_use`` blocks carry).
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: How much of the input a validation message may quote: the input came from the model.
_MESSAGE_CHARS = 300


class LibraryTool(Generic[P, R]):
    """A Python function as a :class:`Tool`; calling the object calls the function.

    Made by :func:`library_tool` or :func:`tool`; the function stays usable as
    itself (``add(1, 2)``), so decorating it changes nothing for other callers.
    """

    #: It validates its input against its schema itself (a ToolError naming the
    #: first problem), so the step's loop does not check it a second time.
    checks_input = True

    __name__: str  # copied from the function, as functools.wraps does
    __wrapped__: Callable[P, R]

    def __init__(
        self,
        fn: Callable[P, R],
        spec: ToolSpec,
        fields: Mapping[str, Field] | None,
    ) -> None:
        self._fn = fn
        self._spec = spec
        self._fields = fields
        self._is_async = _is_async(fn)
        self._validator: Any = None
        functools.update_wrapper(self, fn)

    @property
    def spec(self) -> ToolSpec:
        """The tool's definition, as the model sees it."""
        return self._spec

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        return (
            f"<LibraryTool {self._spec.name!r} of {getattr(self._fn, '__qualname__', self._fn)!r}>"
        )

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutput:
        """Validate ``arguments``, run the function with them, and wrap what it returns.

        Raises:
            ToolError: the input does not match the schema (or is not an object).
        """
        self._check(arguments)
        kwargs = dict(arguments)
        if self._fields is not None:
            kwargs = {name: self._fields[name].apply(value) for name, value in kwargs.items()}
        fn: Callable[..., Any] = self._fn
        if self._is_async:
            result: Any = await cast(Awaitable[Any], fn(**kwargs))
        else:
            run = functools.partial(fn, **kwargs)
            # A limiter of its own: an abandoned (hung) call holds only its own token.
            result = await anyio.to_thread.run_sync(
                run, abandon_on_cancel=True, limiter=anyio.CapacityLimiter(1)
            )
        return to_output(result)

    def _check(self, arguments: Mapping[str, Any]) -> None:
        if not isinstance(arguments, Mapping):
            raise ToolError(f"{self._spec.name}: the input must be a JSON object")
        if self._validator is None:
            from jsonschema import validators  # lazy: `cft --help` never loads it

            cls = validators.validator_for(self._spec.input_schema)
            self._validator = cls(self._spec.input_schema)
        if self._validator.is_valid(arguments):  # the usual case, without gathering errors
            return
        from jsonschema.exceptions import best_match

        error = best_match(self._validator.iter_errors(arguments))
        if error is not None:
            where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.path)
            message = error.message
            if len(message) > _MESSAGE_CHARS:
                message = message[:_MESSAGE_CHARS] + "…"
            raise ToolError(f"invalid input for {self._spec.name}: input{where}: {message}")


def to_output(result: object) -> ToolOutput:
    """A tool function's return value as the ``tool_result``: text as is, else JSON."""
    if isinstance(result, ToolOutput):
        return result
    if isinstance(result, str):
        return ToolOutput(result)
    return ToolOutput(json.dumps(result, default=str, ensure_ascii=False))


def _is_async(fn: Callable[..., Any]) -> bool:
    call = getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


def library_tool(
    fn: Callable[P, R],
    *,
    name: str | None = None,
    description: str | None = None,
    input_schema: Mapping[str, Any] | None = None,
    side_effects: bool = False,
    timeout_s: float | None = None,
) -> LibraryTool[P, R]:
    """Offer a Python function (sync or async) to the model as a tool.

    Args:
        fn: the function; the model's input arrives as keyword arguments.
        name: the name the model calls it by; default: the function's
            ``__name__``. Must match ``^[a-zA-Z0-9_-]{1,64}$``.
        description: what it does; default: the docstring's first paragraph.
        input_schema: the JSON Schema of its input, used as given (the
            arguments then reach ``fn`` unconverted); default: derived from
            the type hints, defaults and the docstring's ``Args:`` entries.
        side_effects: calling it changes something outside the run; a step
            that may call it is never cached.
        timeout_s: the most one call may take; ``None``: the engine's default.

    Raises:
        TypeError: a hint has no JSON Schema, the name is not one the API
            accepts, the schema is not a valid ``object`` schema…; the message
            names the function (and the parameter).
        ValueError: ``timeout_s`` is not a positive number.
    """
    label = getattr(fn, "__qualname__", None) or repr(fn)
    if not callable(fn):
        raise TypeError(f"a tool must be a function, not {type(fn).__name__}")
    tool_name = name if name is not None else getattr(fn, "__name__", "")
    if not isinstance(tool_name, str) or not NAME_PATTERN.fullmatch(tool_name):
        raise TypeError(
            f"tool function {label}: name {tool_name!r} must match {NAME_PATTERN.pattern}"
            " (give name=...)"
        )
    if timeout_s is not None and not (
        isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0
    ):
        raise ValueError(
            f"tool {tool_name}: timeout_s must be a positive number, not {timeout_s!r}"
        )
    summary, documented = parse_docstring(inspect.getdoc(fn) or "")
    fields: dict[str, Field] | None = None
    if input_schema is None:
        fields, schema = _derive(fn, label, documented)
    else:
        schema = _given(input_schema, label)
    spec = ToolSpec(
        name=tool_name,
        description=summary if description is None else description,
        input_schema=schema,
        side_effects=bool(side_effects),
        timeout_s=None if timeout_s is None else float(timeout_s),
    )
    return LibraryTool(fn, spec, fields)


def _derive(
    fn: Callable[..., Any], label: str, documented: Mapping[str, str]
) -> tuple[dict[str, Field], dict[str, Any]]:
    """The fields and the ``object`` schema of ``fn``'s parameters."""
    try:
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, SyntaxError, TypeError, ValueError) as exc:
        raise TypeError(f"tool function {label}: cannot read its signature: {exc}") from None
    fields: dict[str, Field] = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        where = f"tool function {label}: parameter {param.name!r}"
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(f"{where}: tools take named parameters only (no *args, **kwargs, /)")
        if param.annotation is param.empty:
            raise TypeError(f"{where} has no type hint")
        try:
            field = field_for(param.annotation)
        except TypeError as exc:
            raise TypeError(f"{where}: {exc}") from None
        schema = dict(field.schema)
        if param.name in documented and "description" not in schema:
            schema["description"] = documented[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif (default := _json_default(param.default)) is not None:
            schema["default"] = default[0]
        fields[param.name] = field
        properties[param.name] = schema
    return fields, object_schema(properties, required)


def _json_default(value: object) -> tuple[Any] | None:
    """``(value,)`` as JSON if the default can be shown to the model, else ``None``."""
    plain = value.value if isinstance(value, enum.Enum) else value
    plain = list(plain) if isinstance(plain, tuple | frozenset | set) else plain
    try:
        return (json.loads(json.dumps(plain, allow_nan=False)),)
    except (TypeError, ValueError):
        return None


def _given(schema: Mapping[str, Any], label: str) -> dict[str, Any]:
    """An explicit input schema, checked once: a valid JSON Schema of an object."""
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        raise TypeError(
            f"tool function {label}: input_schema must be a JSON Schema with type object"
        )
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema).check_schema(dict(schema))
    except exceptions.SchemaError as exc:
        raise TypeError(f"tool function {label}: input_schema is invalid: {exc.message}") from None
    return dict(schema)


@overload
def tool(fn: Callable[P, R], /) -> LibraryTool[P, R]: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = ...,
    description: str | None = ...,
    input_schema: Mapping[str, Any] | None = ...,
    side_effects: bool = ...,
    timeout_s: float | None = ...,
) -> Callable[[Callable[P, R]], LibraryTool[P, R]]: ...


def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    input_schema: Mapping[str, Any] | None = None,
    side_effects: bool = False,
    timeout_s: float | None = None,
) -> LibraryTool[P, R] | Callable[[Callable[P, R]], LibraryTool[P, R]]:
    """Decorate a function as a tool: ``@tool`` or ``@tool(side_effects=True)``.

    The same as :func:`library_tool` (the arguments are its own); the decorated
    name is a :class:`LibraryTool` that still calls the function as before.
    For a method, decorate nothing: pass the bound method,
    ``library_tool(obj.method)`` (an unbound ``self`` has no type hint).
    """

    def mark(func: Callable[P, R]) -> LibraryTool[P, R]:
        return library_tool(
            func,
            name=name,
            description=description,
            input_schema=input_schema,
            side_effects=side_effects,
            timeout_s=timeout_s,
        )

    return mark if fn is None else mark(fn)


def as_tool(obj: object) -> Tool:
    """A :class:`Tool` as it is; a plain callable as ``library_tool(obj)``.

    Raises:
        TypeError: ``obj`` is neither, or :func:`library_tool` refuses it.
    """
    if isinstance(getattr(obj, "spec", None), ToolSpec) and callable(getattr(obj, "call", None)):
        return obj  # type: ignore[return-value]
    if callable(obj):
        return library_tool(obj)
    raise TypeError(f"a tool must be a function or a Tool, not {type(obj).__name__}")


publish(globals())
