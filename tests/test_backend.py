"""Backend selection (the CLI's rules and the library's) and the package's public surface."""

from __future__ import annotations

import pytest

import claude_force_trio as cft
from claude_force_trio._backend import API_URL, SIMULATOR_NOTICE, Backend, resolve_backend
from claude_force_trio._config import ApiConfig
from claude_force_trio._errors import ConfigError


def test_no_key_means_simulator_with_notice_for_the_cli() -> None:
    """With nothing set, the CLI's rule uses the embedded simulator and tells the user."""
    backend = resolve_backend(env={}, default_to_simulator=True)
    assert backend.kind == "simulator"
    assert backend.notice == SIMULATOR_NOTICE


def test_no_key_is_an_error_for_the_library() -> None:
    """With nothing set, the library names the three ways out instead of faking answers."""
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY") as info:
        resolve_backend(env={})
    assert info.value.path == "backend"
    for way in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", 'backend="simulator"'):
        assert way in info.value.message


def test_simulate_flag_wins_over_everything() -> None:
    """--simulate ignores keys and base URLs, and says nothing."""
    backend = resolve_backend(
        True, env={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://x"}
    )
    assert backend.kind == "simulator"
    assert backend.notice is None


def test_key_means_the_api() -> None:
    """A key selects the real API with x-api-key auth and the configured version."""
    backend = resolve_backend(
        env={"ANTHROPIC_API_KEY": "sk-secret"}, api=ApiConfig(version="2026-10-21")
    )
    assert (backend.kind, backend.base_url, backend.auth, backend.version) == (
        "api",
        API_URL,
        "x-api-key",
        "2026-10-21",
    )
    assert backend.api_key == "sk-secret"


def test_base_url_wins_over_the_api() -> None:
    """ANTHROPIC_BASE_URL sends requests there, trailing slash trimmed."""
    backend = resolve_backend(
        env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:8080/", "ANTHROPIC_API_KEY": "k"}
    )
    assert backend.kind == "base_url"
    assert backend.base_url == "http://127.0.0.1:8080"
    # Without a key a local simulator still gets a placeholder, not None.
    assert resolve_backend(env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:8080"}).api_key


def test_auth_token_selects_bearer() -> None:
    """ANTHROPIC_AUTH_TOKEN alone selects Authorization: Bearer, as the SDK does."""
    backend = resolve_backend(env={"ANTHROPIC_AUTH_TOKEN": "tok"})
    assert backend.auth == "bearer"
    assert backend.api_key == "tok"
    assert (
        resolve_backend(env={"ANTHROPIC_AUTH_TOKEN": "t", "ANTHROPIC_API_KEY": "k"}).auth
        == "x-api-key"
    )


def test_live_needs_a_key() -> None:
    """--live without a key is a usage error naming the flag."""
    with pytest.raises(cft.ConfigError, match=r"^--live: ANTHROPIC_API_KEY"):
        resolve_backend(False, env={})
    assert resolve_backend(False, env={"ANTHROPIC_API_KEY": "k"}).kind == "api"


def test_key_never_in_repr() -> None:
    """The key is excluded from the backend's repr."""
    backend = Backend.url("http://x", "fake-key-very-secret")
    assert "fake-key-very-secret" not in repr(backend)


def test_public_surface() -> None:
    """Everything in __all__ exists, and nothing private leaks into it."""
    for name in cft.__all__:
        assert hasattr(cft, name), name
        assert not name.startswith("_")
    assert cft.__version__
    assert len(set(cft.__all__)) == len(cft.__all__)
