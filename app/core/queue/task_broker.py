"""The task runner of a process that runs tasks: a worker, the scheduler, or the app in
embedded mode. The only module of the queue that a process imports taskiq for."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterable
from typing import Any

import structlog
from taskiq import AsyncBroker, InMemoryBroker, TaskiqMessage, TaskiqScheduler
from taskiq.api import run_scheduler_task
from taskiq.kicker import AsyncKicker
from taskiq.schedule_sources import LabelScheduleSource

from app.core.config import Settings
from app.core.db import Database, utc_now
from app.core.injection import Provided, provided_to_tasks
from app.core.metrics import Metrics
from app.core.queue.broker import create_broker
from app.core.queue.outbox import OutboxMessage
from app.core.queue.registry import TaskFunction, task_labels, task_options
from app.core.queue.sending import TaskOutbox

logger = structlog.get_logger("app.queue")


class TaskBroker:
    """The taskiq broker of this process and, in embedded mode, the in-app runners.

    Built from `Settings` and the process's `Database` without connecting anywhere.
    """

    def __init__(
        self, settings: Settings, database: Database, metrics: Metrics | None = None
    ) -> None:
        """`metrics`: where task runs are counted."""
        self.settings = settings
        self._database = database
        metrics = metrics or Metrics()
        self.broker: AsyncBroker = create_broker(settings, self._schedule_retry, metrics)
        self._background: list[asyncio.Task[None]] = []

    @property
    def embedded(self) -> bool:
        """No Redis: tasks run in the app process, which also relays and schedules."""
        return not self.settings.redis_url

    def register(self, tasks: Iterable[TaskFunction]) -> None:
        """Make the given `@task` functions runnable (and schedulable) by this broker."""
        for fn in tasks:
            options = task_options(fn)
            labels = task_labels(options)
            if options.schedule:
                labels["schedule"] = [{"cron": options.schedule}]
            self.broker.register_task(fn, task_name=options.name, **labels)

    def serve_from(self, provided: Provided) -> None:
        """Resolve the tasks' `Provide[T]` parameters from `provided`."""
        provided_to_tasks(self.broker, provided)

    async def send(self, row: OutboxMessage) -> None:
        """Send an outbox row to this broker (embedded mode's sender)."""
        kicker: AsyncKicker[Any, Any] = AsyncKicker(row.task_name, self.broker, dict(row.labels))
        await kicker.with_task_id(row.task_id).kiq(**row.kwargs)

    async def _schedule_retry(
        self, message: TaskiqMessage, labels: dict[str, Any], delay: float
    ) -> None:
        async with self._database.session_factory() as session, session.begin():
            session.add(
                OutboxMessage(
                    task_name=message.task_name,
                    kwargs=message.kwargs,
                    labels=labels,
                    task_id=message.task_id,
                    available_at=utc_now() + dt.timedelta(seconds=delay),
                )
            )
        logger.info("task retry scheduled", attempt=labels.get("_retries"), delay_s=delay)

    async def start_in_app(self, outbox: TaskOutbox) -> None:
        """In embedded mode, run the tasks, `outbox`'s relay and the scheduler in this
        process."""
        if not self.embedded:
            return
        await self.broker.startup()
        self._background = [
            asyncio.create_task(outbox.run_relay(asyncio.Event())),
            asyncio.create_task(self.run_scheduler()),
        ]

    async def run_scheduler(self) -> None:
        """Send each task that has a `schedule` on time, until cancelled."""
        scheduler = TaskiqScheduler(self.broker, sources=[LabelScheduleSource(self.broker)])
        await run_scheduler_task(scheduler)

    async def close(self) -> None:
        """Stop the in-app runners, let running in-process tasks finish, close connections."""
        for runner in self._background:
            runner.cancel()
        for runner in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        self._background = []
        if isinstance(self.broker, InMemoryBroker):
            try:
                await asyncio.wait_for(self.broker.wait_all(), self.settings.queue_shutdown_timeout)
            except TimeoutError:
                pass
            except Exception as error:  # a task whose failure could not even be recorded
                # (its retry not stored: the database is down, say) must not break the stop.
                logger.error(
                    "in-process task failed while stopping", error_type=type(error).__name__
                )
        await self.broker.shutdown()
