"""The queue's own periodic tasks, run by the scheduler."""

from __future__ import annotations

import datetime as dt

import structlog

from app.core.config import Settings
from app.core.event_deliveries import EventDeliveries
from app.core.injection import Provide
from app.core.queue.registry import task
from app.core.queue.sending import TaskOutbox

logger = structlog.get_logger("app.queue")


@task(schedule="* * * * *", quiet=True)
async def heartbeat() -> None:
    """Keep every worker reading: a worker reclaims abandoned tasks only after it reads one."""
    logger.debug("heartbeat")


@task(schedule="*/10 * * * *")
async def purge_sent_outbox(
    settings: Provide[Settings],
    outbox: Provide[TaskOutbox],
) -> None:
    """Delete outbox rows sent longer ago than `QUEUE_OUTBOX_RETENTION_HOURS`."""
    retention = dt.timedelta(hours=settings.queue_outbox_retention_hours)
    removed = await outbox.relay.purge_sent(retention)
    logger.info("sent outbox rows purged", removed=removed)


@task(schedule="*/10 * * * *")
async def purge_delivered_events(
    settings: Provide[Settings],
    deliveries: Provide[EventDeliveries],
) -> None:
    """Delete event deliveries done longer ago than `QUEUE_OUTBOX_RETENTION_HOURS` (dead
    letters stay)."""
    retention = dt.timedelta(hours=settings.queue_outbox_retention_hours)
    removed = await deliveries.purge_delivered(retention)
    logger.info("delivered events purged", removed=removed)
