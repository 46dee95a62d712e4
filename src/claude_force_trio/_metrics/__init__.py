"""Metrics: the JSON-lines recorder and what reads it back.

Modules: ``_recorder`` (one line per finished call, appended safely by many
processes), ``_aggregate`` (streaming summaries), ``_quantiles`` (percentiles
in bounded memory) and ``_anomalies`` (calls far off their agent's normal).
"""
