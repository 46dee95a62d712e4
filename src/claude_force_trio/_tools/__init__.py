"""Tools for agents: the interface, where tools come from, and how a step finds them."""

from __future__ import annotations

from ._base import Tool as Tool
from ._base import ToolBox as ToolBox
from ._base import ToolError as ToolError
from ._base import ToolOutput as ToolOutput
from ._base import ToolSpec as ToolSpec
from ._library import LibraryTool as LibraryTool
from ._library import as_tool as as_tool
from ._library import library_tool as library_tool
from ._library import tool as tool
from ._server import check_server_tool as check_server_tool
from ._server import server_tool_definition as server_tool_definition
from ._workspace import workspace_tools as workspace_tools
