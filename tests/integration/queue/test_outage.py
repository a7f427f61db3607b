"""Tasks and mail committed while Redis is down wait in the outbox, and go out once when it
returns; mail sent while the SMTP server is down is retried until it is delivered, once;
a worker without Redis backs off."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from app.core.config import Settings
from app.core.mail.mailer import Mailer
from app.core.queue import Queue
from app.core.services import CoreServices
from app.worker import consume
from tests.emails import GreetingEmail
from tests.integration.queue import tasks
from tests.integration.queue.conftest import (
    Workers,
    outbox_counts,
    queue_settled,
    queue_test_settings,
    running_services,
    wait_for,
)
from tests.integration.test_mail import SmtpSink
from tests.processes import free_port, start_redis_server

REDIS_SERVER = shutil.which("redis-server")
TASK_COUNT = 30
SEND_FAILED = "outbox send failed; the tasks stay pending"  # logged once per failed pass
READ_FAILED = "cannot read the task stream; retrying"


class RedisServer:
    """A throw-away redis-server that a test may kill and bring back on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        _, self.process = start_redis_server(self.workdir, port=self.port)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.kill()


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

    async def delivered_once(self, to: str, services: CoreServices) -> None:
        await wait_for(lambda: self.received(to) >= 1, seconds=20, what=f"mail to {to}")
        await queue_settled(services)  # no run is left that could deliver it again
        assert self.received(to) == 1


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


async def send_mail(services: CoreServices, to: str) -> None:
    async with services.database.unit_of_work() as uow:
        mailer = Mailer(services.mail, Queue(uow, services.outbox))
        await mailer.send(to, GreetingEmail(name="Ann", code=7))


@pytest.mark.runs_long
@pytest.mark.skipif(REDIS_SERVER is None, reason="needs the redis-server binary")
async def test_tasks_and_mail_sent_while_redis_then_smtp_is_down_are_delivered_once(
    settings: Settings,
    engine: AsyncEngine,
    redis_server: RedisServer,
    smtp_server: SmtpServer,
    workers: Workers,
) -> None:
    queue_settings = queue_test_settings(
        settings,
        redis_url=redis_server.url,
        mail_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_tls="none",
        smtp_timeout=1.0,
        queue_task_retries=8,
        queue_retry_max_delay=0.8,
        queue_reconnect_max_delay=0.4,
    )
    redis_server.start()
    # Two workers, so two relays compete for the same pending rows.
    started = [workers.start(queue_settings) for _ in range(2)]
    await asyncio.gather(*(workers.started(*worker) for worker in started))
    redis_server.kill()

    done = redis_server.workdir / "done"
    logs = [log for _, log in workers.processes]
    async with running_services(queue_settings) as services:
        async with services.database.unit_of_work() as uow:
            queue = Queue(uow, services.outbox)
            for number in range(TASK_COUNT):
                await queue.enqueue(tasks.record, path=str(done), value=str(number))
        await send_mail(services, "redis-down@example.com")
        # The commits held; the sends after them failed; every task waits in the outbox.
        assert await outbox_counts(engine, tasks.MODULE) == (TASK_COUNT, 0)
        await wait_for(
            lambda: all(SEND_FAILED in log.read_text() for log in logs), what="both relays failed"
        )
        assert await outbox_counts(engine, tasks.MODULE) == (TASK_COUNT, 0)
        assert tasks.read_lines(done) == []

        redis_server.start()
        await wait_for(
            lambda: len(tasks.read_lines(done)) >= TASK_COUNT, seconds=30, what="all delivered"
        )
        await smtp_server.delivered_once("redis-down@example.com", services)

        assert sorted(tasks.read_lines(done), key=int) == [str(n) for n in range(TASK_COUNT)]
        assert await outbox_counts(engine, tasks.MODULE) == (0, TASK_COUNT)
        redis = Redis.from_url(redis_server.url)
        try:
            assert await redis.xlen(queue_settings.queue_stream) == TASK_COUNT + 1
        finally:
            await redis.aclose()

        smtp_server.stop()
        await send_mail(services, "smtp-down@example.com")
        await wait_for(
            lambda: any("will retry" in log.read_text() for log in logs), what="a failed delivery"
        )
        smtp_server.start()
        await smtp_server.delivered_once("smtp-down@example.com", services)


def logged(lines: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [line for line in lines if line["event"] == event]


async def test_a_worker_without_redis_backs_off_up_to_a_cap(
    settings: Settings, engine: AsyncEngine
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    queue_settings = queue_test_settings(
        settings, redis_url=nowhere, queue_poll_interval=0.02, queue_reconnect_max_delay=0.16
    )
    async with running_services(queue_settings) as services:
        async with services.database.unit_of_work() as uow:  # a row the relay fails to send
            await Queue(uow, services.outbox).enqueue(tasks.record, path="unused", value="0")
        stop = asyncio.Event()
        with capture_logs() as lines:
            began = time.monotonic()
            async with asyncio.TaskGroup() as group:
                group.create_task(consume(services.settings, services.tasks, stop))
                group.create_task(services.outbox.run_relay(stop))

                def both_retried_past_the_cap() -> bool:
                    return all(
                        len(logged(lines, event)) >= 6 for event in (READ_FAILED, SEND_FAILED)
                    )

                await wait_for(both_retried_past_the_cap, what="six failed attempts of each loop")
                stop.set()
            elapsed = time.monotonic() - began
        passes = services.metrics.registry.get_sample_value
        failed_passes = passes("queue_relay_passes_total", {"result": "failed"})

    waits = [line["retry_in_s"] for line in logged(lines, READ_FAILED)]
    assert waits[:4] == [0.02, 0.04, 0.08, 0.16]
    assert set(waits[4:]) <= {0.16}
    # Each loop waited out its delays (every one but the last, cut short by the stop):
    # without backoff, they would have tried once per poll interval, some 50 times meanwhile.
    assert sum(waits[:-1]) <= elapsed
    relay_passes = len(logged(lines, SEND_FAILED))
    assert sum(min(0.02 * 2**n, 0.16) for n in range(relay_passes - 1)) <= elapsed
    assert failed_passes == relay_passes  # and so many counted on /metrics
