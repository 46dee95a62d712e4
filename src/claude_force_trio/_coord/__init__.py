"""Limits shared through Redis by every process that uses one: pacing, breakers, single-flight.

Modules: ``_link`` (the connection, its worker threads, and the fallback to
per-process limits while Redis does not answer), ``_pacing`` (one token
bucket per base URL and model, AIMD on its rate), ``_breaker`` (the circuit
breaker's state), ``_flight`` (a lock with a lease, so one process pays for an
answer the others read from the shared cache) and ``_open`` (all of them,
opened together). The call stack (``_stack``) opens them when
``coordination_url`` names a Redis; see docs/scaling-out.md.
"""
