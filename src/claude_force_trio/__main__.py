"""``python -m claude_force_trio``: the same as the ``cft`` command."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main()
