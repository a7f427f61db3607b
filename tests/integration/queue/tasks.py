"""Test-only tasks, loaded by workers through `QUEUE_TASK_MODULES`.

Each records what it did by appending a line to a file the test names, so a
test can watch tasks run in other processes whatever the state of Redis.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import structlog

from app.core.injection import Provide
from app.core.queue import Queue, TaskOutbox, TaskUnitOfWorkDep, task

logger = structlog.get_logger(__name__)

MODULE = __name__


def append_line(path: str | Path, line: str) -> None:
    with Path(path).open("a") as file:
        file.write(f"{line}\n")


def read_lines(path: str | Path) -> list[str]:
    file = Path(path)
    return file.read_text().splitlines() if file.exists() else []


@task()
async def record(path: str, value: str) -> None:
    logger.info("recording value", value=value)
    append_line(path, value)


@task(retries=2)
async def fail_then_record(path: str, value: str, failures: int) -> None:
    """Fails its first `failures` attempts; the attempt times go to `<path>.attempts`."""
    attempts = f"{path}.attempts"
    append_line(attempts, repr(time.monotonic()))
    if len(read_lines(attempts)) <= failures:
        raise RuntimeError("planned failure")
    append_line(path, value)


@task()
async def hang_the_first_time(path: str, value: str) -> None:
    """Each delivery writes its worker's pid to `<path>.started`; the first one then hangs."""
    started = f"{path}.started"
    first = not read_lines(started)
    append_line(started, str(os.getpid()))
    if first:
        await asyncio.sleep(60)
    append_line(path, value)


@task()
async def record_later(path: str, value: str, seconds: float) -> None:
    await asyncio.sleep(seconds)
    append_line(path, value)


@task()
async def enqueue_follow_up(
    path: str,
    value: str,
    uow: TaskUnitOfWorkDep,
    outbox: Provide[TaskOutbox],
) -> None:
    """Enqueues `record` through the task's own unit of work."""
    await Queue(uow, outbox).enqueue(record, path=path, value=f"{value}-follow-up")


async def not_a_task() -> None:
    """Not marked: enqueueing it is refused."""
