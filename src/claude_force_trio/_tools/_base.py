"""What a tool is to the engine: ``ToolSpec``, ``ToolOutput``, ``Tool`` and ``ToolBox``.

Why one small interface for every kind of tool: a step's loop (``_step``) runs
whatever the model asks for — a Python function, a read-only workspace tool,
a tool of an MCP server — in the same way: look it up by the name the model
used, call it with the model's input under a cancel scope, and send back its
output as a ``tool_result``. Where tools come from (``_library``,
``_workspace``, ``_mcp``) and how they are looked up (``_registry``) are
separate modules that only produce objects of this shape. Server tools (web
search, code execution…) run at the API, so they are only definitions passed
through in the request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._errors import CFTError
from .._public import publish

__all__ = ["Tool", "ToolBox", "ToolError", "ToolOutput", "ToolSpec"]


class ToolError(CFTError):
    """A tool could not do what it was asked; its message goes back to the model.

    Raised by a tool for an expected failure (a file not found, input the tool
    refuses). The step turns it into a ``tool_result`` with ``is_error: true``
    and this message, and the loop goes on: the model decides what next.
    """


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the model is told about a tool (the API's client tool definition).

    Attributes:
        name: the name the model calls it by (``^[a-zA-Z0-9_-]{1,64}$``).
        description: what it does and when to use it.
        input_schema: the JSON Schema of its input (an ``object`` schema).
        side_effects: it changes something outside the run; a step that may
            call it is never answered from, nor stored in, the response cache.
        timeout_s: the most one call may take; ``None``: the engine's default.
    """

    name: str
    description: str
    input_schema: Mapping[str, Any]
    side_effects: bool = False
    timeout_s: float | None = None

    def to_api(self) -> dict[str, Any]:
        """The definition as the request's ``tools`` entry."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": dict(self.input_schema),
        }


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What one tool call returned: the ``tool_result`` block's ``content``.

    Attributes:
        content: text, or a list of content blocks (``text``, ``image``…).
        is_error: the call failed; the model sees ``is_error: true``.
    """

    content: str | Sequence[Mapping[str, Any]]
    is_error: bool = False


class Tool(Protocol):
    """A tool the engine can run. Its ``call`` may raise :class:`ToolError`.

    Any other exception is a failure of the tool too (the step reports its type
    and a short message to the model, never a traceback); cancellation passes.
    The step checks the model's input against ``spec.input_schema`` before the
    call, unless the tool has a true ``checks_input`` attribute: it checks its
    own (library tools do, so they stay safe when called outside a step).
    """

    @property
    def spec(self) -> ToolSpec:
        """The tool's definition."""
        ...

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutput:
        """Run once with the model's ``input`` (already checked against the schema)."""
        ...


@dataclass(frozen=True, slots=True)
class ToolBox:
    """The tools one agent may use, as one step's loop needs them.

    Attributes:
        tools: client tools by the name the model calls them.
        server_tools: server tool definitions, passed through in the request.
        unavailable: why tools the agent lists cannot be offered (an MCP server
            that did not start); a step of the agent then fails with these
            reasons instead of running without them.
    """

    tools: Mapping[str, Tool] = field(default_factory=dict)
    server_tools: tuple[Mapping[str, Any], ...] = ()
    unavailable: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tools or self.server_tools or self.unavailable)

    @property
    def side_effects(self) -> bool:
        """Whether any of the tools changes something (the step is then uncacheable)."""
        return any(tool.spec.side_effects for tool in self.tools.values())

    def definitions(self) -> list[dict[str, Any]]:
        """The request's ``tools``: client tools in name order, then server tools."""
        client = [self.tools[name].spec.to_api() for name in sorted(self.tools)]
        return client + [dict(definition) for definition in self.server_tools]


publish(globals())
