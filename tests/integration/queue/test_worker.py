"""Real `python -m app worker` processes run what the app enqueued.

One pair of workers serves the whole module (starting one takes seconds): the two
processes of `worker --workers 2`. They count a task as abandoned after 0.3 s, so that
the redelivery test, run last, needs no long wait.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.queue import Queue
from app.core.queue.tasks import heartbeat
from app.core.services import CoreServices
from tests.integration.queue import tasks
from tests.integration.queue.conftest import (
    WORKER_START_SECONDS,
    Workers,
    app_client,
    outbox_counts,
    queue_test_settings,
    running_services,
    wait_for,
)

pytestmark = pytest.mark.one_worker  # the tests share one pair of workers


def log_events(logs: list[Path]) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for log in logs
        for line in log.read_text().splitlines()
        if line.startswith("{")
    ]


@pytest.fixture(scope="module")
def queue_settings(settings: Settings) -> Settings:
    return queue_test_settings(
        settings, queue_idle_timeout=0.3, queue_unacknowledged_lock_timeout=0.3
    )


@pytest.fixture(scope="module")
async def services(queue_settings: Settings, engine: AsyncEngine) -> AsyncIterator[CoreServices]:
    async with running_services(queue_settings) as services:
        yield services


@pytest.fixture(scope="module")
async def pair(
    queue_settings: Settings, services: CoreServices, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Workers]:
    workers = Workers(tmp_path_factory.mktemp("workers"))
    await workers.started(*workers.start(queue_settings, workers=2), workers=2)
    yield workers
    workers.stop_all()


@pytest.fixture
def worker_logs(pair: Workers) -> list[Path]:
    return [log for _, log in pair.processes]


@pytest.fixture(scope="module")
async def queue_client(
    queue_settings: Settings, services: CoreServices
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(queue_settings) as client:
        yield client


async def stream_length(settings: Settings) -> int:
    redis = Redis.from_url(settings.redis_url)
    try:
        return int(await redis.xlen(settings.queue_stream))
    finally:
        await redis.aclose()


async def test_worker_runs_a_task_enqueued_by_a_request_and_logs_its_request_id(
    queue_client: httpx.AsyncClient, worker_logs: list[Path], engine: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "done"
    response = await queue_client.post(
        "/queue-test/record",
        params={"path": str(path), "value": "hello"},
        headers={"X-Request-ID": "queue-request-1"},
    )
    assert response.status_code == 204

    await wait_for(lambda: tasks.read_lines(path) == ["hello"], what="task ran")

    # The API marks the row sent once Redis took the task: a fast worker may run it first.
    async def marked_sent() -> bool:
        return await outbox_counts(engine, tasks.record.__module__) == (0, 1)

    await wait_for(marked_sent, what="the outbox row marked sent")
    events = log_events(worker_logs)
    recorded = next(event for event in events if event["event"] == "recording value")
    assert recorded["request_id"] == "queue-request-1"
    assert recorded["task"] == f"{tasks.MODULE}:record"

    def finished_with_request_id() -> bool:
        return any(
            event["event"] == "task finished" and event.get("request_id") == "queue-request-1"
            for event in log_events(worker_logs)
        )

    await wait_for(finished_with_request_id, what="'task finished' logged with the request id")


async def test_workers_keep_their_heartbeat_fresh(worker_logs: list[Path]) -> None:
    for log in worker_logs:
        heartbeat = str(log.with_suffix(".alive"))
        probe = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.core.heartbeat", heartbeat
        )
        assert await probe.wait() == 0


async def test_a_request_that_fails_after_enqueueing_sends_nothing(
    queue_client: httpx.AsyncClient, queue_settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    sent_before = await stream_length(queue_settings)
    pending_before = await outbox_counts(engine, tasks.MODULE)

    response = await queue_client.post(
        "/queue-test/record-then-fail", params={"path": str(tmp_path / "x"), "value": "no"}
    )

    assert response.status_code == 409
    assert await outbox_counts(engine, tasks.MODULE) == pending_before
    assert await stream_length(queue_settings) == sent_before


async def test_a_failing_task_is_retried_with_exponential_backoff(
    services: CoreServices, worker_logs: list[Path], tmp_path: Path
) -> None:
    recovers, gives_up = tmp_path / "recovers", tmp_path / "gives-up"
    async with services.database.unit_of_work() as uow:
        queue = Queue(uow, services.outbox)
        # retries=2: three attempts in all.
        await queue.enqueue(tasks.fail_then_record, path=str(recovers), value="ok", failures=2)
        await queue.enqueue(tasks.fail_then_record, path=str(gives_up), value="never", failures=9)

    await wait_for(lambda: tasks.read_lines(recovers) == ["ok"], what="recovered")
    await wait_for(lambda: len(tasks.read_lines(f"{gives_up}.attempts")) == 3, what="gave up")
    attempts = [float(line) for line in tasks.read_lines(f"{recovers}.attempts")]
    assert len(attempts) == 3
    first_wait, second_wait = attempts[1] - attempts[0], attempts[2] - attempts[1]
    delay = services.settings.queue_retry_delay
    assert first_wait >= delay  # delay * 2^0 (+ jitter)
    assert second_wait >= 2 * delay  # delay * 2^1 (+ jitter)

    def gave_up() -> bool:
        return any(
            event["event"] == "task failed" and event["task"].endswith(":fail_then_record")
            for event in log_events(worker_logs)
        )

    await wait_for(gave_up, what="final failure logged")
    assert tasks.read_lines(gives_up) == []


async def test_a_task_left_by_a_killed_worker_is_completed_by_the_other(
    services: CoreServices, pair: Workers, tmp_path: Path
) -> None:
    done, started = tmp_path / "done", f"{tmp_path / 'done'}.started"
    async with services.database.unit_of_work() as uow:
        await Queue(uow, services.outbox).enqueue(
            tasks.hang_the_first_time, path=str(done), value="finished"
        )
    await wait_for(lambda: len(tasks.read_lines(started)) == 1, what="task began")
    first_pid = int(tasks.read_lines(started)[0])
    os.kill(first_pid, signal.SIGKILL)  # no chance to finish or to acknowledge

    await asyncio.sleep(services.settings.queue_idle_timeout)  # now it counts as abandoned
    # A worker reclaims abandoned tasks after it reads one: the scheduler's heartbeat.
    async with services.database.unit_of_work() as uow:
        await Queue(uow, services.outbox).enqueue(heartbeat)

    await wait_for(lambda: tasks.read_lines(done) == ["finished"], what="redelivered")
    second_pid = int(tasks.read_lines(started)[1])
    assert second_pid != first_pid
    [(supervisor, log)] = pair.processes
    assert supervisor.poll() is None  # it outlived its worker, and replaced it

    def replaced() -> bool:
        return log.read_text().count("worker started") == 3

    await wait_for(replaced, seconds=WORKER_START_SECONDS, what="a new worker process")
