"""Tests for ``cft doctor``'s checks (``_doctor``)."""

from __future__ import annotations

from pathlib import Path

from claude_force_trio import Backend
from claude_force_trio.cli._doctor import check_dir, check_reachable, run_checks
from claude_force_trio.simulator import open_simulator
from tests.test_config import make_project


async def test_all_checks_pass_with_the_simulator(tmp_path: Path) -> None:
    """A valid project, no key, the simulator, writable dirs: every check passes."""
    config = make_project(tmp_path)
    checks = await run_checks(config, simulate=None, state=tmp_path / "home", env={})
    assert [c.name for c in checks] == [
        "config valid",
        "agent files readable",
        "API key",
        "backend reachable",
        "cache dir writable",
        "state dir writable",
    ]
    assert all(c.ok for c in checks), checks
    assert checks[2].detail == "API key not set; using the embedded simulator"
    assert "count_tokens" in checks[3].detail


async def test_key_is_never_shown(tmp_path: Path) -> None:
    """With a key set, the check says "set" and the key appears nowhere."""
    config = make_project(tmp_path)
    env = {"ANTHROPIC_API_KEY": "fake-key-very-secret", "ANTHROPIC_BASE_URL": "http://127.0.0.1:1"}
    checks = await run_checks(config, simulate=None, state=tmp_path / "home", env=env)
    assert all("very-secret" not in c.detail for c in checks)
    key = next(c for c in checks if c.name == "API key")
    assert key.ok
    assert key.detail.startswith("API key set")
    reach = next(c for c in checks if c.name == "backend reachable")
    assert not reach.ok


async def test_bad_config_and_live_without_key_fail(tmp_path: Path) -> None:
    """A missing config and ``--live`` without a key are ✗ lines, not exceptions."""
    checks = await run_checks(tmp_path / "nope.json", simulate=False, state=tmp_path, env={})
    by_name = {c.name: c for c in checks}
    assert not by_name["config valid"].ok
    assert not by_name["agent files readable"].ok
    assert not by_name["API key"].ok
    assert "backend reachable" not in by_name


async def test_unreachable_url_is_reported() -> None:
    """A refused connection is a ✗ with the reason."""
    check = await check_reachable(Backend.url("http://127.0.0.1:1", "fake-key-doctor"))
    assert not check.ok
    assert check.detail.startswith("http://127.0.0.1:1")


async def test_the_key_is_checked_with_an_authenticated_request() -> None:
    """The key is tried for real: accepted passes; refused (401) fails saying why, never the key."""
    async with open_simulator(ttft_ms=0, tokens_per_s=0, api_key="fake-key-right") as sim:
        good = await check_reachable(Backend.url(sim.url, "fake-key-right"))
        bad = await check_reachable(Backend.url(sim.url, "fake-key-wrong"))
        counted = [r.path for r in sim.requests]
    assert good.ok
    assert good.detail == f"{sim.url} accepted the key (count_tokens: 3 tokens)"
    assert not bad.ok
    assert bad.detail.startswith(f"{sim.url}: the key was refused (HTTP 401 authentication_error")
    assert "fake-key" not in bad.detail
    assert counted == ["/v1/messages/count_tokens"] * 2


def test_unwritable_dir_is_reported(tmp_path: Path) -> None:
    """A folder that cannot be created (a file is in the way) is ✗."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert not check_dir("state dir writable", tmp_path / "file" / "sub").ok
    assert check_dir("state dir writable", tmp_path / "ok").ok
