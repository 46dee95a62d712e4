"""What an MCP tool is called and what its result becomes, in the Messages API's terms.

Two translations, kept apart from the connection so each is testable alone:

* **Names.** The API accepts tool names matching ``^[a-zA-Z0-9_-]{1,64}$``; MCP
  allows dots, slashes and longer names, and two servers may both have a
  ``search`` tool. A tool is offered to the model as ``SERVER__TOOL`` with every
  other character replaced by ``_`` and cut to 64 characters. Two tools of one
  server that end up with the same name are refused when the server starts
  (rather than one silently shadowing the other).
* **Results.** A ``CallToolResult`` becomes a :class:`ToolOutput`: all-text
  content is joined into one string; otherwise each block is mapped to the
  API's ``text`` or ``image`` block, and what the API cannot take in a
  ``tool_result`` (audio, binary resources, other image types) becomes a short
  text note saying it was left out, so the model knows something was there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._base import ToolError, ToolOutput

if TYPE_CHECKING:
    from mcp.types import CallToolResult, ContentBlock

__all__ = ["api_tool_name", "api_tool_names", "tool_output"]

_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_NAME = 64
#: The image types the Messages API takes in a ``tool_result``.
_API_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def api_tool_name(server: str, tool: str) -> str:
    """The name the model calls ``tool`` of ``server`` by (see the module docstring)."""
    return _NOT_ALLOWED.sub("_", f"{server}__{tool}")[:_MAX_NAME]


def api_tool_names(server: str, tools: Iterable[str]) -> dict[str, str]:
    """Map each of a server's tool names to its API name, refusing collisions.

    Raises:
        ToolError: two tools (or one listed twice) get the same API name.
    """
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    for tool in tools:
        name = api_tool_name(server, tool)
        if name in taken:
            raise ToolError(
                f"MCP server {server!r}: tools {taken[name]!r} and {tool!r} both become "
                f"{name!r} (names are reduced to [a-zA-Z0-9_-], at most 64 characters)"
            )
        taken[name] = tool
        names[tool] = name
    return names


def tool_output(result: CallToolResult) -> ToolOutput:
    """The ``tool_result`` content for an MCP ``CallToolResult``."""
    blocks = [_api_block(block) for block in result.content]
    if not blocks and result.structured_content is not None:
        blocks = [{"type": "text", "text": json.dumps(result.structured_content)}]
    content: str | list[dict[str, Any]]
    if all(block["type"] == "text" for block in blocks):
        content = "\n".join(str(block["text"]) for block in blocks)
    else:
        content = blocks
    return ToolOutput(content=content, is_error=bool(result.is_error))


def _api_block(block: ContentBlock) -> dict[str, Any]:
    """One MCP content block as an API content block (text or image)."""
    from mcp.types import (
        EmbeddedResource,
        ImageContent,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )

    if isinstance(block, TextContent):
        return _text(block.text)
    if isinstance(block, ImageContent) and block.mime_type in _API_IMAGE_TYPES:
        source = {"type": "base64", "media_type": block.mime_type, "data": block.data}
        return {"type": "image", "source": source}
    if isinstance(block, EmbeddedResource) and isinstance(block.resource, TextResourceContents):
        return _text(block.resource.text)
    if isinstance(block, ResourceLink):
        return _text(f"[resource {block.name}: {block.uri}]")
    return _text(f"[{_describe(block)} left out: not accepted in a tool result]")


def _describe(block: ContentBlock) -> str:
    """A short description of a block the API cannot take (type and media type)."""
    fields: Mapping[str, Any] = block.model_dump(by_alias=True, exclude_none=True)
    mime = fields.get("mimeType") or fields.get("resource", {}).get("mimeType")
    return f"{block.type} content" + (f" ({mime})" if mime else "")


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}
