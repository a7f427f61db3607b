"""The emails the auth module sends; their templates live next to this file."""

from __future__ import annotations

from app.core.mail import EmailTemplate, TemplateFolder

AUTH_TEMPLATES = TemplateFolder("app.auth")


class WelcomeEmail(EmailTemplate):
    templates = AUTH_TEMPLATES
    template = "welcome"
    subject = "Welcome, {{ username }}"

    username: str


class PasswordResetEmail(EmailTemplate):
    templates = AUTH_TEMPLATES
    template = "password_reset"
    subject = "Reset your password"

    username: str
    reset_url: str
    expires_minutes: int
