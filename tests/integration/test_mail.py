"""Mail leaves through the queue to a real SMTP server; SMTP down is retried, then logged.

Tasks run in the app process (embedded mode): the `send_email` task and its
registration are the same in a worker process, whose runs the queue tests cover.
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from functools import partial
from typing import Annotated, Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import APIRouter, Body, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.deps import MailDep, QueueDep
from app.core.injection import provided_by
from app.core.mail import MailService
from app.core.mail.tasks import send_email
from app.core.queue import task_options
from tests.apps import client_of
from tests.emails import GreetingEmail
from tests.integration.queue.conftest import wait_for
from tests.integration.real_app import running_app
from tests.integration.test_metrics import scrape, value
from tests.processes import free_port


class SmtpSink:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[SmtpSink, int]]:
    """A real SMTP server on a free port (aiosmtpd's `port=0` fails its own self-check)."""
    sink, port = SmtpSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


def mail_routes() -> APIRouter:
    router = APIRouter(prefix="/mail-test")

    @router.post("/greet", status_code=202)
    async def greet(mailer: MailDep, to: str) -> None:
        await mailer.send(to, GreetingEmail(name="Ann <Admin>", code=7))

    @router.post("/deliver", status_code=202)
    async def deliver(queue: QueueDep, email: Annotated[dict[str, Any], Body()]) -> None:
        """Run the delivery of an email rendered before, as the broker does again when a
        worker died (or lost Redis) after sending it but before acknowledging the task."""
        await queue.enqueue(send_email, email=email)

    return router


def embedded_mail_settings(settings: Settings, smtp_port: int) -> Settings:
    """Embedded mode (tasks run in the app process), SMTP delivery, short backoff."""
    return settings.model_copy(
        update={
            "redis_url": "",
            "mail_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_tls": "none",
            "smtp_timeout": 1.0,
            "queue_task_retries": 2,
            "queue_retry_delay": 0.01,
            "queue_poll_interval": 0.02,
        }
    )


@pytest.fixture
async def app_with_smtp(
    settings: Settings, engine: AsyncEngine, smtp_sink: tuple[SmtpSink, int]
) -> AsyncIterator[FastAPI]:
    _, port = smtp_sink
    async with running_app(embedded_mail_settings(settings, port), engine, mail_routes()) as app:
        yield app


@pytest.fixture
async def app_without_smtp(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """SMTP on a port nobody listens on."""
    unreachable = embedded_mail_settings(settings, smtp_port=free_port())
    async with running_app(unreachable, engine, mail_routes()) as app:
        yield app


async def test_email_queued_by_the_app_reaches_the_smtp_server_with_both_parts(
    app_with_smtp: FastAPI, smtp_sink: tuple[SmtpSink, int], caplog: pytest.LogCaptureFixture
) -> None:
    sink, _ = smtp_sink
    caplog.set_level(logging.INFO)

    async with client_of(app_with_smtp) as client:
        response = await client.post("/mail-test/greet", params={"to": "Ann <ann@example.com>"})
        assert response.status_code == 202
        await wait_for(lambda: bool(sink.messages), seconds=5, what="the email at the SMTP server")
        await wait_for(lambda: delivered(caplog), seconds=5, what="the delivery logged")

    [message] = sink.messages
    assert message["To"] == "Ann <ann@example.com>"
    assert message["From"] == provided_by(app_with_smtp).get(Settings).mail_from
    assert message["Subject"] == "Hello Ann <Admin>, your code"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Hello Ann <Admin>," in text.get_content()
    assert "Hello Ann &lt;Admin&gt;," in html.get_content()
    logged = {line["event"]: line for line in mail_log(caplog)}
    assert logged["email queued"]["to"] == logged["email delivered"]["to"] == "a***@example.com"
    app_lines = [str(record.msg) for record in caplog.records if record.name.startswith("app")]
    assert not [line for line in app_lines if "ann@example.com" in line]


def mail_log(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        record.msg
        for record in caplog.records
        if isinstance(record.msg, dict) and "email" in str(record.msg.get("event"))
    ]


def delivered(caplog: pytest.LogCaptureFixture) -> bool:
    return any(line["event"] == "email delivered" for line in mail_log(caplog))


async def test_unreachable_smtp_is_retried_then_logged_and_the_request_is_unaffected(
    app_without_smtp: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    async with client_of(app_without_smtp) as client:
        response = await client.post("/mail-test/greet", params={"to": "ann@example.com"})
        assert response.status_code == 202

        def gave_up() -> bool:
            return any("giving up" in line["event"] for line in mail_log(caplog))

        await wait_for(gave_up, seconds=5, what="the final delivery failure logged")
        assert (await client.get("/health/live")).status_code == 200

    logged = mail_log(caplog)
    retried = [line for line in logged if line["event"] == "email not delivered; will retry"]
    assert [line["attempt"] for line in retried] == [1, 2]
    [final] = [line for line in logged if "giving up" in line["event"]]
    assert final["attempts"] == 3
    assert final["to"] == "a***@example.com"
    assert "ConnectError" in final["error"]
    assert final["request_id"] == response.headers["x-request-id"]


DELIVERY_TASK = task_options(send_email).name


async def delivery_runs_finished(client: httpx.AsyncClient, at_least: int) -> bool:
    """Whether `at_least` runs of the delivery task have finished (counted on `/metrics`)."""
    samples = await scrape(client)
    return value(samples, "tasks_total", task=DELIVERY_TASK, result="success") >= at_least


async def test_an_email_whose_delivery_runs_again_reaches_the_smtp_server_once(
    app_with_smtp: FastAPI, smtp_sink: tuple[SmtpSink, int]
) -> None:
    sink, _ = smtp_sink
    mail = provided_by(app_with_smtp).get(MailService)
    message = await mail.render("ann@example.com", GreetingEmail(name="Ann", code=7))
    async with client_of(app_with_smtp) as client:
        for run in (1, 2):
            response = await client.post("/mail-test/deliver", json=message.model_dump(mode="json"))
            assert response.status_code == 202
            # Finished, not merely at the server: a run before the record would send again.
            await wait_for(
                partial(delivery_runs_finished, client, run),
                seconds=5,
                what=f"delivery run {run} finished",
            )
    assert len(sink.messages) == 1
