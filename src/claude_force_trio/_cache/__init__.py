"""The response cache: keys, the disk and Redis stores, single-flight, the policy and the layer.

Modules: ``_entry`` (the key, the stored entry, statistics, the store
protocol), ``_disk`` / ``_disk_store`` (diskcache, shared by the processes of
one machine), ``_redis`` (shared by several machines), ``_threaded`` (what
both stores share: worker threads, batched writes), ``_writer`` (write-behind:
stores off the steps' critical path), ``_singleflight``, ``_policy`` (what may
be cached; ``ResponseCache`` and ``open_response_cache``) and ``_layer``
(``CacheLayer``, the cache as a stage of the call stack).
"""
