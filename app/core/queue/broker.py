"""The taskiq broker of one process and its middlewares.

Redis configured: a `RedisStreamBroker` (consumer group, acknowledgements,
reclaim of tasks a dead worker left un-acknowledged). Embedded mode: an
`InMemoryBroker` that runs each task as a background asyncio task of the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from taskiq import AsyncBroker, InMemoryBroker, TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.exceptions import NoResultError
from taskiq.kicker import AsyncKicker
from taskiq.middlewares import SmartRetryMiddleware
from taskiq_redis import RedisStreamBroker

from app.core.config import Settings
from app.core.metrics import Metrics
from app.core.queue.attempts import attempt_number, start_attempt
from app.core.queue.registry import HIDDEN_DURATION_LABEL, QUIET_LABEL, REQUEST_ID_LABEL
from app.core.queue.stream import CONSUMER_GROUP
from app.core.retries import retry_delay

logger = structlog.get_logger("app.queue")

# How long one read of the stream blocks, and so the longest a Redis socket stays silent.
STREAM_READ_BLOCK_SECONDS = 2

ScheduleRetry = Callable[[TaskiqMessage, dict[str, Any], float], Awaitable[None]]


class TaskLogMiddleware(TaskiqMiddleware):
    """Binds the originating request id to the task's log lines; logs start, finish and
    failure, and counts them (with the run time) in the process's metrics."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._metrics = metrics

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        start_attempt(message.labels)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=message.labels.get(REQUEST_ID_LABEL),
            task=message.task_name,
            task_id=message.task_id,
        )
        if QUIET_LABEL not in message.labels:
            logger.info("task started", attempt=attempt_number(message.labels))
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        duration_s = result.execution_time
        if not result.is_err:
            outcome = "success"
            if QUIET_LABEL not in message.labels:
                logger.info("task finished", duration_s=duration_s)
        elif isinstance(result.error, NoResultError):
            outcome = "retry"
            logger.warning("task failed; retry scheduled", duration_s=duration_s)
        else:
            outcome = "failure"
            logger.error(
                "task failed",
                duration_s=duration_s,
                attempt=attempt_number(message.labels),
                error=type(result.error).__name__,
            )
        exposed_duration = None if HIDDEN_DURATION_LABEL in message.labels else duration_s
        self._metrics.task_run(message.task_name, outcome, exposed_duration)
        structlog.contextvars.clear_contextvars()


class OutboxRetryMiddleware(SmartRetryMiddleware):
    """`SmartRetryMiddleware` with exponential backoff and jitter, whose retries wait durably.

    taskiq's brokers ignore a delay, so a retry is written to the outbox with a
    not-before time instead, and the relay sends it when it is due: a worker
    that dies during the backoff loses nothing, and waiting holds no slot.
    """

    def __init__(self, settings: Settings, schedule_retry: ScheduleRetry) -> None:
        super().__init__(
            default_retry_count=settings.queue_task_retries + 1,  # counts the first attempt
            default_retry_label=True,
            default_delay=settings.queue_retry_delay,
            use_jitter=True,
            use_delay_exponent=True,
            max_delay_exponent=settings.queue_retry_max_delay,
        )
        self._schedule_retry = schedule_retry

    def make_delay(self, message: TaskiqMessage, retries: int) -> float:
        """`delay * 2^(n-1)`, capped, plus up to half again of random jitter."""
        first = float(message.labels.get("delay", self.default_delay))
        return retry_delay(first, float(self.max_delay_exponent), retries)

    async def on_send(
        self, kicker: AsyncKicker[Any, Any], message: TaskiqMessage, delay: float
    ) -> None:
        await self._schedule_retry(message, dict(kicker.labels), delay)


def create_broker(
    settings: Settings, schedule_retry: ScheduleRetry, metrics: Metrics
) -> AsyncBroker:
    """The broker for this process's settings; connects lazily."""
    broker: AsyncBroker
    if settings.redis_url:
        broker = RedisStreamBroker(
            url=settings.redis_url,
            queue_name=settings.queue_stream,
            consumer_group_name=CONSUMER_GROUP,
            # A group created after tasks were sent still reads them from the start.
            consumer_id="0",
            maxlen=settings.queue_maxlen,
            idle_timeout=int(settings.queue_idle_timeout * 1000),
            unacknowledged_lock_timeout=settings.queue_unacknowledged_lock_timeout,
            xread_block=STREAM_READ_BLOCK_SECONDS * 1000,
            socket_connect_timeout=settings.redis_timeout,
            socket_timeout=settings.redis_timeout + STREAM_READ_BLOCK_SECONDS,
        )
    else:
        broker = InMemoryBroker(max_async_tasks=settings.queue_max_concurrent_tasks)
    return broker.with_middlewares(
        TaskLogMiddleware(metrics), OutboxRetryMiddleware(settings, schedule_retry)
    )
