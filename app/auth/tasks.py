"""Background tasks of the auth module (taskiq; dependencies come through `TaskiqDepends`)."""

from __future__ import annotations

import structlog

from app.auth.password_reset import issue_reset_link
from app.core.queue import TaskServicesDep, task

logger = structlog.get_logger(__name__)


@task()
async def send_password_reset(email: str, services: TaskServicesDep) -> None:
    """Mail a reset link when `email` belongs to an active account.

    The token is committed before the mail leaves; a failed delivery raises, and the
    retry issues a fresh link (which voids the undelivered one). The mail is delivered
    from here, not queued, so no reset token is ever at rest in the queue.
    """
    async with services.unit_of_work() as uow:
        link = await issue_reset_link(uow.session, services.settings, email)
    if link is None:
        return
    message = await services.mail.render(link.to, link.email)
    await services.mail.deliver(message)
    logger.info("password reset mailed", message_id=message.message_id)
