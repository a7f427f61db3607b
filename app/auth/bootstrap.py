"""Start-up of the auth module, and account creation outside any request.

`lifespan` builds the password hasher and token codec of the process and makes
sure the first superuser exists; `create_account` backs `python -m app create-user`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.deps import token_identity
from app.auth.exceptions import EmailTakenError, UsernameTakenError
from app.auth.repository import UserRepository
from app.auth.schemas import UserCreate, UserRead
from app.auth.service import AuthSecurity, add_user
from app.core.config import ConfigurationError, Settings
from app.core.db import Database, create_engine, create_session_factory
from app.core.injection import Provided
from app.core.rate_limit import RequestIdentity

logger = structlog.get_logger(__name__)


async def create_account(
    session_factory: async_sessionmaker[AsyncSession],
    security: AuthSecurity,
    data: UserCreate,
    *,
    is_superuser: bool = False,
) -> UserRead:
    """Create and commit an account; `UsernameTakenError`/`EmailTakenError` when taken."""
    async with session_factory() as session:
        user = await add_user(
            UserRepository(session), security.passwords, data, is_superuser=is_superuser
        )
        await session.commit()
        return UserRead.model_validate(user)


def username_from_email(email: str) -> str:
    """A valid username made of the address's local part (`admin@x.org` -> `admin`)."""
    local = re.sub(r"[^A-Za-z0-9_.-]", "", email.partition("@")[0])[:50]
    return local if len(local) >= 3 else f"admin-{local}"


async def ensure_first_superuser(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], security: AuthSecurity
) -> None:
    """Create `FIRST_SUPERUSER_EMAIL` when missing. Several processes may start at
    once: the unique index lets one insert win, and the others find it there."""
    email = settings.first_superuser_email
    password = settings.first_superuser_password.get_secret_value()
    if not (email and password):
        return
    async with session_factory() as session:
        if await UserRepository(session).get_by_login(email) is not None:
            return
    try:
        data = new_account(username_from_email(email), email, password)
    except InvalidAccountError as error:
        raise ConfigurationError(f"FIRST_SUPERUSER_EMAIL/PASSWORD: {error}") from None
    try:
        await create_account(session_factory, security, data, is_superuser=True)
    except EmailTakenError:
        return  # another process created it a moment ago
    except UsernameTakenError:
        logger.error("first superuser not created: its username is taken", username=data.username)
        return
    logger.info("first superuser created", username=data.username)


@asynccontextmanager
async def lifespan(provided: Provided) -> AsyncIterator[None]:
    """Provide the process's `AuthSecurity` (and the rate limiter's `RequestIdentity`),
    and make sure the first superuser exists."""
    settings = provided.get(Settings)
    security = AuthSecurity.from_settings(settings)
    provided.add(AuthSecurity, security)
    provided.add(RequestIdentity, RequestIdentity(token_identity(security)))
    await ensure_first_superuser(settings, provided.get(Database).session_factory, security)
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


async def create_user_from_settings(
    settings: Settings, username: str, email: str, password: str, *, is_superuser: bool
) -> UserRead:
    """`create_account` on an engine of its own (the command line has no app)."""
    data = new_account(username, email, password)
    engine = create_engine(settings)
    try:
        return await create_account(
            create_session_factory(engine),
            AuthSecurity.from_settings(settings),
            data,
            is_superuser=is_superuser,
        )
    finally:
        await engine.dispose()
