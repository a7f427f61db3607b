"""Background tasks of the auth module; each asks for its services as `Provide[T]`."""

from __future__ import annotations

import structlog

from app.auth.password_reset import issue_reset_link
from app.core.config import Settings
from app.core.db import Database
from app.core.injection import Provide
from app.core.mail import MailService
from app.core.queue import task

logger = structlog.get_logger(__name__)


# Its run time tells a registered address (a token, a mail) from an unknown one (a lookup).
@task(hide_duration=True)
async def send_password_reset(
    email: str,
    settings: Provide[Settings],
    database: Provide[Database],
    mail: Provide[MailService],
) -> None:
    """Mail a reset link when `email` belongs to an active account.

    The token is committed before the mail leaves; a failed delivery raises, and the
    retry issues a fresh link (which voids the undelivered one). The mail is delivered
    from here, not queued, so no reset token is ever at rest in the queue.
    """
    async with database.unit_of_work() as uow:
        link = await issue_reset_link(uow.session, settings, email)
    if link is None:
        return
    message = await mail.render(link.to, link.email)
    await mail.deliver(message)
    logger.info("password reset mailed", message_id=message.message_id)
