"""An email template for the mail tests; its Jinja files live next to this file."""

from __future__ import annotations

from app.core.mail import EmailTemplate, TemplateFolder


class GreetingEmail(EmailTemplate):
    templates = TemplateFolder("tests")
    template = "greeting"
    subject = "Hello {{ name }},\n your code"

    name: str
    code: int
