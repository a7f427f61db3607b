"""MailService: the process's renderer and delivery backend (one per process)."""

from __future__ import annotations

import email.utils

from app.core.config import Settings
from app.core.db import utc_now
from app.core.mail.backends import MailBackend, create_backend
from app.core.mail.message import OutgoingEmail
from app.core.mail.rendering import EmailTemplate, TemplateRenderer


class MailService:
    """Renders emails (in the request) and delivers them (in the `send_email` task)."""

    def __init__(self, settings: Settings, backend: MailBackend | None = None) -> None:
        self.sender = settings.mail_from
        name, address = email.utils.parseaddr(settings.mail_from)
        self.sender_name = name or address
        self._message_id_domain = address.rpartition("@")[2] or "localhost"
        self.backend = backend or create_backend(settings)
        self.renderer = TemplateRenderer()

    async def render(self, to: str, template: EmailTemplate) -> OutgoingEmail:
        parts = await self.renderer.render(template, sender_name=self.sender_name)
        return OutgoingEmail(
            message_id=email.utils.make_msgid(domain=self._message_id_domain),
            created_at=utc_now(),
            sender=self.sender,
            to=to,
            subject=parts.subject,
            text=parts.text,
            html=parts.html,
        )

    async def deliver(self, message: OutgoingEmail) -> None:
        await self.backend.deliver(message)
