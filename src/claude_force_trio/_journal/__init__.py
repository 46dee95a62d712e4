"""The run journal: every run and its steps' last states, durable, in one SQLite file.

Modules: ``_store`` (the file, its queries, and :func:`open_journal`),
``_records`` (what a lookup returns) and ``_fingerprint`` (what a run's result
depends on in the config, so a resume can tell whether it is still sound).
"""

from ._fingerprint import fingerprint as fingerprint
from ._records import RunRecord as RunRecord
from ._store import JOURNAL_FILE as JOURNAL_FILE
from ._store import Journal as Journal
from ._store import journal_path as journal_path
from ._store import open_journal as open_journal
