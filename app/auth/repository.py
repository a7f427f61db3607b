"""The write side's persistence of the auth module: ORM objects for its commands.
Repositories flush; only the unit of work commits."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.exceptions import UserNotFoundError
from app.auth.models import (
    PasswordResetToken,
    RefreshFamily,
    RefreshToken,
    RevokedAccessToken,
    User,
    UserStatus,
)
from app.auth.names import name_key
from app.core.db import utc_now
from app.core.repository import BaseRepository, bulk_update


@dataclass(frozen=True)
class ConsumedRefreshToken:
    id: int
    user_id: int
    family_id: uuid.UUID


class UserRepository(BaseRepository[User]):
    model = User
    not_found_error = UserNotFoundError

    async def get_by_login(self, login: str) -> User | None:
        """The account (deleted ones included) named by an email or a username, in any
        case or Unicode form."""
        key = name_key(login)
        condition = User.email_key == key if "@" in login else User.username_key == key
        found: User | None = await self.session.scalar(
            self.select(include_deleted=True).where(condition)
        )
        return found

    async def get_active_by_email(self, email: str) -> User | None:
        found: User | None = await self.session.scalar(
            self.select().where(User.email_key == name_key(email), User.status == UserStatus.ACTIVE)
        )
        return found

    async def lock(self, user_id: int) -> User | None:
        """The live account, re-read and locked (`FOR UPDATE`) until the transaction ends.

        What starts a session (login) and what ends them all (a reset, a password or
        email change, a block, a deletion) take this lock first, so a login never commits
        a session that a concurrent "end them all" missed. SQLite serialises writers anyway.
        """
        found: User | None = await self.session.scalar(
            self.select()
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return found

    async def lock_active_superusers(self) -> list[int]:
        """The ids of the active superusers, locked in id order (so that two callers
        never deadlock), until the transaction ends."""
        rows = await self.session.scalars(
            select(User.id)
            .where(
                User.is_superuser.is_(True),
                User.status == UserStatus.ACTIVE,
                User.deleted_at.is_(None),
            )
            .order_by(User.id)
            .with_for_update()
        )
        return list(rows)


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def consume(self, token_hash: str) -> ConsumedRefreshToken | None:
        """Mark a live token used and return it; None when it is unknown, used or
        expired (its family is checked apart). One conditional UPDATE, so of two
        concurrent calls for the same token exactly one gets it."""
        result = await self.session.execute(
            bulk_update(
                RefreshToken,
                RefreshToken.token_hash == token_hash,
                RefreshToken.used.is_(False),
                RefreshToken.expires_at > utc_now(),
                used=True,
            ).returning(RefreshToken.id, RefreshToken.user_id, RefreshToken.family_id)
        )
        row = result.one_or_none()
        if row is None:
            return None
        return ConsumedRefreshToken(id=row.id, user_id=row.user_id, family_id=row.family_id)

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        found: RefreshToken | None = await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        return found

    async def sign_in_addresses(self, user_id: int, since: dt.datetime) -> set[str]:
        """The addresses the account signed in from since `since`: those recorded with
        the first token of each session (a login's), whatever became of the session."""
        addresses = await self.session.scalars(
            select(RefreshToken.ip_address)
            .distinct()
            .where(
                RefreshToken.user_id == user_id,
                RefreshToken.parent_id.is_(None),
                RefreshToken.created_at >= since,
                RefreshToken.ip_address.is_not(None),
            )
        )
        return {address for address in addresses if address is not None}


class RefreshFamilyRepository:
    """Sessions: started by a login, revoked as one row (see `RefreshFamily`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def start(self, user_id: int, expires_at: dt.datetime) -> RefreshFamily:
        family = RefreshFamily(id=uuid.uuid4(), user_id=user_id, expires_at=expires_at)
        self.session.add(family)
        await self.session.flush()
        return family

    async def get_live(self, family_id: uuid.UUID) -> RefreshFamily | None:
        """The family when it is neither revoked nor past its absolute end."""
        found: RefreshFamily | None = await self.session.scalar(
            select(RefreshFamily).where(
                RefreshFamily.id == family_id,
                RefreshFamily.revoked_at.is_(None),
                RefreshFamily.expires_at > utc_now(),
            )
        )
        return found

    async def revoke(self, family_id: uuid.UUID) -> None:
        await self.session.execute(
            bulk_update(
                RefreshFamily,
                RefreshFamily.id == family_id,
                RefreshFamily.revoked_at.is_(None),
                revoked_at=utc_now(),
            )
        )

    async def revoke_all_of_user(self, user_id: int, *, keep: uuid.UUID | None = None) -> None:
        """End every session of the user, but `keep` (the one making a change)."""
        condition = [RefreshFamily.user_id == user_id, RefreshFamily.revoked_at.is_(None)]
        if keep is not None:
            condition.append(RefreshFamily.id != keep)
        await self.session.execute(bulk_update(RefreshFamily, *condition, revoked_at=utc_now()))


class PasswordResetTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: PasswordResetToken) -> PasswordResetToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def find_user_id(self, token_hash: str) -> int | None:
        """The account a reset token was issued to, live or not (no lock taken)."""
        found: int | None = await self.session.scalar(
            select(PasswordResetToken.user_id).where(PasswordResetToken.token_hash == token_hash)
        )
        return found

    async def consume(self, token_hash: str) -> int | None:
        """Mark a live reset token used and return its user id (None if unusable)."""
        result = await self.session.execute(
            bulk_update(
                PasswordResetToken,
                PasswordResetToken.token_hash == token_hash,
                PasswordResetToken.used.is_(False),
                PasswordResetToken.expires_at > utc_now(),
                used=True,
            ).returning(PasswordResetToken.user_id)
        )
        user_id: int | None = result.scalar_one_or_none()
        return user_id

    async def consume_all_of_user(self, user_id: int) -> None:
        await self.session.execute(
            bulk_update(
                PasswordResetToken,
                PasswordResetToken.user_id == user_id,
                PasswordResetToken.used.is_(False),
                used=True,
            )
        )


class RevokedAccessTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def revoke(self, jti: str, expires_at: dt.datetime) -> None:
        """Refuse this access token from now on; expired entries are swept on the way."""
        await self.session.execute(
            delete(RevokedAccessToken).where(RevokedAccessToken.expires_at <= utc_now())
        )
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        await self.session.execute(
            insert(RevokedAccessToken)
            .values(jti=jti, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=[RevokedAccessToken.jti])
        )
