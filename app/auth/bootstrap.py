"""Start-up of the auth module, and account creation outside any request.

`lifespan` builds the password hasher and token codec of the process and makes
sure the first superuser exists; `create_account` backs it and `python -m app create-user`,
on the services of a started process (`app.process.running`), through the same unit of
work and use case as registering: the welcome mail and `UserCreated` go with the account.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from pydantic import ValidationError

from app.auth.deps import token_identity
from app.auth.exceptions import EmailTakenError, UsernameTakenError
from app.auth.repository import UserRepository
from app.auth.schemas import UserCreate, UserRead
from app.auth.service import AuthSecurity, open_account
from app.core.config import ConfigurationError, Settings
from app.core.db import Database
from app.core.events import EventBus, Events
from app.core.injection import Provided
from app.core.mail import Mailer, MailService
from app.core.queue import Queue, TaskOutbox
from app.core.rate_limit import RateLimiter

logger = structlog.get_logger(__name__)


async def create_account(
    provided: Provided, data: UserCreate, *, is_superuser: bool = False
) -> UserRead:
    """Create an account in a unit of work of its own, as registering does (welcome mail,
    `UserCreated`); `UsernameTakenError`/`EmailTakenError` when taken."""
    security = provided.get(AuthSecurity)
    async with provided.get(Database).unit_of_work() as uow:
        mailer = Mailer(provided.get(MailService), Queue(uow, provided.get(TaskOutbox)))
        events = Events(provided.get(EventBus), uow)
        user = await open_account(
            uow, security.passwords, mailer, events, data, is_superuser=is_superuser
        )
    return UserRead.model_validate(user)


def username_from_email(email: str) -> str:
    """A valid username made of the address's local part (`admin@x.org` -> `admin`)."""
    local = re.sub(r"[^A-Za-z0-9_.-]", "", email.partition("@")[0])[:50]
    return local if len(local) >= 3 else f"admin-{local}"


async def ensure_first_superuser(provided: Provided) -> None:
    """Create `FIRST_SUPERUSER_EMAIL` when missing. Several processes may start at
    once: the unique index lets one insert win, and the others find it there."""
    settings = provided.get(Settings)
    email = settings.first_superuser_email
    password = settings.first_superuser_password.get_secret_value()
    if not (email and password):
        return
    async with provided.get(Database).session_factory() as session:
        if await UserRepository(session).get_by_login(email) is not None:
            return
    try:
        data = new_account(username_from_email(email), email, password)
    except InvalidAccountError as error:
        raise ConfigurationError(f"FIRST_SUPERUSER_EMAIL/PASSWORD: {error}") from None
    try:
        await create_account(provided, data, is_superuser=True)
    except EmailTakenError:
        return  # another process created it a moment ago
    except UsernameTakenError:
        logger.error("first superuser not created: its username is taken", username=data.username)
        return
    logger.info("first superuser created", username=data.username)


@asynccontextmanager
async def lifespan(provided: Provided) -> AsyncIterator[None]:
    """Provide the process's `AuthSecurity` (and tell the rate limiter who a request's
    caller is), and make sure the first superuser exists."""
    settings = provided.get(Settings)
    security = AuthSecurity.from_settings(settings)
    provided.add(AuthSecurity, security)
    provided.get(RateLimiter).identify_callers(token_identity(security))
    await ensure_first_superuser(provided)
    yield


class InvalidAccountError(ValueError):
    """Account fields that break the rules; the message names them, never their values."""


def new_account(username: str, email: str, password: str) -> UserCreate:
    """Validate account fields outside a request."""
    try:
        return UserCreate(username=username, email=email, password=password)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        raise InvalidAccountError(problems) from None
