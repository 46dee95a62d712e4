"""Turning telemetry on: ``telemetry_hooks()`` for engines, ``configure_from_env()`` for the CLI.

Why two functions: a library must not configure OpenTelemetry — the
application owns its providers — so an engine only *joins in* when the
application has configured them (:func:`telemetry_hooks`), at no cost
otherwise: when nothing has imported ``opentelemetry``, no provider can have
been set, and it is not imported. The CLI *is* an application: it sets the
providers up from the standard ``OTEL_*`` variables (:func:`configure_from_env`).

What :func:`configure_from_env` reads (``docs/observability.md``):

* ``OTEL_SDK_DISABLED=true``: nothing is set up.
* ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: comma-separated
  ``otlp``, ``console`` or ``none``; when unset but an ``OTEL_EXPORTER_OTLP_*``
  variable is, ``otlp``. Logs are not exported.
* ``OTEL_EXPORTER_OTLP_PROTOCOL`` (and its ``_TRACES_``/``_METRICS_`` forms):
  ``http/protobuf`` (the default) or ``grpc``; the endpoint, headers, timeout
  and the batch and export-interval settings are read by the SDK itself.
* ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` (default service name
  ``claude-force-trio``).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from .._events import Hook

__all__ = ["SERVICE_NAME", "configure_from_env", "providers_from_env", "telemetry_hooks"]

log = logging.getLogger("claude_force_trio.otel")

#: ``service.name`` when neither ``OTEL_SERVICE_NAME`` nor the resource attributes give one.
SERVICE_NAME = "claude-force-trio"
#: OTLP protocol → the exporter package's modules, and its name on PyPI.
_PROTOCOLS = {
    "http/protobuf": (
        "opentelemetry.exporter.otlp.proto.http",
        "opentelemetry-exporter-otlp-proto-http",
    ),
    "grpc": ("opentelemetry.exporter.otlp.proto.grpc", "opentelemetry-exporter-otlp-proto-grpc"),
}
#: Signal → the exporter's module in that package, and its class.
_SIGNALS = {
    "traces": ("trace_exporter", "OTLPSpanExporter"),
    "metrics": ("metric_exporter", "OTLPMetricExporter"),
}
_PROVIDER_VARIABLES = ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER")


def telemetry_hooks() -> list[Hook]:
    """``[TraceHook()]`` when the application configured OpenTelemetry, else ``[]``.

    Configured means a real tracer or meter provider is set (not the API's
    no-op or proxy default). Read when called: an engine opened before the
    providers are set does not trace.
    """
    loaded = "opentelemetry.trace" in sys.modules or "opentelemetry.metrics" in sys.modules
    if not loaded and not any(os.environ.get(name) for name in _PROVIDER_VARIABLES):
        return []
    try:
        if not _configured():
            return []
        from ._otel import TraceHook
    except ImportError:
        return []
    return [TraceHook()]


def _configured() -> bool:
    """A real tracer or meter provider is set globally."""
    from opentelemetry import metrics, trace

    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    tracing = not isinstance(tracer_provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    metering = not isinstance(meter_provider, metrics.NoOpMeterProvider) and not type(
        meter_provider
    ).__name__.startswith("_Proxy")
    return tracing or metering


def _exporters(signal: str) -> list[str]:
    """The exporter names asked for ``signal`` (``traces`` or ``metrics``)."""
    value = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER")
    if value is None:
        asked = any(name.startswith("OTEL_EXPORTER_OTLP_") for name in os.environ)
        return ["otlp"] if asked else []
    return [name.strip().lower() for name in value.split(",") if name.strip()]


def _asked() -> bool:
    """Some ``OTEL_*`` variable asks for export, and the SDK is not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(name != "none" for signal in ("traces", "metrics") for name in _exporters(signal))


def configure_from_env() -> bool:
    """Set up the global tracer and meter providers from the ``OTEL_*`` variables.

    Nothing happens when no variable asks for export, or when providers are
    already configured (by ``opentelemetry-instrument``, say). A missing
    ``opentelemetry-sdk`` or OTLP exporter is said in one warning line; the
    run goes on without that export.

    Returns:
        Whether telemetry is now configured (so :func:`telemetry_hooks` answers).
    """
    if not _asked():
        return False
    try:
        if _configured():
            return True
        from opentelemetry import metrics, trace

        tracer_provider, meter_provider = providers_from_env()
    except ImportError as exc:
        log.warning(
            "otel: OTEL_* asks for export but %s is not installed; nothing is exported "
            "(pip install opentelemetry-sdk opentelemetry-exporter-otlp)",
            exc.name or "opentelemetry-sdk",
        )
        return False
    if tracer_provider is not None:
        trace.set_tracer_provider(tracer_provider)
    if meter_provider is not None:
        metrics.set_meter_provider(meter_provider)
    return tracer_provider is not None or meter_provider is not None


def providers_from_env() -> tuple[TracerProvider | None, MeterProvider | None]:
    """The providers the ``OTEL_*`` variables describe, not set globally (``None``: no exporter).

    Raises:
        ImportError: ``opentelemetry-sdk`` is not installed.
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {"service.name": SERVICE_NAME})
    missing: set[str] = set()
    spans = _build("traces", ConsoleSpanExporter, missing)
    readers = [
        PeriodicExportingMetricReader(exporter)
        for exporter in _build("metrics", ConsoleMetricExporter, missing)
    ]
    if missing:
        log.warning(
            "otel: OTLP export asked for but %s is not installed; nothing is sent over OTLP "
            "(pip install %s)",
            " and ".join(sorted(missing)),
            " ".join(sorted(missing)),
        )
    tracer_provider = None
    if spans:
        tracer_provider = TracerProvider(resource=resource)
        for exporter in spans:
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers) if readers else None
    return tracer_provider, meter_provider


def _build(signal: str, console: Callable[[], Any], missing: set[str]) -> list[Any]:
    """The exporters ``OTEL_{signal}_EXPORTER`` names that can be made (absent packages noted)."""
    built = []
    for name in _exporters(signal):
        if name == "none":
            continue
        if name not in ("otlp", "console"):
            log.warning(
                "otel: unknown %s exporter %r (supported: otlp, console, none)", signal, name
            )
            continue
        exporter = console() if name == "console" else _otlp(signal, missing)
        if exporter is not None:
            built.append(exporter)
    return built


def _otlp(signal: str, missing: set[str]) -> Any:
    """An OTLP exporter for ``signal`` over the configured protocol; ``None`` (noted) if absent."""
    protocol = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    where = _PROTOCOLS.get(protocol)
    if where is None:
        log.warning("otel: OTLP protocol %r is not supported (http/protobuf, grpc)", protocol)
        return None
    module_name, class_name = _SIGNALS[signal]
    try:
        module = importlib.import_module(f"{where[0]}.{module_name}")
    except ImportError:
        missing.add(where[1])
        return None
    return getattr(module, class_name)()
