"""Where rendered emails go: an SMTP server, `.eml` files, or the log."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Protocol

import structlog

from app.core.config import Settings
from app.core.mail.message import OutgoingEmail

logger = structlog.get_logger(__name__)

_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class MailBackend(Protocol):
    async def deliver(self, email: OutgoingEmail) -> None:
        """Hand the email over, or raise so the queue retries it."""


class SmtpBackend:
    """Delivery to an SMTP server (aiosmtplib), with TLS and login as configured."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def deliver(self, email: OutgoingEmail) -> None:
        # Imported by the process that delivers (a worker): the API only renders and queues.
        import aiosmtplib  # noqa: PLC0415

        settings = self.settings
        await aiosmtplib.send(
            email.to_mime(),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user or None,
            password=settings.smtp_password.get_secret_value() or None,
            use_tls=settings.smtp_tls == "tls",
            # Explicit False: by default aiosmtplib upgrades whenever the server offers it.
            start_tls=settings.smtp_tls == "starttls",
            timeout=settings.smtp_timeout,
        )


class FileBackend:
    """One `.eml` file per message under `MAIL_FILE_DIR`, named by date and message id.

    The name depends only on the message, so a retried delivery rewrites the
    same file instead of adding a second one.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, email: OutgoingEmail) -> Path:
        stamp = email.created_at.strftime("%Y%m%dT%H%M%S")
        token = _UNSAFE_FILENAME_CHARS.sub("_", email.message_id.strip("<>"))
        return self.directory / f"{stamp}-{token}.eml"

    def _write(self, email: OutgoingEmail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path_of(email)
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(email.to_mime().as_bytes())
        os.replace(partial, path)  # readers never see a half-written message

    async def deliver(self, email: OutgoingEmail) -> None:
        await asyncio.to_thread(self._write, email)


class ConsoleBackend:
    """Logs the email (development)."""

    async def deliver(self, email: OutgoingEmail) -> None:
        logger.info(
            "email",
            to=email.to,
            subject=email.subject,
            message_id=email.message_id,
            body=email.text,
        )


def create_backend(settings: Settings) -> MailBackend:
    if settings.mail_backend == "smtp":
        return SmtpBackend(settings)
    if settings.mail_backend == "file":
        return FileBackend(settings.mail_file_dir)
    return ConsoleBackend()
