"""Tools for agents: the interface, where tools come from, and how a step finds them."""

from __future__ import annotations

from ._base import Tool as Tool
from ._base import ToolBox as ToolBox
from ._base import ToolError as ToolError
from ._base import ToolOutput as ToolOutput
from ._base import ToolSpec as ToolSpec
