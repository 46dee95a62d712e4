"""Library tools: schemas from signatures, validation, sync/async calls, timeouts, the decorator."""

from __future__ import annotations

import dataclasses
import enum
import threading
from typing import Annotated, Any, Literal, Optional, TypedDict

import pytest
import trio
import trio.testing

from claude_force_trio._tools import LibraryTool, ToolError, ToolOutput, as_tool, library_tool, tool


class Color(enum.Enum):
    """A colour."""

    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    """A point on the page.

    Attributes:
        x: across, in pixels.
        y: down, in pixels.
    """

    x: int
    y: int = 0


@dataclasses.dataclass
class Node:
    """A tree node (recursive: not a tool input)."""

    child: Node | None = None


class Options(TypedDict, total=False):
    """Search options."""

    deep: bool


def test_scalar_schema_from_hints_defaults_and_docstring() -> None:
    """Hints give types, defaults make parameters optional, Args: entries describe them."""

    def lookup(city: str, days: int = 3, metric: bool = True, scale: float = 1.5) -> str:
        """Look up the weather of a city.

        Only the next few days are known.

        Args:
            city: the city's name,
                as people write it.
            days (int): how many days ahead.

        Returns:
            The forecast.
        """
        return city

    made = library_tool(lookup)
    assert made.spec.name == "lookup"
    assert made.spec.description == "Look up the weather of a city."
    assert made.spec.input_schema == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city's name, as people write it."},
            "days": {"type": "integer", "description": "how many days ahead.", "default": 3},
            "metric": {"type": "boolean", "default": True},
            "scale": {"type": "number", "default": 1.5},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_container_literal_enum_and_record_schemas() -> None:
    """Containers, Optional, Literal, Enum, TypedDict, dataclasses and Annotated map exactly."""

    def draw(
        points: list[Point],
        pair: tuple[int, str],
        tags: dict[str, bool],
        mode: Literal["fast", "slow"],
        color: Color,
        note: Annotated[Optional[str], "a note"] = None,  # noqa: UP045 - Optional is supported too
        opts: Options | None = None,
        rest: tuple[float, ...] = (),
        anything: Any = None,
    ) -> None:
        """Draw."""

    schema = library_tool(draw).spec.input_schema
    point = {
        "type": "object",
        "properties": {
            "x": {"type": "integer", "description": "across, in pixels."},
            "y": {"type": "integer", "description": "down, in pixels."},
        },
        "required": ["x"],
        "additionalProperties": False,
    }
    assert schema["properties"] == {
        "points": {"type": "array", "items": point},
        "pair": {
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "string"}],
            "items": False,
            "minItems": 2,
        },
        "tags": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "color": {"type": "string", "enum": ["red", "blue"]},
        "note": {"type": ["string", "null"], "description": "a note", "default": None},
        "opts": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"deep": {"type": "boolean"}},
                    "additionalProperties": False,
                },
                {"type": "null"},
            ],
            "default": None,
        },
        "rest": {"type": "array", "items": {"type": "number"}, "default": []},
        "anything": {"default": None},
    }
    assert schema["required"] == ["points", "pair", "tags", "mode", "color"]


@pytest.mark.parametrize(
    ("hint", "fragment"),
    [
        (bytes, "parameter 'x': unsupported type hint bytes"),
        (dict[int, str], "parameter 'x': mapping keys must be str"),
        (Color | Point, "parameter 'x': a union with an Enum"),
        (Literal[b"a"], "parameter 'x': choices"),
    ],
)
def test_unsupported_hint_is_a_type_error_naming_function_and_parameter(
    hint: object, fragment: str
) -> None:
    """A hint with no JSON Schema fails at registration, naming where it is."""

    def broken(x):  # type: ignore[no-untyped-def]
        return x

    broken.__annotations__ = {"x": hint}
    with pytest.raises(TypeError, match="broken") as caught:
        library_tool(broken)
    assert fragment in str(caught.value)


def test_bad_shapes_are_type_errors() -> None:
    """No hint, *args, a recursive dataclass, a bad name or bad schema: each a TypeError."""

    def untyped(x):  # type: ignore[no-untyped-def]
        return x

    def star(*args: int) -> None:
        return None

    def tree(root: Node) -> None:
        return None

    with pytest.raises(TypeError, match="'x' has no type hint"):
        library_tool(untyped)
    with pytest.raises(TypeError, match="named parameters only"):
        library_tool(star)
    with pytest.raises(TypeError, match="refers to itself"):
        library_tool(tree)
    with pytest.raises(TypeError, match=r"name '<lambda>' must match"):
        library_tool(lambda: None)
    with pytest.raises(TypeError, match="must match"):
        library_tool(star, name="has space")
    with pytest.raises(TypeError, match="must match"):
        library_tool(star, name="x" * 65)
    with pytest.raises(TypeError, match="input_schema is invalid"):
        library_tool(star, input_schema={"type": "object", "properties": 3})
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        library_tool(star, timeout_s=0)


async def test_validation_error_names_the_first_problem_and_skips_the_call() -> None:
    """Invalid input is a ToolError naming where it is wrong; the function never runs."""
    calls: list[int] = []

    def add(a: int, b: int = 0) -> int:
        """Add."""
        calls.append(a)
        return a + b

    made = library_tool(add)
    with pytest.raises(ToolError, match=r"invalid input for add: input\.a: 'one' is not of type"):
        await made.call({"a": "one"})
    with pytest.raises(ToolError, match=r"input: 'a' is a required property"):
        await made.call({})
    with pytest.raises(ToolError, match=r"Additional properties are not allowed \('c' was"):
        await made.call({"a": 1, "c": 2})
    with pytest.raises(ToolError, match="must be a JSON object"):
        await made.call([1])  # type: ignore[arg-type]
    long = await _error_of(made, {"a": "x" * 10_000})
    assert len(long) < 400
    assert calls == []


async def _error_of(made: LibraryTool[Any, Any], arguments: dict[str, Any]) -> str:
    with pytest.raises(ToolError) as caught:
        await made.call(arguments)
    return str(caught.value)


async def test_sync_and_async_functions_and_converted_arguments() -> None:
    """Sync functions run in a worker thread, async ones are awaited; JSON becomes Python values."""
    seen: dict[str, Any] = {}

    def plot(point: Point, color: Color, pair: tuple[int, str], size: int = 1) -> dict[str, Any]:
        """Plot."""
        seen["thread"] = threading.current_thread() is not threading.main_thread()
        seen["args"] = (point, color, pair, size)
        return {"ok": True, "at": point}

    async def shout(text: str) -> str:
        """Shout."""
        await trio.lowlevel.checkpoint()
        return text.upper()

    result = await library_tool(plot).call(
        {"point": {"x": 2.0}, "color": "blue", "pair": [1, "a"], "size": 3.0}
    )
    assert seen == {"thread": True, "args": (Point(2, 0), Color.BLUE, (1, "a"), 3)}
    assert isinstance(seen["args"][3], int)
    assert result == ToolOutput('{"ok": true, "at": "Point(x=2, y=0)"}')
    assert await library_tool(shout).call({"text": "hi"}) == ToolOutput("HI")


async def test_return_values_become_tool_output() -> None:
    """A str is sent as is, a ToolOutput as is, anything else as JSON."""

    def text() -> str:
        """T."""
        return "plain ü"

    def given() -> ToolOutput:
        """G."""
        return ToolOutput("bad", is_error=True)

    def nothing() -> None:
        """N."""

    def listed() -> list[object]:
        """L."""
        return [1, "ü", None]

    assert await library_tool(text).call({}) == ToolOutput("plain ü")
    assert await library_tool(given).call({}) == ToolOutput("bad", is_error=True)
    assert await library_tool(nothing).call({}) == ToolOutput("null")
    assert await library_tool(listed).call({}) == ToolOutput('[1, "ü", null]')


async def test_errors_of_the_function_propagate() -> None:
    """A ToolError or any other exception from the function reaches the step unchanged."""

    def fails(kind: str) -> str:
        """F."""
        if kind == "tool":
            raise ToolError("no such city")
        raise KeyError(kind)

    made = library_tool(fails)
    with pytest.raises(ToolError, match="no such city"):
        await made.call({"kind": "tool"})
    with pytest.raises(KeyError):
        await made.call({"kind": "other"})


async def test_async_tool_timeout_in_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    """An async tool under the step's cancel scope stops exactly at its timeout."""

    @tool(timeout_s=2.5)
    async def slow(seconds: float) -> str:
        """Wait."""
        await trio.sleep(seconds)
        return "done"

    start = trio.current_time()
    assert await slow.call({"seconds": 1}) == ToolOutput("done")
    assert trio.current_time() - start == 1
    assert slow.spec.timeout_s == 2.5
    with trio.move_on_after(slow.spec.timeout_s) as scope:
        await slow.call({"seconds": 60})
    assert scope.cancelled_caught
    assert trio.current_time() - start == 3.5


async def test_hung_sync_tool_is_abandoned_on_cancel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A sync tool that never returns does not hold up the timeout: its thread is abandoned."""
    release = threading.Event()
    finished = threading.Event()

    def hang() -> str:
        """Hang."""
        release.wait(30)
        finished.set()
        return "late"

    made = library_tool(hang)
    with trio.move_on_after(5) as scope:
        await made.call({})
    assert scope.cancelled_caught
    assert trio.current_time() == 5
    assert not finished.is_set()  # still running in its abandoned thread
    release.set()
    await trio.to_thread.run_sync(finished.wait, 5)
    assert finished.is_set()


def test_decorator_bare_and_with_arguments_keeps_the_function() -> None:
    """@tool and @tool(...) give Tools that still call the function as before."""

    @tool
    def double(n: int) -> int:
        """Double it."""
        return n * 2

    @tool(name="web-write", description="Write it.", side_effects=True)
    def write(text: str) -> None:
        """Ignored."""

    assert double(4) == 8
    assert double.__name__ == "double"
    assert double.spec.description == "Double it."
    assert (write.spec.name, write.spec.description, write.spec.side_effects) == (
        "web-write",
        "Write it.",
        True,
    )
    assert as_tool(double) is double
    converted = as_tool(lambda_free)
    assert converted.spec.name == "lambda_free"
    with pytest.raises(TypeError, match="must be a function or a Tool"):
        as_tool(3)


def lambda_free(x: int) -> int:
    """Return x."""
    return x


async def test_explicit_schema_is_used_as_given() -> None:
    """With input_schema the arguments are validated against it and passed through unconverted."""

    def raw(**kwargs: Any) -> str:
        """Raw."""
        return repr(sorted(kwargs.items()))

    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}
    made = library_tool(raw, input_schema=schema)
    assert made.spec.input_schema == schema
    assert await made.call({"n": 2}) == ToolOutput("[('n', 2)]")
    with pytest.raises(ToolError, match=r"input\.n: 0 is less than the minimum of 1"):
        await made.call({"n": 0})
    with pytest.raises(TypeError, match="JSON Schema with type object"):
        library_tool(raw, input_schema={"type": "string"})


@pytest.mark.anyio
async def test_sync_and_async_tools_on_both_backends() -> None:
    """The same tools run under trio and asyncio (anyio's worker threads)."""

    def square(n: int) -> int:
        """Square."""
        return n * n

    async def negate(n: int) -> int:
        """Negate."""
        return -n

    assert await library_tool(square).call({"n": 3}) == ToolOutput("9")
    assert await library_tool(negate).call({"n": 3}) == ToolOutput("-3")
