"""Tracing (OpenTelemetry) and error reporting (Sentry), each off unless configured.

`OTEL_EXPORTER_OTLP_ENDPOINT` set: spans of the FastAPI app, the SQLAlchemy engine,
Redis, httpx and taskiq go to that OTLP/HTTP collector; a task carries the trace of the
request that enqueued it (a `traceparent` label written with its outbox row), and every
log line carries `trace_id`. `SENTRY_DSN` set: unhandled errors go to Sentry (FastAPI and
SQLAlchemy integrations), through the log's redaction first.

Neither package is imported while its setting is empty: a process that uses neither
pays nothing. Tests register a `SpanProcessor` (an in-memory exporter) or a Sentry
`Transport` in the process's `Provided`, and this module uses them instead of the network.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from app.core import logging as app_logging
from app.core.config import Settings
from app.core.injection import Provided

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine
    from taskiq import TaskiqMiddleware

    from app.core.queue.sending import TaskOutbox
    from app.core.queue.task_broker import TaskBroker

DEFAULT_SERVICE_NAME = "fastapi-modulith"
# How long one export may take, its retries included: the last flush at shutdown waits at
# most this for a collector that does not answer, well inside the termination grace
# period (the exporter's default, 10 s, took SIGTERM to 13 s).
EXPORT_TIMEOUT_SECONDS = 2.0
TRACEPARENT = "traceparent"  # the W3C trace context header, as a task label


class Telemetry:
    """The tracer provider and the Sentry client of one process, when configured.

    One per process (`Telemetry.of` registers it in the process's `Provided`): the API
    builds it with the app, since the app must be instrumented before it starts; `running`
    then instruments what the process built (engine, broker) and closes it at the end.
    """

    def __init__(self, settings: Settings, provided: Provided) -> None:
        self.tracer_provider = (
            _tracer_provider(settings, provided) if settings.otel_exporter_otlp_endpoint else None
        )
        self._sentry = bool(settings.sentry_dsn.get_secret_value())
        if self._sentry:
            _start_sentry(settings, provided)
        self._instrumented: list[Any] = []

    @classmethod
    def of(cls, settings: Settings, provided: Provided) -> Telemetry:
        """The process's telemetry, started on first use."""
        telemetry = provided.find(Telemetry)
        if telemetry is None:
            telemetry = cls(settings, provided)
            provided.add(Telemetry, telemetry)
        return telemetry

    def instrument_app(self, app: FastAPI) -> None:
        if self.tracer_provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415

        FastAPIInstrumentor.instrument_app(app, tracer_provider=self.tracer_provider)

    def instrument_process(
        self, engine: AsyncEngine | None, outbox: TaskOutbox, tasks: TaskBroker | None
    ) -> None:
        """Trace the engine's statements, Redis and httpx calls, and the tasks: those
        `outbox` sends carry the trace they were enqueued in, and `tasks` (where they run)
        continue it."""
        if self.tracer_provider is None:
            return
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415
        from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # noqa: PLC0415
        from opentelemetry.propagate import inject  # noqa: PLC0415

        provider = self.tracer_provider
        engines: dict[str, Any] = {"engine": engine.sync_engine} if engine else {}
        for instrumentor, options in (
            (SQLAlchemyInstrumentor(), engines),
            (RedisInstrumentor(), {}),
            (HTTPXClientInstrumentor(), {}),
        ):
            if not instrumentor.is_instrumented_by_opentelemetry:
                # The SQLAlchemy instrumentation declares support up to 2.0 but works on 2.1.
                instrumentor.instrument(tracer_provider=provider, skip_dep_check=True, **options)
                self._instrumented.append(instrumentor)

        def trace_context() -> dict[str, str]:
            carrier: dict[str, str] = {}
            inject(carrier)
            return carrier

        outbox.trace_context = trace_context
        if tasks is None:
            return
        # First, so that the task's span is current when the other middlewares log.
        middleware = _task_tracing_middleware(provider)
        middleware.set_broker(tasks.broker)
        tasks.broker.middlewares.insert(0, middleware)

    def close(self) -> None:
        """Send what is buffered, and leave the libraries as they were."""
        for instrumentor in self._instrumented:
            instrumentor.uninstrument()
        self._instrumented = []
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
            app_logging.trace_ids = None
        if self._sentry:
            import sentry_sdk  # noqa: PLC0415

            sentry_sdk.get_client().close()


def _tracer_provider(settings: Settings, provided: Provided) -> TracerProvider:
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    service_name = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    processor = provided.find(SpanProcessor)
    if processor is None:
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        exporter = OTLPSpanExporter(endpoint=endpoint, timeout=EXPORT_TIMEOUT_SECONDS)
        processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)

    def current_trace_id() -> str | None:
        context = trace.get_current_span().get_span_context()
        return trace.format_trace_id(context.trace_id) if context.is_valid else None

    app_logging.trace_ids = current_trace_id
    return provider


def _task_tracing_middleware(provider: TracerProvider) -> TaskiqMiddleware:
    """taskiq's OpenTelemetry middleware, except that a task enqueued inside a trace keeps
    the `traceparent` its outbox row carries: the relay that sends it may run much later,
    in a context of its own, and must not start the task a trace of its own."""
    from taskiq import TaskiqMessage  # noqa: PLC0415
    from taskiq.middlewares.opentelemetry_middleware import (  # noqa: PLC0415
        OpenTelemetryMiddleware,
    )

    class OutboxTracingMiddleware(OpenTelemetryMiddleware):
        def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
            if TRACEPARENT in message.labels:
                return message
            return super().pre_send(message)

    return OutboxTracingMiddleware(tracer_provider=provider)


def _start_sentry(settings: Settings, provided: Provided) -> None:
    import sentry_sdk  # noqa: PLC0415
    from sentry_sdk.integrations.fastapi import FastApiIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration  # noqa: PLC0415
    from sentry_sdk.transport import Transport  # noqa: PLC0415

    def redacted(event: Any, _: Any) -> Any:
        return app_logging.redact(event)

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        integrations=[FastApiIntegration(), SqlalchemyIntegration()],
        before_send=redacted,
        transport=provided.find(Transport),  # type: ignore[type-abstract]  # the test's
    )
