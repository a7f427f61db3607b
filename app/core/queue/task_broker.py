"""The task broker of one process (`TaskBroker`) and the per-transaction `Queue`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from pydantic_core import to_jsonable_python
from taskiq import AsyncBroker, InMemoryBroker, TaskiqMessage, TaskiqScheduler
from taskiq.api import run_scheduler_task
from taskiq.kicker import AsyncKicker
from taskiq.schedule_sources import LabelScheduleSource

from app.core.config import Settings
from app.core.db import Database, UnitOfWork, utc_now
from app.core.logging import current_request_id
from app.core.metrics import Metrics
from app.core.queue.backoff import Backoff
from app.core.queue.broker import (
    HIDDEN_DURATION_LABEL,
    QUIET_LABEL,
    REQUEST_ID_LABEL,
    create_broker,
)
from app.core.queue.outbox import OutboxMessage, OutboxRelay
from app.core.queue.registry import TaskOptions, task_options

logger = structlog.get_logger("app.queue")

TaskFunction = Callable[..., Awaitable[Any]]
# One pass of a relay: how many rows it handled (a full batch: more may be due at once).
RelayPass = Callable[[], Awaitable[int]]


def task_labels(options: TaskOptions) -> dict[str, Any]:
    """The labels a task carries on every call (its own retry count, if it set one)."""
    labels: dict[str, Any] = {} if options.retries is None else {"max_retries": options.retries + 1}
    if options.quiet:
        labels[QUIET_LABEL] = "true"
    if options.hide_duration:
        labels[HIDDEN_DURATION_LABEL] = "true"
    return labels


class TaskBroker:
    """The broker of this process, the outbox relay, and (embedded mode) the in-app runners.

    Built from `Settings` and the process's `Database` without connecting anywhere.
    """

    def __init__(
        self, settings: Settings, database: Database, metrics: Metrics | None = None
    ) -> None:
        """`metrics`: where task runs and relay passes are counted."""
        self.settings = settings
        self._database = database
        self._metrics = metrics or Metrics()
        self.broker: AsyncBroker = create_broker(settings, self._schedule_retry, self._metrics)
        self.relay = OutboxRelay(
            database.session_factory, self._send, batch_size=settings.queue_relay_batch_size
        )
        self._other_relays: list[RelayPass] = []
        self._background: list[asyncio.Task[None]] = []
        # Tracing on: the labels that carry the current trace into the tasks enqueued in it.
        self.trace_context: Callable[[], dict[str, str]] | None = None

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

    async def _send(self, row: OutboxMessage) -> None:
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

    def also_relay(self, relay_pass: RelayPass) -> None:
        """Run `relay_pass` too on every pass of the relay (the event deliveries' relay)."""
        self._other_relays.append(relay_pass)

    async def run_relay(self, stop: asyncio.Event) -> None:
        """Send pending outbox rows (and run the other relays) until `stop` is set, full
        batches back to back; after a failed pass wait longer each time, up to
        `QUEUE_RECONNECT_MAX_DELAY`."""
        backoff = Backoff(
            self.settings.queue_poll_interval, self.settings.queue_reconnect_max_delay
        )
        batch_size = self.settings.queue_relay_batch_size
        while not stop.is_set():
            relay = self.relay
            try:
                sent = await relay.relay()
            except Exception:
                logger.exception("outbox relay pass failed")
                sent = -1
            others = await self._run_other_relays()
            failed = sent < 0 or relay.send_failed or others < 0
            self._metrics.relay_pass(failed=failed)
            if failed:
                await wait_for_event(stop, backoff.next_delay())
                continue
            backoff.reset()
            if max(sent, others) < batch_size:
                await wait_for_event(stop, self.settings.queue_poll_interval)

    async def _run_other_relays(self) -> int:
        """One pass of each other relay: the most any of them handled, or -1 if one failed."""
        most = 0
        for relay_pass in self._other_relays:
            try:
                most = max(most, await relay_pass())
            except Exception:
                logger.exception("relay pass failed", relay=getattr(relay_pass, "__qualname__", ""))
                return -1
        return most

    async def start_in_app(self) -> None:
        """In embedded mode, run the tasks, the relay and the scheduler in this process."""
        if not self.embedded:
            return
        await self.broker.startup()
        self._background = [
            asyncio.create_task(self.run_relay(asyncio.Event())),
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


async def wait_for_event(event: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `event` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


class Queue:
    """Enqueues tasks inside one unit of work's transaction (the transactional outbox).

    Rows are sent right after the commit; a rolled-back transaction sends
    nothing, and a relay sends whatever the after-commit send could not.
    """

    def __init__(self, uow: UnitOfWork, broker: TaskBroker) -> None:
        self._uow = uow
        self._broker = broker
        self._unsent: list[int] = []

    async def enqueue(self, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> None:
        """Write a call of the `@task` function `fn` with JSON-able `kwargs` to the outbox."""
        options = task_options(fn)
        labels = task_labels(options)
        request_id = current_request_id()
        if request_id is not None:
            labels[REQUEST_ID_LABEL] = request_id
        if self._broker.trace_context is not None:
            labels |= self._broker.trace_context()
        row = OutboxMessage(
            task_name=options.name, kwargs=to_jsonable_python(kwargs), labels=labels
        )
        self._uow.session.add(row)
        await self._uow.session.flush()
        if not self._unsent:
            self._uow.after_commit(self._send_committed)
        self._unsent.append(row.id)

    async def _send_committed(self) -> None:
        ids, self._unsent = self._unsent, []
        await self._broker.relay.relay(ids)
