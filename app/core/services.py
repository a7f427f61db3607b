"""The shared core services of one process, built from `Settings`.

Only the composition roots (`app/main.py`, `app/worker.py`, the CLI, through
`app/process.py`) and `app/core/deps.py` see this whole set. Each service gets the few
collaborators it uses in its constructor; listeners, tasks and module start-ups ask
for single services by type through `provided` (see `app.core.injection`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from app.core.cache import Cache, create_cache
from app.core.config import Settings
from app.core.cursors import CursorCodec
from app.core.db import Database
from app.core.event_deliveries import EventDeliveries
from app.core.events import EventBus, Listener
from app.core.health import Check, Readiness
from app.core.injection import Provided
from app.core.mail.service import MailService
from app.core.metrics import Metrics
from app.core.migrations import SchemaReadiness
from app.core.queue.outbox import SendMessage
from app.core.queue.registry import TaskFunction
from app.core.queue.sending import TaskOutbox
from app.core.queue.stream import StreamSender, stream_backlog_metrics
from app.core.rate_limit import RateLimiter
from app.core.redis import create_redis, create_request_redis

if TYPE_CHECKING:
    from app.core.queue.task_broker import TaskBroker


@dataclass
class CoreServices:
    """One instance of each core service; nothing here connects at import time."""

    settings: Settings
    database: Database
    redis: Redis | None
    # Short timeouts: what a request waits for Redis in the cache and the rate limiter.
    request_redis: Redis | None
    cache: Cache
    rate_limiter: RateLimiter
    outbox: TaskOutbox
    # Built where tasks run: the workers, the scheduler, and every process in embedded mode.
    task_broker: TaskBroker | None
    mail: MailService
    events: EventBus
    provided: Provided
    metrics: Metrics

    @property
    def tasks(self) -> TaskBroker:
        """The task runner of a process that runs tasks."""
        if self.task_broker is None:
            raise RuntimeError("this process runs no tasks (build it with runs_tasks=True)")
        return self.task_broker

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        database: Database | None = None,
        listeners: Iterable[Listener] = (),
        tasks: Iterable[TaskFunction] = (),
        provided: Provided | None = None,
        runs_tasks: bool = False,
    ) -> CoreServices:
        """Build the services; they connect lazily, on first use.

        `database`: the caller's (tests bind one to a transaction); by default one from
        the settings, disposed by `close`. `listeners` and `tasks`: the modules', collected
        by the composition root. `provided`: where to register the services for injection
        (it may already hold the caller's own objects, such as the app's metrics).
        `runs_tasks`: build the task runner (a worker, the scheduler); in embedded mode
        every process has one. Without it, a process with Redis only sends tasks, and
        never imports taskiq.
        """
        provided = provided or Provided()
        database = database or Database.from_settings(settings)
        metrics = provided.find(Metrics) or Metrics.from_settings(settings)
        if database.engine is not None:
            metrics.watch_pool(database.engine, settings.database_pool_size)
        request_redis = create_request_redis(settings)
        cache = create_cache(settings, request_redis, database, metrics)
        rate_limiter = RateLimiter(settings, request_redis, metrics)
        redis = create_redis(settings)
        task_broker = None
        if runs_tasks or redis is None:
            from app.core.queue.task_broker import TaskBroker  # noqa: PLC0415 - see `runs_tasks`

            task_broker = TaskBroker(settings, database, metrics)
            task_broker.register(tasks)
            task_broker.serve_from(provided)
        outbox = TaskOutbox(settings, database, _sender(settings, redis, task_broker), metrics)
        metrics.scraped.add("outbox", outbox.relay.backlog_metrics)
        deliveries = EventDeliveries(database.session_factory, settings)
        metrics.scraped.add("event deliveries", deliveries.backlog_metrics)
        outbox.also_relay(deliveries.relay)
        if request_redis is not None:
            stream = settings.queue_stream
            metrics.scraped.add(
                "task stream", partial(stream_backlog_metrics, request_redis, stream)
            )
        mail = MailService(settings)
        checks = {"database": Check(SchemaReadiness(database))}
        if redis is not None:  # down, the cache is bypassed and limits fail open or closed
            checks["redis"] = Check(redis.ping, required=False)
        for kind, instance in (
            (Settings, settings),
            (Database, database),
            (Cache, cache),
            (RateLimiter, rate_limiter),
            (TaskOutbox, outbox),
            *([(TaskBroker, task_broker)] if task_broker is not None else []),
            (MailService, mail),
            # Signing key derived once, not per list request.
            (CursorCodec, CursorCodec(settings.secret_key.get_secret_value())),
            (Readiness, Readiness(checks)),
            (Metrics, metrics),
            (EventDeliveries, deliveries),
        ):
            provided.add(kind, instance)
        return cls(
            settings=settings,
            database=database,
            redis=redis,
            request_redis=request_redis,
            cache=cache,
            rate_limiter=rate_limiter,
            outbox=outbox,
            task_broker=task_broker,
            mail=mail,
            # Last: listeners ask for the services above (and the bus adds itself).
            events=EventBus(listeners, provided),
            provided=provided,
            metrics=metrics,
        )

    async def close(self) -> None:
        if self.task_broker is not None:
            await self.task_broker.close()
        await self.cache.renewed()
        if self.redis is not None:
            await self.redis.aclose()
        if self.request_redis is not None:
            await self.request_redis.aclose()
        await self.database.dispose()
        self.metrics.close()


def _sender(settings: Settings, redis: Redis | None, task_broker: TaskBroker | None) -> SendMessage:
    """Where outbox rows go: the task stream with Redis, else the in-process broker."""
    if redis is not None:
        return StreamSender(redis, settings).send
    if task_broker is None:
        raise RuntimeError("embedded mode runs its tasks in process: it needs the task broker")
    return task_broker.send
