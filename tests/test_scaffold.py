"""Tests for ``cft init``'s project writer (``_scaffold``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_force_trio._config import load_config
from claude_force_trio._errors import ConfigError
from claude_force_trio.cli._scaffold import write_project


def test_written_project_loads(tmp_path: Path) -> None:
    """The scaffold is a valid config with four agents and the quality DAG."""
    written = write_project(tmp_path / "proj")
    config_path = tmp_path / "proj" / ".claude" / "claude.json"
    assert written[0] == config_path
    assert len(written) == 5
    assert all(p.is_file() for p in written)
    config = load_config(config_path)
    assert sorted(config.agents) == ["code-reviewer", "linter", "security-scanner", "type-checker"]
    assert all(len(a.definition.splitlines()) >= 10 for a in config.agents.values())
    review = config.workflows["code-quality-check"].steps[-1]
    assert review.dependencies == ("lint", "types", "scan")


def test_refuses_to_overwrite_and_changes_nothing(tmp_path: Path) -> None:
    """An existing file stops the write before anything is touched."""
    existing = tmp_path / ".claude" / "agents" / "linter.md"
    existing.parent.mkdir(parents=True)
    existing.write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        write_project(tmp_path)
    assert str(info.value) == f"{existing}: already exists (use --force to overwrite)"
    assert existing.read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / ".claude" / "claude.json").exists()


def test_force_overwrites(tmp_path: Path) -> None:
    """With force, existing files are replaced."""
    write_project(tmp_path)
    config_path = tmp_path / ".claude" / "claude.json"
    config_path.write_text("{}", encoding="utf-8")
    write_project(tmp_path, force=True)
    assert "code-quality-check" in load_config(config_path).workflows
