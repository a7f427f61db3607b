"""A rendered email: what the queue carries and what every backend delivers."""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
from email.message import EmailMessage

from pydantic import BaseModel, ConfigDict, field_validator


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value


class OutgoingEmail(BaseModel):
    """Everything needed to deliver one message, JSON-serializable for the queue.

    The `message_id` and `created_at` are fixed when the email is rendered, so a
    retried delivery sends (or writes) the very same message.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str
    created_at: dt.datetime
    sender: str
    to: str
    subject: str
    text: str
    html: str

    _no_header_injection = field_validator("message_id", "sender", "to", "subject")(_single_line)

    @field_validator("to")
    @classmethod
    def _one_address(cls, value: str) -> str:
        _, address = email.utils.parseaddr(value)
        if "@" not in address or "," in value:
            raise ValueError("must be one email address")
        return value

    def to_mime(self) -> EmailMessage:
        """An RFC 5322 multipart/alternative message: the plain text, then the HTML."""
        message = EmailMessage(policy=email.policy.SMTP)
        message["Message-ID"] = self.message_id
        message["Date"] = email.utils.format_datetime(self.created_at)
        message["From"] = self.sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message
