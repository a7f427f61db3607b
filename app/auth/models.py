"""The auth module's tables: users and the tokens issued to them."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, Enum, ForeignKey, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.auth.names import name_key
from app.core.db import Base, SoftDeleteMixin, TimestampMixin, UTCDateTime

USERNAME_MAX_LENGTH = 50
EMAIL_MAX_LENGTH = 320
TOKEN_HASH_LENGTH = 64  # hex SHA-256


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class User(TimestampMixin, SoftDeleteMixin, Base):
    """An account. Username and email are unique in their normalised form (`name_key`,
    kept in `*_key` columns set with them); deleted accounts keep theirs."""

    __tablename__ = "users"
    # Read `updated_at` back in the UPDATE itself (RETURNING): no lazy load after a flush.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy's declarative API

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX_LENGTH))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    username_key: Mapped[str] = mapped_column(String(USERNAME_MAX_LENGTH), unique=True)
    email_key: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[UserStatus] = mapped_column(
        Enum(
            UserStatus,
            native_enum=False,
            length=16,
            values_callable=lambda members: [member.value for member in members],
            validate_strings=True,
        ),
        default=UserStatus.ACTIVE,
        server_default=UserStatus.ACTIVE.value,
    )
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # Access tokens issued before this moment are refused (set by a password reset).
    tokens_valid_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)

    @validates("username", "email")
    def _set_key(self, field: str, value: str) -> str:
        setattr(self, f"{field}_key", name_key(value))
        return value


class RefreshFamily(Base):
    """A session: one login and every refresh token rotated from it.

    Its access tokens carry its id (`sid`), so revoking the family (logout, reuse
    detected, a password change elsewhere) ends them too. Revocation is one update of
    this row, never of the tokens: a refresh racing it cannot slip a token past it.
    `expires_at` is the absolute end that rotation never extends.
    """

    __tablename__ = "refresh_families"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class RefreshToken(Base):
    """One opaque refresh token, stored as its hash, in its family (session);
    each rotation adds a child and marks its parent used."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("refresh_families.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("refresh_tokens.id", ondelete="SET NULL"), default=None
    )
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    user_agent: Mapped[str | None] = mapped_column(String(255), default=None)
    ip_address: Mapped[str | None] = mapped_column(String(45), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class PasswordResetToken(Base):
    """A single-use password reset token, stored as its hash."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class RevokedAccessToken(Base):
    """The `jti` of an access token logged out before it expired; kept until it expires."""

    __tablename__ = "revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
