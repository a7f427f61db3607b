"""Fixtures for the queue tests: real commits, real Redis streams, real worker processes.

These tests need commits that other processes see, so they use `CoreServices`
on the real engine (never the savepoint-bound `app`), give every test module
a stream of its own, and delete the outbox rows and stream they made.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.db import Database
from app.core.deps import QueueDep
from app.core.errors import ConflictError
from app.core.injection import provided_by
from app.core.queue.outbox import OutboxMessage
from app.core.queue.stream import stream_backlog_metrics
from app.core.services import CoreServices
from app.main import create_app
from app.modules import task_functions
from tests.apps import serving
from tests.integration.queue import tasks
from tests.processes import start_app_process, stop

POLL_SECONDS = 0.02
WORKER_START_SECONDS = 60.0


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that give a subprocess exactly these settings."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value: Any = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    return env


def queue_test_settings(settings: Settings, **overrides: Any) -> Settings:
    """The suite's settings with a stream of its own and short queue timings."""
    values: dict[str, Any] = {
        "queue_stream": f"test-tasks:{uuid.uuid4().hex}",
        "queue_poll_interval": 0.05,
        "queue_retry_delay": 0.1,
        "queue_shutdown_timeout": 2.0,
        "queue_task_modules": tasks.MODULE,
        "log_format": "json",
        "log_level": "INFO",
    }
    return settings.model_copy(update=values | overrides)


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], seconds: float = 10.0, what: str = ""
) -> None:
    """Poll `condition` until it holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"not true after {seconds} s: {what or condition}")


async def outbox_counts(engine: AsyncEngine, task_name_prefix: str) -> tuple[int, int]:
    """(pending, sent) outbox rows of tasks whose name starts with the prefix."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(OutboxMessage.sent_at.is_(None), func.count())
            .where(OutboxMessage.task_name.startswith(task_name_prefix))
            .group_by(OutboxMessage.sent_at.is_(None))
        )
        counts = {bool(pending): int(count) for pending, count in rows.all()}
    return counts.get(True, 0), counts.get(False, 0)


async def queue_backlog(services: CoreServices) -> dict[str, float]:
    """The backlog gauges `/metrics` shows (the outbox read first, then the task stream)."""
    assert services.request_redis is not None, "a task stream needs Redis"
    families = await services.outbox.relay.backlog_metrics()
    families += await stream_backlog_metrics(services.request_redis, services.settings.queue_stream)
    return {family.name: family.samples[0].value for family in families}


async def queue_settled(services: CoreServices, seconds: float = 20.0) -> None:
    """Return once no task can run any more: twice in a row, nothing pending in the outbox
    and, in the task stream, no new entry, none waiting and none unacknowledged.

    A task writes its retry (or a follow-up) to the outbox before it is acknowledged, so what
    a run leaves behind shows in one of the two reads; the outbox is read before the stream,
    as a relay adds the entry before it marks the row sent.
    """
    assert services.request_redis is not None, "a task stream needs Redis"
    redis, stream = services.request_redis, services.settings.queue_stream
    previous: tuple[object, ...] = ()

    async def settled() -> bool:
        nonlocal previous
        backlog = await queue_backlog(services)
        last_entry = (await redis.xinfo_stream(stream))["last-generated-id"]
        busy = [backlog.get(name, 1) for name in SETTLED_GAUGES]
        current = (*busy, last_entry)
        done, previous = current == previous and not any(busy), current
        return done

    await wait_for(settled, seconds=seconds, what="nothing left for the queue to run")


SETTLED_GAUGES = ("queue_outbox_pending", "queue_stream_waiting", "queue_stream_unacknowledged")


async def clean_outbox(database: Database) -> None:
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            delete(OutboxMessage).where(OutboxMessage.task_name.startswith(tasks.MODULE))
        )


class Workers:
    """Starts `python -m app worker` processes and stops them all at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, settings: Settings, workers: int = 1) -> tuple[subprocess.Popen[bytes], Path]:
        """`python -m app worker --workers <workers>`."""
        log = self.log_dir / f"worker-{len(self.processes)}.log"
        heartbeat = log.with_suffix(".alive")  # see `test_workers_keep_their_heartbeat_fresh`
        args = ["worker", "--heartbeat-file", str(heartbeat), "--workers", str(workers)]
        process = start_app_process(args, env=settings_env(settings), log=log)
        self.processes.append((process, log))
        return process, log

    async def started(self, process: subprocess.Popen[bytes], log: Path, workers: int = 1) -> None:
        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"worker exited with {process.returncode}:\n{log.read_text()}")
            return log.exists() and log.read_text().count("worker started") == workers

        # Generous: importing the app takes seconds on a busy machine.
        await wait_for(ready, seconds=WORKER_START_SECONDS, what="worker started")

    async def run(self, settings: Settings) -> tuple[subprocess.Popen[bytes], Path]:
        process, log = self.start(settings)
        await self.started(process, log)
        return process, log

    def stop_all(self) -> None:
        """SIGTERM every worker at once, then wait for each; their logs go to stderr."""
        for process, _ in self.processes:
            if process.poll() is None:
                process.terminate()
        for process, log in self.processes:
            stop(process)
            # Shown by pytest when the test failed: what the workers did.
            sys.stderr.write(f"--- {log.name}\n{log.read_text() if log.exists() else ''}")


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    running = Workers(tmp_path)
    yield running
    running.stop_all()


@asynccontextmanager
async def running_services(settings: Settings) -> AsyncIterator[CoreServices]:
    """`CoreServices` on the real engine, as a worker or the app has them; cleaned up after."""
    services = CoreServices.build(settings, tasks=task_functions(settings), runs_tasks=True)
    try:
        yield services
    finally:
        await clean_outbox(services.database)
        if settings.redis_url:
            client = Redis.from_url(settings.redis_url)
            try:
                await client.delete(settings.queue_stream)
            except RedisError:
                pass
            finally:
                await client.aclose()
        await services.close()


def enqueue_routes() -> APIRouter:
    """Test-only routes that enqueue through `QueueDep`, as a module's route would."""
    router = APIRouter(prefix="/queue-test")

    @router.post("/record", status_code=204)
    async def enqueue_record(queue: QueueDep, path: str, value: str) -> None:
        await queue.enqueue(tasks.record, path=path, value=value)

    @router.post("/record-then-fail", status_code=204)
    async def enqueue_then_fail(queue: QueueDep, path: str, value: str) -> None:
        await queue.enqueue(tasks.record, path=path, value=value)
        raise ConflictError("failed after enqueueing")

    @router.post("/record-later", status_code=204)
    async def enqueue_record_later(queue: QueueDep, path: str, value: str) -> None:
        await queue.enqueue(tasks.record_later, path=path, value=value, seconds=1.0)
        await queue.enqueue(tasks.enqueue_follow_up, path=path, value=value)
        await queue.enqueue(tasks.fail_then_record, path=path, value=f"{value}-retried", failures=1)

    return router


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (lifespan run, real commits) with the test routes, and a client."""
    app = create_app(settings)
    app.include_router(enqueue_routes())
    async with serving(app) as client:
        yield client
        await clean_outbox(provided_by(app).get(Database))
