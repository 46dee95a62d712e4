"""The response cache: keys, the disk and Redis stores, single-flight and the policy.

Modules: ``_entry`` (the key, the stored entry, statistics, the store
protocol), ``_disk`` / ``_disk_store`` (diskcache, shared by the processes of
one machine), ``_redis`` (shared by several machines), ``_threaded`` (what
both stores share), ``_singleflight`` and ``_policy`` (what may be cached, and
the one call the engine makes).
"""
