"""Talking to the Messages API: the client, its transport, and the resilience around it.

Modules: ``_client`` (one attempt at ``POST /v1/messages``, JSON or SSE, errors
mapped at the edge), ``_sse`` (the event-stream parser), ``_redact`` (the one
scrubber of server text), ``_transport`` / ``_connection`` / ``_local``
(the pool, its HTTP/1.1 connections, what counts as a local failure), and the resilience layer:
``_retry``, ``_breaker``, ``_ratelimit``, ``_resilience``.
"""
