"""Four processes hammering one cache directory: no exception, no wrong payload.

Each worker (a ``spawn``ed process running its own event loop: trio in two of
them, asyncio in the other two) writes and reads its own keys and a small set
of keys shared by all, in random order, one entry at a time or in batches (one
transaction each, as the write-behind writes). Every value embeds the key it
was written under and the writer's id, and every read checks that the payload
belongs to the key it asked for.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import anyio

from claude_force_trio._cache._disk import DiskCache
from claude_force_trio._cache._entry import CachedResponse
from claude_force_trio._types import Usage

WORKERS = 4
OPS = 1000
#: Workers start together, so their operations really overlap (spawning takes ~1 s).
START_DELAY_S = 2.0
SHARED = [f"{i:064x}" for i in range(8)]


def _value(key: str, worker: int, n: int) -> CachedResponse:
    text = f"{key}|worker {worker}|op {n}|" + "p" * (n % 7 * 1000)
    return CachedResponse("claude-sonnet-4-5", text, "end_turn", Usage(1, 2), created=0.0)


async def _hammer(directory: str, worker: int, start_at: float) -> dict[str, int]:
    rng = random.Random(worker)
    cache = await DiskCache.open(Path(directory), ttl_s=None, size_limit_bytes=2**30)
    await anyio.sleep(max(0.0, start_at - time.time()))
    own = [f"{worker:032x}{i:032x}" for i in range(20)]
    counts = {"hits": 0, "misses": 0, "wrong": 0}
    for n in range(OPS):
        key = rng.choice(SHARED if rng.random() < 0.5 else own)
        if rng.random() < 0.2:
            await cache.set(key, _value(key, worker, n))
        elif rng.random() < 0.25:
            other = rng.choice(SHARED)
            batch = {key: _value(key, worker, n), other: _value(other, worker, n)}
            await cache.set_many(list(batch.items()))
        else:
            got = await cache.get(key)
            if got is None:
                counts["misses"] += 1
            elif got.text.split("|", 1)[0] == key:
                counts["hits"] += 1
            else:
                counts["wrong"] += 1
    await cache.aclose()
    return counts


def _worker(directory: str, worker: int, start_at: float) -> dict[str, int]:
    backend = "asyncio" if worker % 2 else "trio"
    return anyio.run(_hammer, directory, worker, start_at, backend=backend)


def test_four_processes_share_one_directory(tmp_path: Path) -> None:
    """Concurrent get/set from four processes: every read is its key's payload, none fails."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        start_at = time.time() + START_DELAY_S
        futures = [pool.submit(_worker, str(tmp_path), w, start_at) for w in range(WORKERS)]
        results = [f.result(timeout=60) for f in futures]
    assert sum(r["wrong"] for r in results) == 0
    assert sum(r["hits"] for r in results) > OPS  # the cache was really shared and used
    assert sum(r["hits"] + r["misses"] for r in results) > 0
