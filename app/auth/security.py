"""Password hashing and token primitives, built once per process from `Settings`.

Hashing is CPU-bound for tens of milliseconds: it runs in a thread, never on the
event loop, at most `PASSWORD_HASH_CONCURRENCY` at a time per process, with at most
`PASSWORD_HASH_QUEUE_SIZE` more waiting (beyond that: 503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.auth.exceptions import HasherBusyError
from app.core.config import Settings
from app.core.schemas import MAX_ID

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, no secret
REQUIRED_CLAIMS = ("sub", "exp", "iat", "jti", "sid", "type", "iss", "aud")
OPAQUE_TOKEN_BYTES = 32
SESSION_ID_HEX_LENGTH = 32

T = TypeVar("T")


class InvalidAccessTokenError(Exception):
    """The access token is malformed, forged, expired or not an access token."""


class ExpiredAccessTokenError(InvalidAccessTokenError):
    """The access token is genuine, and has expired (its signature was checked first)."""


def new_opaque_token() -> str:
    """A random, URL-safe token (refresh and reset tokens)."""
    return secrets.token_urlsafe(OPAQUE_TOKEN_BYTES)


def hash_opaque_token(token: str) -> str:
    """The stored form of an opaque token. The token carries 256 random bits, so a
    fast hash cannot be brute-forced, and lookups stay one indexed equality."""
    return hashlib.sha256(token.encode()).hexdigest()


class PasswordHasher:
    """argon2id through pwdlib, off the event loop, with rehash-on-verify."""

    def __init__(self, settings: Settings) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=settings.argon2_time_cost,
                    memory_cost=settings.argon2_memory_cost_kib,
                    parallelism=settings.argon2_parallelism,
                ),
            )
        )
        self._slots = asyncio.Semaphore(settings.password_hash_concurrency)
        # Running plus waiting hashes: beyond this one client could starve every login.
        self._capacity = settings.password_hash_concurrency + settings.password_hash_queue_size
        self._pending = 0
        self._dummy_hash: str | None = None

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        """`work` in a thread once a slot is free; `HasherBusyError` when the queue is full."""
        if self._pending >= self._capacity:
            raise HasherBusyError()
        self._pending += 1
        try:
            async with self._slots:
                return await asyncio.to_thread(work, *args)
        finally:
            self._pending -= 1

    async def hash(self, password: str) -> str:
        return await self._run(self._hash.hash, password)

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Whether the password matches, and a new hash when the stored one uses
        older parameters (None otherwise)."""
        return await self._run(self._hash.verify_and_update, password, password_hash)

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, so an unknown account answers as slowly
        as a known one and timing does not tell which accounts exist."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(new_opaque_token())
        await self.verify(password, self._dummy_hash)


@dataclass(frozen=True)
class AccessClaims:
    """The verified claims of an access token."""

    user_id: int
    jti: str
    # The refresh family (session) the token belongs to: revoking it ends the token.
    session_id: uuid.UUID
    issued_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    claims: AccessClaims


class AccessTokenCodec:
    """Signs and verifies access tokens (JWT); every check is pinned, none is optional."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.secret_key.get_secret_value()
        self._algorithm = settings.jwt_algorithm
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.lifetime = dt.timedelta(minutes=settings.access_token_expire_minutes)

    def issue(
        self, user_id: int, session_id: uuid.UUID, *, now: dt.datetime | None = None
    ) -> IssuedAccessToken:
        issued_at = now or dt.datetime.now(dt.UTC)
        claims = AccessClaims(
            user_id=user_id,
            jti=uuid.uuid4().hex,
            session_id=session_id,
            issued_at=issued_at,
            # `exp` is whole seconds in the token: keep the same value here.
            expires_at=(issued_at + self.lifetime).replace(microsecond=0),
        )
        payload = {
            "sub": str(user_id),
            # Sub-second `iat`: a password reset refuses tokens issued before it,
            # including those of the same second (RFC 7519 allows non-integer dates).
            "iat": round(issued_at.timestamp(), 6),
            "exp": int(claims.expires_at.timestamp()),
            "jti": claims.jti,
            "sid": session_id.hex,
            "type": ACCESS_TOKEN_TYPE,
            "iss": self._issuer,
            "aud": self._audience,
        }
        token = jwt.encode(payload, self._key, algorithm=self._algorithm)
        return IssuedAccessToken(token=token, claims=claims)

    def decode(self, token: str) -> AccessClaims:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise ExpiredAccessTokenError("expired") from None
        except jwt.InvalidTokenError as error:
            raise InvalidAccessTokenError(type(error).__name__) from None
        subject, jti = payload["sub"], payload["jti"]
        if payload["type"] != ACCESS_TOKEN_TYPE:
            raise InvalidAccessTokenError("not an access token")
        if not (isinstance(subject, str) and subject.isascii() and subject.isdigit()):
            raise InvalidAccessTokenError("subject is not a user id")
        if not (isinstance(jti, str) and 0 < len(jti) <= 64):
            raise InvalidAccessTokenError("malformed token id")
        user_id = int(subject)
        if not 0 < user_id <= MAX_ID:
            raise InvalidAccessTokenError("subject is not a user id")
        session_id = _session_id(payload["sid"])
        try:
            issued_at = dt.datetime.fromtimestamp(payload["iat"], dt.UTC)
            expires_at = dt.datetime.fromtimestamp(payload["exp"], dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidAccessTokenError("dates out of range") from None
        return AccessClaims(
            user_id=user_id,
            jti=jti,
            session_id=session_id,
            issued_at=issued_at,
            expires_at=expires_at,
        )


def _session_id(value: Any) -> uuid.UUID:
    if not (isinstance(value, str) and len(value) == SESSION_ID_HEX_LENGTH):
        raise InvalidAccessTokenError("malformed session id")
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        raise InvalidAccessTokenError("malformed session id") from None
