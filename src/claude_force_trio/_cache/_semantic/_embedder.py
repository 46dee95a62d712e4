"""Sentence vectors from the model the ``wordllama`` wheel ships, loaded lazily and offline.

Why wordllama: its default model (``l2_supercat_256``: 32 000 token vectors of
256 dimensions, float16, ~16 MB) is *inside the wheel*, so nothing is
downloaded at run time, and a text's vector is the mean of its tokens' vectors
— tens of microseconds, no GPU, no torch. It is a bag-of-tokens model, which is
why :mod:`._literals` guards the details it cannot see.

Why not ``WordLlama.load()``: wordllama 0.4 looks for its tokenizer in a
``tokenizer/`` folder while the wheel has ``tokenizers/``, and so tries to
download it from the Hugging Face hub, which fails offline. The two packaged
files are read here directly with ``tokenizers`` and ``safetensors`` (both
wordllama dependencies), and the pooling is WordLlamaInference's own
(``embed(texts, norm=True)``; ``tests/test_semantic_embedder.py`` checks the
vectors are the same). wordllama itself is never imported: its ``__init__``
configures the root logger.

Loading costs ~0.2 s (mostly parsing the tokenizer's 1.8 MB JSON), so it
happens on first use, in the worker thread that asked, once. The token table
stays float16 (16 MB, not 32): only the rows of a text's tokens are widened.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..._errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float32]

__all__ = [
    "EMBEDDER_ID",
    "MISSING_EXTRA",
    "Embedder",
    "ModelFiles",
    "WordLlamaEmbedder",
    "model_files",
    "semantic_available",
]

#: Names the model and the pooling: part of every scope, so a change of either never
#: compares vectors of two different spaces.
EMBEDDER_ID = "wordllama/l2_supercat_256/mean-norm/v1"
MISSING_EXTRA = (
    "the semantic cache needs the 'semantic' extra: pip install 'claude-force-trio[semantic]'"
)
#: What the extra brings: wordllama (the model files) and what reading them takes.
_NEEDED = ("wordllama", "numpy", "tokenizers", "safetensors")
_WEIGHTS = Path("weights", "l2_supercat_256.safetensors")
_TOKENIZER = Path("tokenizers", "l2_supercat_tokenizer_config.json")
_TENSOR = "embedding.weight"
DIM = 256


def semantic_available() -> bool:
    """True when the ``semantic`` extra is installed (a look-up of the packages, no import)."""
    return all(importlib.util.find_spec(name) is not None for name in _NEEDED)


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """Where the packaged model is: the token table and the tokenizer."""

    weights: Path
    tokenizer: Path


def model_files() -> ModelFiles:
    """The model files inside the installed wordllama package, found without importing it.

    Raises:
        ConfigError: the extra is missing, or the package lacks its model files.
    """
    if not semantic_available():
        raise ConfigError("cache.semantic", MISSING_EXTRA)
    spec = importlib.util.find_spec("wordllama")
    roots = list(spec.submodule_search_locations or ()) if spec is not None else []
    for root in roots:
        files = ModelFiles(Path(root) / _WEIGHTS, Path(root) / _TOKENIZER)
        if files.weights.is_file() and files.tokenizer.is_file():
            return files
    raise ConfigError(
        "cache.semantic",
        f"the installed wordllama package lacks its model ({_WEIGHTS}, {_TOKENIZER}): "
        "reinstall it with pip install --force-reinstall 'claude-force-trio[semantic]'",
    )


class Embedder(Protocol):
    """Turns a text into a unit vector; blocking (the cache calls it in a worker thread).

    Attributes:
        id: names the vector space (model and pooling); part of every scope.
        dim: the vectors' length.
    """

    id: str
    dim: int

    def embed(self, text: str) -> Vector:
        """``text``'s float32 vector of norm 1 (all zeros for a text without tokens)."""
        ...


class WordLlamaEmbedder:
    """The packaged wordllama model: mean of the token vectors, normalised.

    Args:
        files: the model files (:func:`model_files`).

    Attributes:
        load_s: how long the first use spent loading the model (``None`` until then).
    """

    id = EMBEDDER_ID
    dim = DIM

    def __init__(self, files: ModelFiles) -> None:
        self.files = files
        self.load_s: float | None = None
        self._lock = threading.Lock()
        self._model: tuple[Any, Any] | None = None  # (tokenizer, float16 table)

    def _loaded(self) -> tuple[Any, Any]:
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                start = time.perf_counter()
                self._model = _load(self.files)
                self.load_s = time.perf_counter() - start
            return self._model

    def embed(self, text: str) -> Vector:
        """``text``'s unit vector, exactly as ``WordLlamaInference.embed(text, norm=True)``."""
        import numpy as np

        tokenizer, table = self._loaded()
        ids = np.asarray(tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros(self.dim, dtype=np.float32)
        np.clip(ids, 0, table.shape[0] - 1, out=ids)
        rows = table[ids].astype(np.float32)  # float16 -> float32 is exact
        pooled: Vector = np.sum(rows, axis=0, dtype=np.float32)
        pooled /= np.float32(ids.size)
        norm = np.linalg.norm(pooled)
        if not norm > 0:
            return np.zeros(self.dim, dtype=np.float32)
        pooled /= norm
        return pooled


def _load(files: ModelFiles) -> tuple[Any, Any]:
    """Read the tokenizer and the token table from the package (never the network)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(files.tokenizer))
    tokenizer.no_truncation()
    table = load_file(str(files.weights))[_TENSOR]
    if table.ndim != 2 or table.shape[1] != DIM:
        raise ConfigError(
            "cache.semantic", f"the packaged model has an unexpected shape {table.shape}"
        )
    return tokenizer, table
