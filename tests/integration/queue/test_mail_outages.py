"""A mail accepted by the app reaches the SMTP server exactly once, through a real worker,
whether Redis or the SMTP server was down when it was sent.

One test, so that the worker (seconds to start) is started once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from tests.apps import client_of
from tests.integration.queue.conftest import Workers, queue_test_settings, wait_for
from tests.integration.queue.test_outage import RedisServer
from tests.integration.real_app import running_app
from tests.integration.test_mail import SmtpSink, mail_routes
from tests.processes import free_port


class SmtpServer:
    """An SMTP sink that a test stops and starts again on the same port."""

    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self, to: str) -> int:
        return sum(message["To"] == to for message in self.sink.messages)


def outage_settings(settings: Settings, redis_url: str, smtp_port: int) -> Settings:
    return queue_test_settings(
        settings,
        queue_task_modules="",
        redis_url=redis_url,
        redis_request_timeout=0.2,
        queue_reconnect_max_delay=0.4,
        mail_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_tls="none",
        smtp_timeout=1.0,
        queue_task_retries=8,
        queue_retry_delay=0.1,
        queue_retry_max_delay=0.8,
    )


async def greet(client: httpx.AsyncClient, to: str) -> None:
    response = await client.post("/mail-test/greet", params={"to": to})
    assert response.status_code == 202


async def delivered_once(smtp: SmtpServer, to: str) -> None:
    await wait_for(lambda: smtp.received(to) >= 1, seconds=20, what=f"mail to {to}")
    await asyncio.sleep(0.3)  # room for a duplicate to show up
    assert smtp.received(to) == 1


async def test_mail_is_delivered_once_after_a_redis_outage_and_an_smtp_outage(
    settings: Settings, engine: AsyncEngine, workers: Workers, tmp_path: Path
) -> None:
    redis, smtp = RedisServer(tmp_path), SmtpServer()
    redis.start()
    smtp.start()
    try:
        mail_settings = outage_settings(settings, redis.url, smtp.port)
        await workers.run(mail_settings)
        async with (
            running_app(mail_settings, engine, mail_routes()) as app,
            client_of(app) as client,
        ):
            redis.kill()
            await greet(client, "redis-down@example.com")  # it waits in the outbox
            login = await client.post(
                "/api/v1/auth/login", data={"username": "ann", "password": "whatever1"}
            )
            assert login.status_code == 503  # credential limits fail closed
            redis.start()
            await delivered_once(smtp, "redis-down@example.com")

            smtp.stop()
            await greet(client, "smtp-down@example.com")
            logs = [log for _, log in workers.processes]
            await wait_for(
                lambda: any("will retry" in log.read_text() for log in logs),
                seconds=10,
                what="a failed delivery",
            )
            smtp.start()
            await delivered_once(smtp, "smtp-down@example.com")
    finally:
        smtp.stop()
        redis.kill()
