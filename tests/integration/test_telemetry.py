"""Tracing and error reporting, turned on by their settings, seen through in-memory
exporters that the test hands to the app (nothing leaves the process)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id
from pydantic import SecretStr
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.injection import Provided
from app.core.telemetry import EXPORT_TIMEOUT_SECONDS, Telemetry
from tests.apps import client_of
from tests.integration.queue.conftest import wait_for
from tests.integration.real_app import running_app
from tests.integration.test_mail import mail_routes
from tests.processes import free_port

UNREACHABLE_COLLECTOR = "http://127.0.0.1:9"  # never dialled: the test's processor replaces it
SEND_EMAIL_TASK = "app.core.mail.tasks:send_email"
SEND_EMAIL_SPAN = f"execute/{SEND_EMAIL_TASK}"


class CapturedEvents(Transport):
    """A Sentry transport that keeps the events instead of sending them."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.events.extend(
            item.payload.json or {} for item in envelope.items if item.type == "event"
        )


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced_app(
    settings: Settings, engine: AsyncEngine, exporter: InMemorySpanExporter
) -> AsyncIterator[FastAPI]:
    provided = Provided()
    provided.add(SpanProcessor, SimpleSpanProcessor(exporter))
    traced = settings.model_copy(
        update={
            "redis_url": "",
            "mail_backend": "console",
            "otel_exporter_otlp_endpoint": UNREACHABLE_COLLECTOR,
        }
    )
    async with running_app(traced, engine, mail_routes(), provided=provided) as app:
        yield app


def finished(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


async def test_a_request_its_queries_and_the_task_it_enqueues_share_one_trace(
    traced_app: FastAPI, exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with client_of(traced_app) as client:
        response = await client.post("/mail-test/greet", params={"to": "ann@example.com"})
        assert response.status_code == 202
        await wait_for(lambda: bool(finished(exporter, SEND_EMAIL_SPAN)), 5, "the task's span")

    spans = exporter.get_finished_spans()
    [server] = [span for span in spans if span.kind == SpanKind.SERVER]
    trace_id = server.context.trace_id
    queries = [span for span in spans if (span.attributes or {}).get("db.system") == "postgresql"]
    assert any(span.context.trace_id == trace_id for span in queries)
    [task] = finished(exporter, SEND_EMAIL_SPAN)
    assert task.context.trace_id == trace_id
    assert task.kind == SpanKind.CONSUMER

    # The request's line, and the task's (other tasks of the app may log meanwhile).
    lines = [record.msg for record in caplog.records if isinstance(record.msg, dict)]
    queued = [line for line in lines if line["event"] == "email queued"]
    sending = [line for line in lines if line.get("task") == SEND_EMAIL_TASK]
    assert {"task started", "email"} <= {line["event"] for line in sending}
    for line in queued + sending:
        assert line["trace_id"] == format_trace_id(trace_id), line["event"]


async def test_an_unhandled_error_reaches_sentry_with_its_secrets_redacted(
    settings: Settings, engine: AsyncEngine
) -> None:
    transport = CapturedEvents()
    provided = Provided()
    provided.add(Transport, transport)  # type: ignore[type-abstract]  # found by base class
    reported = settings.model_copy(
        update={"redis_url": "", "sentry_dsn": SecretStr("https://key@sentry.invalid/1")}
    )
    router = APIRouter()

    @router.get("/test/leak")
    async def leak() -> None:
        raise RuntimeError("upstream said no to Bearer abc.def.ghi")

    async with (
        running_app(reported, engine, router, provided=provided) as app,
        client_of(app) as client,
    ):
        response = await client.get("/test/leak")
        assert response.status_code == 500

    [event] = transport.events
    [error] = event["exception"]["values"]
    assert error["type"] == "RuntimeError"
    assert error["value"] == "upstream said no to Bearer [REDACTED]"
    assert "abc.def.ghi" not in str(event)


def test_the_last_flush_to_a_collector_that_does_not_answer_ends_within_the_grace_period() -> None:
    """At shutdown the spans still buffered are exported once more; a collector that is
    down must not hold SIGTERM past the termination grace period (it held it 13 s)."""
    settings = Settings(otel_exporter_otlp_endpoint=f"http://127.0.0.1:{free_port()}")
    telemetry = Telemetry(settings, Provided())
    assert telemetry.tracer_provider is not None
    with telemetry.tracer_provider.get_tracer(__name__).start_as_current_span("buffered"):
        pass
    started = time.monotonic()
    telemetry.close()
    assert time.monotonic() - started < EXPORT_TIMEOUT_SECONDS + 3
