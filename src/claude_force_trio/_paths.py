"""Where state lives: ``$CFT_HOME`` (default ``~/.cache/claude-force-trio``).

One reader for the variable, so the response cache, the metrics, the agent
memory and the CLI can never disagree about the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["state_home"]


def state_home() -> Path:
    """``$CFT_HOME``, else ``~/.cache/claude-force-trio`` (not created here)."""
    return Path(os.environ.get("CFT_HOME") or "~/.cache/claude-force-trio").expanduser()
