"""The `send_email` task: every email leaves through the queue, never inside a request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog

from app.core.config import Settings
from app.core.db import Database
from app.core.injection import Provide
from app.core.logging import mask_email
from app.core.mail.deliveries import DeliveryRecord
from app.core.mail.message import OutgoingEmail
from app.core.mail.service import MailService
from app.core.queue.attempts import current_attempt
from app.core.queue.registry import task

logger = structlog.get_logger(__name__)


@task()
async def send_email(
    email: dict[str, Any],
    mail: Provide[MailService],
    settings: Provide[Settings],
    database: Provide[Database],
) -> None:
    """Deliver one rendered email through the configured backend, unless a run of this
    same task already did (delivery is at least once); raise to be retried."""
    outgoing = OutgoingEmail.model_validate(email)
    log = logger.bind(
        to=mask_email(outgoing.to), subject=outgoing.subject, message_id=outgoing.message_id
    )
    deliveries = DeliveryRecord(database.session_factory)
    if await deliveries.was_delivered(outgoing.message_id):
        log.info("email already delivered; not sent again")
        return
    try:
        await mail.deliver(outgoing)
    except Exception as error:
        attempt = current_attempt().number
        attempts = current_attempt().limit or settings.queue_task_retries + 1
        reason = f"{type(error).__name__}: {error}"
        if attempt < attempts:
            log.warning("email not delivered; will retry", attempt=attempt, error=reason)
        else:
            log.error(
                "email NOT delivered; giving up",
                attempts=attempt,
                backend=settings.mail_backend,
                error=reason,
            )
        raise
    await deliveries.record(outgoing.message_id)
    log.info("email delivered", backend=settings.mail_backend)


@task(schedule="17 * * * *")
async def purge_email_deliveries(
    settings: Provide[Settings],
    database: Provide[Database],
) -> None:
    """Forget delivered emails after `QUEUE_OUTBOX_RETENTION_HOURS`, as the outbox does."""
    retention = dt.timedelta(hours=settings.queue_outbox_retention_hours)
    removed = await DeliveryRecord(database.session_factory).purge(retention)
    logger.info("email deliveries purged", removed=removed)
