"""Mailer: what a request (or a listener, or a task) uses to send an email."""

from __future__ import annotations

import structlog

from app.core.logging import mask_email
from app.core.mail.rendering import EmailTemplate
from app.core.mail.service import MailService
from app.core.mail.tasks import send_email
from app.core.queue import Queue

logger = structlog.get_logger(__name__)


class Mailer:
    """Renders an email now and enqueues its delivery in the queue's transaction.

    A template error surfaces here, in the caller; delivery happens in the
    `send_email` task after the commit (a rolled-back request sends nothing),
    with retries and backoff when the backend fails.
    """

    def __init__(self, service: MailService, queue: Queue) -> None:
        self._service = service
        self._queue = queue

    async def send(self, to: str, email: EmailTemplate) -> None:
        message = await self._service.render(to, email)
        await self._queue.enqueue(send_email, email=message.model_dump(mode="json"))
        logger.info(
            "email queued",
            to=mask_email(to),
            subject=message.subject,
            message_id=message.message_id,
        )
