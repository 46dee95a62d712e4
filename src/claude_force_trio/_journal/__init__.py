"""The run journal: every run and its steps' last states, durable, in one SQLite file.

Modules: ``_store`` (the file, its queries, and :func:`open_journal`),
``_records`` (what a lookup returns: a run, an approval decision) and
``_fingerprint`` (what a run's result depends on in the config, so a resume can
tell whether it is still sound).
"""

from ._fingerprint import fingerprint as fingerprint
from ._ledger import MICROS_PER_USD as MICROS_PER_USD
from ._ledger import DayLedger as DayLedger
from ._ledger import Hold as Hold
from ._ledger import LedgerStatus as LedgerStatus
from ._ledger import SqliteLedger as SqliteLedger
from ._ledger import day_key as day_key
from ._ledger import ledger_path as ledger_path
from ._ledger import open_sqlite_ledger as open_sqlite_ledger
from ._ledger_redis import RedisLedger as RedisLedger
from ._ledger_redis import open_redis_ledger as open_redis_ledger
from ._records import Decision as Decision
from ._records import RunRecord as RunRecord
from ._store import JOURNAL_FILE as JOURNAL_FILE
from ._store import Journal as Journal
from ._store import journal_path as journal_path
from ._store import open_journal as open_journal
