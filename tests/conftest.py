"""Shared fixtures: every test gets its own CFT_HOME, so nothing touches the real one."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point CFT_HOME (cache, metrics, memory) at a fresh folder for this test."""
    home = tmp_path_factory.mktemp("cft-home")
    monkeypatch.setenv("CFT_HOME", str(home))
    return home
