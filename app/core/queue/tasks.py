"""The queue's own periodic tasks, run by the scheduler."""

from __future__ import annotations

import datetime as dt

import structlog

from app.core.queue.deps import TaskServicesDep
from app.core.queue.registry import task

logger = structlog.get_logger("app.queue")


@task(schedule="* * * * *")
async def heartbeat() -> None:
    """Keep every worker reading: a worker reclaims abandoned tasks only after it reads one."""
    logger.debug("heartbeat")


@task(schedule="*/10 * * * *")
async def purge_sent_outbox(services: TaskServicesDep) -> None:
    """Delete outbox rows sent longer ago than `QUEUE_OUTBOX_RETENTION_HOURS`."""
    retention = dt.timedelta(hours=services.settings.queue_outbox_retention_hours)
    removed = await services.queue.relay.purge_sent(retention)
    logger.info("sent outbox rows purged", removed=removed)
