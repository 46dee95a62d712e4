"""Metrics: the JSON-lines recorder and what reads it back.

Modules: ``_record`` (what one line holds, built from the engine's events),
``_files`` (whole-line appends by many processes, rotation), ``_recorder`` (the
hook: buffering, flushing, retries), ``_aggregate`` (streaming summaries),
``_quantiles`` (percentiles in bounded memory), ``_anomalies`` (calls far
off their agent's normal) and ``_project`` (a raw config's project key).
Every one of them is cheap to import.
"""

from .._text import hash_task as hash_task
from ._aggregate import NO_PROJECT as NO_PROJECT
from ._aggregate import GroupStats as GroupStats
from ._aggregate import ReadStats as ReadStats
from ._aggregate import Summary as Summary
from ._aggregate import aggregate as aggregate
from ._aggregate import read_records as read_records
from ._aggregate import window_start as window_start
from ._anomalies import Anomaly as Anomaly
from ._anomalies import find_anomalies as find_anomalies
from ._files import METRICS_FILE as METRICS_FILE
from ._files import metrics_files as metrics_files
from ._otel import TraceHook as TraceHook
from ._otel_setup import configure_from_env as configure_from_env
from ._otel_setup import telemetry_hooks as telemetry_hooks
from ._project import project_key_of as project_key_of
from ._quantiles import Quantiles as Quantiles
from ._record import FIELDS as FIELDS
from ._recorder import MetricsRecorder as MetricsRecorder
