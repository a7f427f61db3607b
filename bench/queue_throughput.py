"""Task throughput of one queue worker on Redis: `uv run python -m bench.queue_throughput`.

Fills a fresh stream with N calls of a no-op task (the queue's `heartbeat`), starts one
real `python -m app worker`, and times how long it takes to run and acknowledge them all,
from its first read to its last acknowledgement (the worker's start-up is not counted).
Needs `DATABASE_URL` (migrated) and `REDIS_URL`, from the environment or `.env`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import click
from redis.asyncio import Redis
from taskiq.kicker import AsyncKicker

from app.core.config import Settings
from app.core.db import Database
from app.core.queue import task_options
from app.core.queue.stream import CONSUMER_GROUP
from app.core.queue.task_broker import TaskBroker
from app.core.queue.tasks import heartbeat
from bench.servers import PROJECT_ROOT

GIVE_UP_SECONDS = 300


async def fill_stream(settings: Settings, count: int) -> None:
    """Send `count` no-op task calls straight to the stream: only the worker is timed."""
    database = Database.from_settings(settings)
    queue = TaskBroker(settings, database)
    name = task_options(heartbeat).name
    sending = asyncio.Semaphore(64)

    async def send_one() -> None:
        async with sending:
            await AsyncKicker(name, queue.broker, {}).kiq()

    try:
        await asyncio.gather(*(send_one() for _ in range(count)))
    finally:
        await queue.broker.shutdown()
        await database.dispose()


async def group_progress(redis: Redis, stream: str) -> tuple[int, int]:
    """(entries the workers' group has read, entries still un-acknowledged)."""
    try:
        groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    except Exception:  # the worker has not created its group yet
        return 0, 0
    for group in groups:
        if group["name"] in (CONSUMER_GROUP, CONSUMER_GROUP.encode()):
            return int(group.get("entries-read") or 0), int(group["pending"])
    return 0, 0


async def time_worker(settings: Settings, count: int, env: dict[str, str]) -> float:
    """Seconds the worker took from its first read to the last acknowledgement."""
    redis = Redis.from_url(settings.redis_url)
    worker = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [sys.executable, "-m", "app", "worker"], cwd=PROJECT_ROOT, env=env
    )
    try:
        first_read = None
        deadline = time.perf_counter() + GIVE_UP_SECONDS
        while True:
            read, pending = await group_progress(redis, settings.queue_stream)
            now = time.perf_counter()
            if first_read is None and read > 0:
                first_read = now
            if read >= count and pending == 0 and first_read is not None:
                return now - first_read
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode}")
            if now > deadline:
                raise TimeoutError(f"{read} of {count} read, {pending} un-acknowledged")
            await asyncio.sleep(0.005)
    finally:
        worker.terminate()
        worker.wait()
        await redis.delete(settings.queue_stream)
        await redis.aclose()


@click.command()
@click.option(
    "--tasks",
    default=5000,
    show_default=True,
    type=click.IntRange(min=1),
    help="No-op tasks to run",
)
@click.option("--log-level", default="WARNING", show_default=True, help="The worker's LOG_LEVEL")
def main(tasks: int, log_level: str) -> None:
    """Print the tasks per second one worker runs."""
    stream = f"bench-tasks:{uuid.uuid4().hex}"
    settings = Settings(queue_stream=stream)
    if not settings.redis_url:
        raise click.BadParameter("set REDIS_URL (and a migrated DATABASE_URL)")
    env = {**os.environ, "QUEUE_STREAM": stream, "LOG_LEVEL": log_level}
    asyncio.run(fill_stream(settings, tasks))
    seconds = asyncio.run(time_worker(settings, tasks, env))
    click.echo(
        f"{tasks} no-op tasks in {seconds:.2f} s: {tasks / seconds:,.0f} tasks/s "
        f"(one worker, LOG_LEVEL={log_level}, "
        f"QUEUE_MAX_CONCURRENT_TASKS={settings.queue_max_concurrent_tasks})"
    )


if __name__ == "__main__":
    main()
