"""Email templates, the rendered message, and the file and console backends."""

from __future__ import annotations

import email
import email.policy
import logging
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.core.logging import configure_logging
from app.core.mail import OutgoingEmail
from app.core.mail.backends import ConsoleBackend, FileBackend, SmtpBackend, create_backend
from app.core.mail.service import MailService
from tests.emails import GreetingEmail

MailBackendName = Literal["smtp", "file", "console"]

HOSTILE_NAME = '<script>alert("x")</script> & Co'


def mail_service(tmp_path: Path, backend: MailBackendName = "file") -> MailService:
    settings = Settings(
        _env_file=None,
        mail_backend=backend,
        mail_file_dir=tmp_path,
        mail_from="Kit <noreply@kit.test>",
    )
    return MailService(settings)


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


async def test_template_renders_text_as_is_and_html_escaped(tmp_path: Path) -> None:
    message = await mail_service(tmp_path).render(
        "ann@example.com", GreetingEmail(name=HOSTILE_NAME, code=42)
    )

    assert message.subject == f"Hello {HOSTILE_NAME}, your code"  # folded to one line
    assert f"Hello {HOSTILE_NAME}," in message.text
    assert "your code is 42." in message.text
    assert "Sent by Kit." in message.text  # the shared text layout
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in message.html
    assert "<strong>42</strong>" in message.html  # the template's own markup stays
    assert "<!doctype html>" in message.html  # the shared HTML layout
    assert message.sender == "Kit <noreply@kit.test>"
    assert message.message_id.endswith("@kit.test>")


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def test_file_backend_writes_one_parseable_eml_per_message(tmp_path: Path) -> None:
    service = mail_service(tmp_path)
    message = await service.render("Ann <ann@example.com>", GreetingEmail(name="Ann", code=7))

    await service.deliver(message)
    await service.deliver(message)  # a retried delivery rewrites the same file

    [path] = files_in(tmp_path)
    assert path.suffix == ".eml"
    parsed = parse(path.read_bytes())
    assert parsed["To"] == "Ann <ann@example.com>"
    assert parsed["Subject"] == "Hello Ann, your code"
    assert parsed["Message-ID"] == message.message_id
    assert parsed["Date"]
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "your code is 7." in text.get_content()
    assert "<strong>7</strong>" in html.get_content()


@pytest.mark.parametrize(
    "to", ["ann@example.com\r\nBcc: all@example.com", "ann@example.com, bob@example.com", "ann"]
)
async def test_a_message_goes_to_exactly_one_address(tmp_path: Path, to: str) -> None:
    with pytest.raises(ValidationError):
        await mail_service(tmp_path).render(to, GreetingEmail(name="Ann", code=1))


@pytest.fixture
def stdlib_logging() -> None:
    """structlog routed through the stdlib (as in the app), so `caplog` sees its lines."""
    configure_logging(Settings(_env_file=None))


@pytest.mark.usefixtures("stdlib_logging")
async def test_console_backend_logs_the_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    service = mail_service(tmp_path, "console")
    message: OutgoingEmail = await service.render(
        "ann@example.com", GreetingEmail(name="A", code=3)
    )

    await service.deliver(message)

    [logged] = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == "email"
    ]
    assert logged["to"] == "ann@example.com"
    assert "your code is 3." in logged["body"]
    assert files_in(tmp_path) == []


def test_backend_follows_the_setting(tmp_path: Path) -> None:
    def backend(name: MailBackendName) -> object:
        return create_backend(Settings(_env_file=None, mail_backend=name, mail_file_dir=tmp_path))

    assert isinstance(backend("smtp"), SmtpBackend)
    assert isinstance(backend("file"), FileBackend)
    assert isinstance(backend("console"), ConsoleBackend)
