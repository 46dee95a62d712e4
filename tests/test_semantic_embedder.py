"""The packaged wordllama model: same vectors as wordllama's own code, loaded lazily, offline."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from claude_force_trio._cache._semantic import open_semantic_cache, semantic_available
from claude_force_trio._cache._semantic._embedder import (
    EMBEDDER_ID,
    MISSING_EXTRA,
    ModelFiles,
    WordLlamaEmbedder,
    model_files,
)
from claude_force_trio._errors import ConfigError

TEXTS = [
    "Summarise the Q3 2025 earnings report",
    "Review src/auth/session.py for SQL injection",
    "Explain what `handle_request` does, in French please.",
    "ünïcödé and emoji 🚀 survive tokenisation",
    "a",
]


def wordllama_inference(files: ModelFiles) -> Any:
    """wordllama's own ``WordLlamaInference`` on the packaged files (its import logs at INFO)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference  # type: ignore[import-untyped]
    finally:  # wordllama's __init__ calls logging.basicConfig: undo it
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    table = load_file(str(files.weights))["embedding.weight"]
    return WordLlamaInference(table, Tokenizer.from_file(str(files.tokenizer)))


def test_vectors_equal_wordllama_inference() -> None:
    """Each vector is WordLlamaInference.embed(texts, norm=True)'s row for that text."""
    files = model_files()
    reference = wordllama_inference(files).embed(TEXTS, norm=True)
    embedder = WordLlamaEmbedder(files)
    ours = np.stack([embedder.embed(text) for text in TEXTS])
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_loading_is_lazy_and_once() -> None:
    """Nothing is read until the first embed; the load time is kept; later embeds reuse it."""
    embedder = WordLlamaEmbedder(model_files())

    def load_time() -> float | None:
        return embedder.load_s

    assert load_time() is None
    first = embedder.embed("Write tests for the parser")
    load_s = load_time()
    assert load_s is not None
    assert load_s > 0
    embedder.embed("Write tests for the lexer")
    assert embedder.load_s == load_s
    assert embedder.embed("Write tests for the parser").tobytes() == first.tobytes()


def test_a_text_without_tokens_is_the_zero_vector() -> None:
    """An empty text embeds to zeros (it matches nothing), not NaN."""
    vector = WordLlamaEmbedder(model_files()).embed("")
    assert vector.shape == (256,)
    assert not vector.any()


def test_loading_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading and embedding open no socket and resolve no name."""
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def refused(*args: object, **kwargs: object) -> Any:
            attempts.append(name)
            raise OSError(f"network disabled in this test ({name})")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # nothing must rely on the hub being off
    embedder = WordLlamaEmbedder(model_files())
    assert embedder.embed("Translate the README into German").any()
    assert attempts == []


def test_the_model_files_are_inside_the_wordllama_package() -> None:
    """model_files() points into the installed package, found without importing it."""
    files = model_files()
    spec = importlib.util.find_spec("wordllama")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    root = Path(next(iter(spec.submodule_search_locations)))
    assert files.weights == root / "weights" / "l2_supercat_256.safetensors"
    assert files.tokenizer == root / "tokenizers" / "l2_supercat_tokenizer_config.json"
    assert EMBEDDER_ID.startswith("wordllama/l2_supercat_256/")


def test_a_package_without_its_model_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A wordllama install without the model files is reported, not a crash at first use."""
    real = importlib.util.find_spec
    fake = importlib.machinery.ModuleSpec("wordllama", None, is_package=True)
    fake.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: fake if name == "wordllama" else real(name, *a),
    )
    with pytest.raises(ConfigError, match="lacks its model"):
        model_files()


def hide_wordllama(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make find_spec report wordllama as not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "wordllama" else real(name, *a),
    )


def test_semantic_available_says_whether_the_extra_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """True here (the test extra has it); False once wordllama is hidden."""
    assert semantic_available() is True
    hide_wordllama(monkeypatch)
    assert semantic_available() is False


async def test_opening_without_the_extra_is_the_documented_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """open_semantic_cache names the extra to install when wordllama is missing."""
    hide_wordllama(monkeypatch)
    with pytest.raises(ConfigError) as raised:
        async with open_semantic_cache({"writer": 0.9}, directory=tmp_path):
            pass  # pragma: no cover - never entered
    assert str(raised.value) == (
        "cache.semantic: the semantic cache needs the 'semantic' extra: "
        "pip install 'claude-force-trio[semantic]'"
    )
    assert raised.value.message == MISSING_EXTRA
    assert not (tmp_path / "semantic.db").exists()


def test_importing_the_package_imports_neither_numpy_nor_the_model() -> None:
    """A configuration without the semantic cache pays nothing for it at import."""
    code = (
        "import sys; import claude_force_trio._cache._semantic as s; "
        "print(sorted(m for m in ('numpy', 'tokenizers', 'safetensors', 'wordllama')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
