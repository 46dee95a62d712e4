"""Agent memory: past successes recalled as context for new tasks.

Modules: ``_store`` (the queries, and :func:`open_memory`), ``_database`` (the
SQLite file: worker threads, healing from damage), ``_lru`` (the query cache)
and ``_items`` (what is remembered and reported, and the prompt context).
"""

from ._items import MemoryItem as MemoryItem
from ._items import MemoryStats as MemoryStats
from ._items import format_context as format_context
from ._lru import LRUCache as LRUCache
from ._store import MEMORY_FILE as MEMORY_FILE
from ._store import MemoryStore as MemoryStore
from ._store import open_memory as open_memory
