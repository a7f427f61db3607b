"""Password reset links, issued by the worker (`tasks.send_password_reset`).

The request only queues the address: the lookup, the token and the mail happen here,
so restore-password costs the same for a registered address and an unknown one, and
the queue never holds a reset token (only this task's mail, never stored, carries it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.emails import PasswordResetEmail
from app.auth.models import PasswordResetToken
from app.auth.repository import PasswordResetTokenRepository, UserRepository
from app.auth.security import hash_opaque_token, new_opaque_token
from app.core.config import Settings
from app.core.db import utc_now


@dataclass(frozen=True)
class ResetLink:
    """Who gets the mail, and the mail."""

    to: str
    email: PasswordResetEmail


def reset_url(settings: Settings, token: str) -> str:
    base = settings.password_reset_url
    return f"{base}{'&' if '?' in base else '?'}{urlencode({'token': token})}"


async def issue_reset_link(
    session: AsyncSession, settings: Settings, email: str
) -> ResetLink | None:
    """A new single-use reset token for the active account of `email` (its older links
    stop working); None, silently, for an unknown or disabled address."""
    user = await UserRepository(session).get_active_by_email(email)
    if user is None:
        return None
    reset_tokens = PasswordResetTokenRepository(session)
    await reset_tokens.consume_all_of_user(user.id)  # only the newest link works
    token = new_opaque_token()
    lifetime = dt.timedelta(minutes=settings.reset_token_expire_minutes)
    await reset_tokens.add(
        PasswordResetToken(
            token_hash=hash_opaque_token(token),
            user_id=user.id,
            expires_at=utc_now() + lifetime,
        )
    )
    mail = PasswordResetEmail(
        username=user.username,
        reset_url=reset_url(settings, token),
        expires_minutes=settings.reset_token_expire_minutes,
    )
    return ResetLink(to=user.email, email=mail)
