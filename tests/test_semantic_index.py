"""VectorIndex alone: groups, the guards in search, removal, the bound, the TTL, the prefilter."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from claude_force_trio._cache._semantic import _index
from claude_force_trio._cache._semantic._guard import Fingerprint, fingerprint
from claude_force_trio._cache._semantic._index import IndexEntry, VectorIndex

DIM = 256


def unit(seed: int) -> npt.NDArray[np.float32]:
    """A random unit vector (reproducible)."""
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def near(vector: npt.NDArray[np.float32], cosine: float, seed: int) -> npt.NDArray[np.float32]:
    """A unit vector whose cosine with ``vector`` is ``cosine``."""
    other = unit(seed)
    other -= (other @ vector) * vector
    other /= np.linalg.norm(other)
    mixed: npt.NDArray[np.float32] = (cosine * vector + np.sqrt(1 - cosine**2) * other).astype(
        np.float32
    )
    return mixed


def entry(
    key: str,
    vector: npt.NDArray[np.float32],
    *,
    text: str = "Summarise the report",
    scope: str = "s",
    created: float = 0.0,
) -> IndexEntry:
    """An entry of ``scope`` for ``text``'s fingerprint."""
    return IndexEntry(key, scope, fingerprint(text), created, vector)


def test_the_best_entry_over_the_threshold_is_found() -> None:
    """search() returns the nearest entry and its exact cosine; below the threshold, None."""
    index = VectorIndex(DIM, max_entries=10)
    query = unit(1)
    index.add(entry("far", near(query, 0.70, 2)))
    index.add(entry("close", near(query, 0.90, 3)))
    fp = fingerprint("Summarise the report")
    found = index.search("s", fp, query, threshold=0.8)
    assert found is not None
    assert found[0] == "close"
    assert found[1] == pytest.approx(0.90, abs=1e-5)
    assert index.search("s", fp, query, threshold=0.95) is None


def test_scope_and_signature_separate_groups() -> None:
    """An entry of another scope, or with other literals, is never compared."""
    index = VectorIndex(DIM, max_entries=10)
    query = unit(1)
    index.add(entry("other-scope", query, scope="t"))
    index.add(entry("other-literals", query, text="Summarise the Q3 report"))
    assert index.search("s", fingerprint("Summarise the report"), query, threshold=0.5) is None
    found = index.search("s", fingerprint("Summarise the Q3 report"), query, threshold=0.5)
    assert found is not None
    assert found[0] == "other-literals"


def test_guards_skip_to_the_next_best_entry() -> None:
    """A conflicting or substituted entry is passed over for a compatible one further away."""
    index = VectorIndex(DIM, max_entries=10)
    query = unit(1)
    index.add(entry("opposite", query, text="Disable the backups"))
    index.add(entry("swapped", near(query, 0.99, 2), text="Remove the backups"))
    index.add(entry("fine", near(query, 0.8, 3), text="Enable all of the backups"))
    found = index.search("s", fingerprint("Enable the backups"), query, threshold=0.5)
    assert found is not None
    assert found[0] == "fine"


def test_remove_keeps_the_other_rows_findable() -> None:
    """Removing a row moves the last one into its place without losing it."""
    index = VectorIndex(DIM, max_entries=10)
    vectors = {f"k{i}": unit(i) for i in range(5)}
    for key, vector in vectors.items():
        index.add(entry(key, vector))
    assert index.remove("k1")
    assert not index.remove("k1")
    assert len(index) == 4
    fp = fingerprint("Summarise the report")
    for key, vector in vectors.items():
        found = index.search("s", fp, vector, threshold=0.99)
        assert (found[0] if found else None) == (None if key == "k1" else key)


def test_adding_a_key_again_replaces_it() -> None:
    """The same key is one entry, with the newest vector."""
    index = VectorIndex(DIM, max_entries=10)
    index.add(entry("k", unit(1)))
    index.add(entry("k", unit(2)))
    assert len(index) == 1
    fp = fingerprint("Summarise the report")
    assert index.search("s", fp, unit(1), threshold=0.9) is None
    assert index.search("s", fp, unit(2), threshold=0.9) is not None


def test_the_bound_drops_the_oldest() -> None:
    """Past max_entries, the entry added first goes; the index never grows beyond."""
    index = VectorIndex(DIM, max_entries=3)
    for i in range(5):
        index.add(entry(f"k{i}", unit(i)))
    assert len(index) == 3
    assert "k0" not in index
    assert "k1" not in index
    assert all(f"k{i}" in index for i in (2, 3, 4))


def test_expired_entries_never_match_and_are_dropped_from_the_old_end() -> None:
    """expired_at hides entries created at or before it; drop_expired removes them."""
    index = VectorIndex(DIM, max_entries=10)
    query = unit(1)
    index.add(entry("old", query, created=100.0))
    index.add(entry("new", near(query, 0.9, 2), created=200.0))
    fp = fingerprint("Summarise the report")
    found = index.search("s", fp, query, threshold=0.5, expired_at=150.0)
    assert found is not None
    assert found[0] == "new"
    assert index.search("s", fp, query, threshold=0.5, expired_at=250.0) is None
    assert index.drop_expired(150.0) == 1
    assert "old" not in index
    assert "new" in index


def test_the_prefilter_finds_close_entries_in_a_big_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above EXACT_ROWS rows, sign bits narrow the group; close entries are still found."""
    monkeypatch.setattr(_index, "EXACT_ROWS", 200)
    monkeypatch.setattr(_index, "CANDIDATES", 20)
    index = VectorIndex(DIM, max_entries=10_000)
    for i in range(1000):
        index.add(entry(f"k{i}", unit(1000 + i)))
    fp = fingerprint("Summarise the report")
    for i in (0, 500, 999):
        target = unit(1000 + i)
        query = near(target, 0.95, i)
        found = index.search("s", fp, query, threshold=0.9)
        assert found is not None
        assert found[0] == f"k{i}"
        assert found[1] == pytest.approx(0.95, abs=1e-4)


def test_bad_shapes_are_refused() -> None:
    """dim must be a multiple of 64 and the bound positive."""
    with pytest.raises(ValueError, match="multiple of 64"):
        VectorIndex(100, max_entries=1)
    with pytest.raises(ValueError, match="positive"):
        VectorIndex(DIM, max_entries=0)
    assert Fingerprint("x", 0, 0).words == ()


def test_add_many_is_add_for_a_batch() -> None:
    """A batch lands in its groups, the last of a key wins, and the bound still holds."""
    index = VectorIndex(DIM, max_entries=50)
    index.add(entry("old", unit(99)))
    batch = [
        entry(f"k{i}", unit(i), text="Summarise the Q3 report" if i % 2 else "Summarise it")
        for i in range(40)
    ]
    batch.append(entry("k3", unit(500), text="Summarise the Q3 report"))
    index.add_many([*batch, entry("old", unit(98))])
    assert len(index) == 41
    q3, plain = fingerprint("Summarise the Q3 report"), fingerprint("Summarise it")
    assert (index.search("s", q3, unit(5), threshold=0.99) or ("",))[0] == "k5"
    assert (index.search("s", plain, unit(4), threshold=0.99) or ("",))[0] == "k4"
    assert index.search("s", q3, unit(3), threshold=0.9) is None
    assert index.search("s", q3, unit(500), threshold=0.99) is not None
    assert index.search("s", plain, unit(98), threshold=0.99) is not None
    index.add_many([entry(f"n{i}", unit(1000 + i)) for i in range(20)])
    assert len(index) == 50
    assert "k0" not in index
    assert "old" in index  # re-added in the batch, so among the newest
