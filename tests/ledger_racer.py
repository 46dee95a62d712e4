"""One racer of the day-ledger race test: reserve, settle, repeat, until refused often enough.

Run by ``tests/test_budget_ledger.py`` as ``python ledger_racer.py BACKEND TARGET PREFIX KEY
LIMIT SEED REFUSALS``. It opens the ledger, prints ``ready``, waits for a line on stdin (so
every racer starts at once), then loops: reserve a random amount; when refused, count the
refusal; else settle a real cost no larger than the amount (half the time all of it, so an
overbooked hold would show as overspending). At the end it prints one JSON line with what it
settled, for the test to add up.
"""

from __future__ import annotations

import json
import random
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio

from claude_force_trio._journal._ledger import DayLedger, open_sqlite_ledger
from claude_force_trio._journal._ledger_redis import open_redis_ledger


def _open(backend: str, target: str, prefix: str) -> AbstractAsyncContextManager[DayLedger]:
    if backend == "sqlite":
        return open_sqlite_ledger(Path(target))
    return open_redis_ledger(target, prefix=prefix)


async def race(argv: list[str]) -> dict[str, int]:
    """Race once with the arguments of the command line; return what was settled."""
    backend, target, prefix, key, limit_s, seed_s, refusals_s = argv
    limit, refusals = int(limit_s), int(refusals_s)
    rng = random.Random(int(seed_s))
    spent = settles = refused = 0
    async with _open(backend, target, prefix) as ledger:
        await ledger.status(key)  # connected before the start
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        while refused < refusals:
            amount = rng.randint(1, limit // 16)
            hold = await ledger.reserve(key, amount, limit, ttl_s=60.0)
            if hold is None:
                refused += 1
                continue
            # Half the calls cost all they reserved: an overbooked hold would overspend.
            actual = amount if rng.random() < 0.5 else rng.randint(0, amount)
            await ledger.settle(hold, actual)
            spent += actual
            settles += 1
    return {"spent": spent, "settles": settles, "refused": refused}


def main() -> None:
    """Race, then print the report as one JSON line."""
    report = anyio.run(race, sys.argv[1:], backend="trio")
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
