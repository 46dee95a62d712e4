"""The project key of a raw ``claude.json`` document, for readers that do not load the config.

Why not always :func:`load_config`: ``cft metrics``, ``cft memory`` and the
compatibility API need only *which project* a config belongs to, and a config
whose agent files are missing (as Claude Force tolerated) must still be
reported on. The rule itself is :attr:`Config.project_key`'s; this only
builds the smallest config it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._config import Config

__all__ = ["project_key_of"]


def project_key_of(config_path: Path, document: dict[str, Any]) -> str:
    """The project key of ``document``, as :attr:`Config.project_key` has it.

    Args:
        config_path: where the document was read from.
        document: its parsed content (its ``project`` is used when it is a
            non-empty string).
    """
    name = document.get("project")
    path = Path(config_path).absolute()
    return Config(path, path.parent, project=name if isinstance(name, str) else None).project_key
