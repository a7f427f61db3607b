"""The auth module's use cases: accounts, sessions (token pairs) and passwords."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy.exc import IntegrityError

from app.auth.audit import audit, audit_login_limited
from app.auth.callers import forget_caller
from app.auth.emails import WelcomeEmail
from app.auth.events import UserBlocked, UserCreated, UserDeleted
from app.auth.exceptions import (
    AccountDisabledError,
    EmailTakenError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
    InvalidResetTokenError,
    LastSuperuserError,
    OwnAccountError,
    RegistrationClosedError,
    UsernameTakenError,
    WrongCurrentPasswordError,
)
from app.auth.models import RefreshFamily, RefreshToken, User, UserStatus
from app.auth.names import name_key
from app.auth.queries import login_account
from app.auth.repository import (
    PasswordResetTokenRepository,
    RefreshFamilyRepository,
    RefreshTokenRepository,
    RevokedAccessTokenRepository,
    UserRepository,
)
from app.auth.schemas import ProfileUpdate, Token, UserAdminUpdate, UserCreate, UserRead
from app.auth.security import (
    AccessClaims,
    AccessTokenCodec,
    PasswordHasher,
    hash_opaque_token,
    new_opaque_token,
)
from app.auth.tasks import send_password_reset
from app.core.cache import Cache
from app.core.client_address import UNKNOWN_CLIENT, address_key
from app.core.config import Settings
from app.core.db import Database, UnitOfWork, utc_now
from app.core.errors import RateLimitedError
from app.core.events import Events
from app.core.mail.mailer import Mailer
from app.core.queue import Queue
from app.core.rate_limit import KeyedLimits
from app.core.representations import Precondition

USER_AGENT_MAX_LENGTH = 255
# An address the owner signed in from this recently passes a spent failure count.
KNOWN_ADDRESS_DAYS = 30


def _digest(login: str) -> str:
    """A short digest of a submitted login: limit keys hold no identifiers in clear."""
    return hashlib.sha256(name_key(login).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class AuthSecurity:
    """The process's password hasher and token codec, built once from `Settings`."""

    passwords: PasswordHasher
    access_tokens: AccessTokenCodec

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthSecurity:
        return cls(PasswordHasher(settings), AccessTokenCodec(settings))


@dataclass(frozen=True)
class ClientInfo:
    """Who asked for a token pair: the canonical address (recorded with the refresh
    token), the client as limits count it, and the user agent."""

    ip_address: str | None = None
    key: str = UNKNOWN_CLIENT
    user_agent: str | None = None


def raise_taken(error: IntegrityError) -> NoReturn:
    """Raise the 409 of the unique rule of `users` that an insert or update broke (or
    `error` itself, when it broke another rule)."""
    diagnostics = getattr(error.orig, "diag", None)
    # PostgreSQL names the constraint (uq_users_email_key); SQLite the column (users.email_key).
    constraint = getattr(diagnostics, "constraint_name", None) or str(error.orig)
    if "email_key" in constraint:
        raise EmailTakenError() from None
    if "username_key" in constraint:
        raise UsernameTakenError() from None
    raise error


async def add_user(
    users: UserRepository,
    passwords: PasswordHasher,
    data: UserCreate,
    *,
    is_superuser: bool = False,
) -> User:
    """Insert an account; the database's unique indexes decide conflicts (409)."""
    user = User(
        username=data.username,
        email=data.email,
        password_hash=await passwords.hash(data.password),
        status=UserStatus.ACTIVE,
        is_superuser=is_superuser,
    )
    try:
        added = await users.add(user)
    except IntegrityError as error:
        raise_taken(error)
    if is_superuser:  # made outside any request (start-up, command line): by nobody
        audit.info("superuser granted", user_id=added.id, by_user_id=None)
    return added


async def open_account(
    uow: UnitOfWork,
    passwords: PasswordHasher,
    mailer: Mailer,
    events: Events,
    data: UserCreate,
    *,
    is_superuser: bool = False,
) -> User:
    """Create an account in `uow`, its welcome mail queued and `UserCreated` published in the
    same transaction: registering, `create-user` and the first superuser alike."""
    user = await add_user(UserRepository(uow.session), passwords, data, is_superuser=is_superuser)
    await mailer.send(user.email, WelcomeEmail(username=user.username))
    events.publish(UserCreated(user_id=user.id, username=user.username))
    return user


class AuthService:
    """Registration, login, token refresh and logout, password reset."""

    def __init__(
        self,
        uow: UnitOfWork,
        security: AuthSecurity,
        settings: Settings,
        *,
        database: Database,
        mailer: Mailer,
        queue: Queue,
        events: Events,
        cache: Cache,
    ) -> None:
        self.uow = uow
        self.cache = cache
        self.database = database
        self.queue = queue
        self.passwords = security.passwords
        self.access_tokens = security.access_tokens
        self.settings = settings
        self.mailer = mailer
        self.events = events
        self.users = UserRepository(uow.session)
        self.refresh_tokens = RefreshTokenRepository(uow.session)
        self.families = RefreshFamilyRepository(uow.session)
        self.reset_tokens = PasswordResetTokenRepository(uow.session)
        self.revoked_access_tokens = RevokedAccessTokenRepository(uow.session)

    async def register(self, data: UserCreate) -> UserRead:
        if not self.settings.registration_enabled:
            raise RegistrationClosedError()
        user = await open_account(self.uow, self.passwords, self.mailer, self.events, data)
        return UserRead.model_validate(user)

    async def login(
        self, login: str, password: str, client: ClientInfo, limits: KeyedLimits
    ) -> Token:
        """Check the credentials under the login limits: per client and login (an
        account's username and email count together), and per account for failures.

        Once an account's failures are spent, only an address that signed in to it lately
        may still try (see `_signed_in_from`): a guesser spread over many addresses can
        no longer lock the owner out, and gets no more tries.
        """
        user = await login_account(self.database, login)
        client_key = f"login:ip:{client.key}"
        if user is None:
            await self._count_login(limits, f"{client_key}:name:{_digest(login)}", None)
            await self.passwords.verify_dummy(password)
            audit.warning("login failed", user_id=None, reason="unknown account")
            raise InvalidCredentialsError()
        await self._count_login(limits, f"{client_key}:account:{user.id}", user.id)
        failures = self.settings.rate_limit_login_failures
        failures_key = f"login-failures:account:{user.id}"
        spent = await limits.spent(failures, failures_key)
        if spent is not None and not await self._signed_in_from(user.id, client):
            audit_login_limited(user.id, "RATE_LIMIT_LOGIN_FAILURES")
            raise limits.refusal(spent)
        checked_hash = user.password_hash
        valid, upgraded_hash = await self.passwords.verify(password, checked_hash)
        if not valid:
            await limits.spend(failures, failures_key)
            audit.warning("login failed", user_id=user.id, reason="wrong password")
            raise InvalidCredentialsError() if spent is None else limits.refusal(spent)
        if user.deleted_at is not None or user.status != UserStatus.ACTIVE:
            audit.warning("login failed", user_id=user.id, reason="account disabled")
            raise AccountDisabledError()
        return await self._start_session(user.id, checked_hash, upgraded_hash, client)

    async def _count_login(self, limits: KeyedLimits, key: str, user_id: int | None) -> None:
        """One login of a client under `RATE_LIMIT_LOGIN`; a refusal is audited."""
        try:
            await limits.hit(self.settings.rate_limit_login, key)
        except RateLimitedError:
            audit_login_limited(user_id, "RATE_LIMIT_LOGIN")
            raise

    async def _signed_in_from(self, user_id: int, client: ClientInfo) -> bool:
        """Whether the account signed in from the client (its address; an IPv6 client's
        network) in the last `KNOWN_ADDRESS_DAYS`, by the sessions' recorded addresses.
        Asked only once the account's failures are spent, so it costs nothing otherwise."""
        if client.ip_address is None:
            return False
        since = utc_now() - dt.timedelta(days=KNOWN_ADDRESS_DAYS)
        prefix = self.settings.rate_limit_ipv6_prefix
        return any(
            address_key(address, prefix) == client.key
            for address in await self.refresh_tokens.sign_in_addresses(user_id, since)
        )

    async def _start_session(
        self, user_id: int, checked_hash: str, upgraded_hash: str | None, client: ClientInfo
    ) -> Token:
        """A new session (refresh family) for the account whose password `checked_hash`
        verified. Under the user-row lock: a reset or password change that committed while
        the hash was checked wins (400), and one that comes later ends this session."""
        locked = await self.users.lock(user_id)
        if locked is None or locked.password_hash != checked_hash:
            audit.warning("login failed", user_id=user_id, reason="password changed meanwhile")
            raise InvalidCredentialsError()
        if upgraded_hash is not None:
            locked.password_hash = upgraded_hash
            forget_caller(self.cache, self.uow, locked.id)  # its `updated_at` moves
        max_age = dt.timedelta(days=self.settings.refresh_family_max_age_days)
        family = await self.families.start(locked.id, utc_now() + max_age)
        tokens = await self._issue_tokens(locked.id, family, None, client)
        audit.info("login succeeded", user_id=locked.id, session_id=str(family.id))
        return tokens

    async def refresh(self, refresh_token: str, client: ClientInfo) -> Token:
        """Rotate a refresh token; presenting a consumed one revokes its whole family."""
        token_hash = hash_opaque_token(refresh_token)
        consumed = await self.refresh_tokens.consume(token_hash)
        if consumed is None:
            await self._revoke_family_if_reused(token_hash)
            raise InvalidRefreshTokenError()
        # Read after the token: a family revoked meanwhile is seen here, and one revoked
        # after this point revokes the child issued below with it.
        family = await self.families.get_live(consumed.family_id)
        user = await self.users.get(consumed.user_id)
        if family is None or user is None or user.status != UserStatus.ACTIVE:
            raise InvalidRefreshTokenError()
        return await self._issue_tokens(user.id, family, consumed.id, client)

    async def _revoke_family_if_reused(self, token_hash: str) -> None:
        known = await self.refresh_tokens.get_by_hash(token_hash)
        if known is None or not known.used:
            return
        await self.families.revoke(known.family_id)
        forget_caller(self.cache, self.uow, known.user_id)
        # The revocation must outlive the 401 that follows, which rolls back.
        await self.uow.commit()
        audit.warning(
            "refresh token reuse detected",
            user_id=known.user_id,
            session_id=str(known.family_id),
            action="session revoked",
        )

    async def logout(self, user_id: int, claims: AccessClaims, refresh_token: str | None) -> None:
        """End the caller's session (every access token of it), and the given refresh
        token's session when it is the caller's."""
        await self.revoked_access_tokens.revoke(claims.jti, claims.expires_at)
        await self.families.revoke(claims.session_id)
        forget_caller(self.cache, self.uow, user_id)
        if refresh_token is None:
            return
        known = await self.refresh_tokens.get_by_hash(hash_opaque_token(refresh_token))
        if known is not None and known.user_id == user_id:
            await self.families.revoke(known.family_id)

    async def restore_password(self, email: str, limits: KeyedLimits) -> None:
        """Queue a reset link for the address; the worker mails it to an active account
        and does nothing, silently, otherwise (`app.auth.password_reset`). Limited per
        address, so nobody floods a mailbox (or keeps cancelling its link)."""
        await limits.hit(
            self.settings.rate_limit_restore_per_address, f"restore:address:{_digest(email)}"
        )
        await self.queue.enqueue(send_password_reset, email=email)

    async def reset_password(self, token: str, password: str) -> None:
        """Set a new password; every token issued to the account stops working."""
        token_hash = hash_opaque_token(token)
        user_id = await self.reset_tokens.find_user_id(token_hash)
        if user_id is None:
            raise InvalidResetTokenError()
        new_hash = await self.passwords.hash(password)
        # The user row first, then the tokens: the order of every "end them all" change,
        # so a reset and a profile change at once wait for each other, never deadlock.
        user = await self.users.lock(user_id)
        if user is None or await self.reset_tokens.consume(token_hash) is None:
            raise InvalidResetTokenError()
        await self.users.update(user, {"password_hash": new_hash, "tokens_valid_after": utc_now()})
        await self.families.revoke_all_of_user(user.id)
        await self.reset_tokens.consume_all_of_user(user.id)
        forget_caller(self.cache, self.uow, user.id)
        audit.info("password reset", user_id=user.id)

    async def _issue_tokens(
        self, user_id: int, family: RefreshFamily, parent_id: int | None, client: ClientInfo
    ) -> Token:
        access = self.access_tokens.issue(user_id, family.id)
        refresh = new_opaque_token()
        now = utc_now()
        # Rotation never takes a session past its absolute end.
        expires_at = min(
            now + dt.timedelta(days=self.settings.refresh_token_expire_days), family.expires_at
        )
        await self.refresh_tokens.add(
            RefreshToken(
                token_hash=hash_opaque_token(refresh),
                user_id=user_id,
                family_id=family.id,
                parent_id=parent_id,
                expires_at=expires_at,
                user_agent=(client.user_agent or "")[:USER_AGENT_MAX_LENGTH] or None,
                ip_address=client.ip_address,
            )
        )
        return Token(
            access_token=access.token,
            expires_in=int(self.access_tokens.lifetime.total_seconds()),
            refresh_token=refresh,
            refresh_expires_in=round((expires_at - now).total_seconds()),
        )


STATUS_EVENTS = {UserStatus.BLOCKED: "user blocked", UserStatus.ACTIVE: "user unblocked"}


def _audit_role_and_status(user: User, was: tuple[UserStatus, bool], admin_id: int) -> None:
    """One audit line per change of the account's status or superuser role."""
    status, is_superuser = was
    if user.status != status:
        audit.info(STATUS_EVENTS[user.status], user_id=user.id, by_user_id=admin_id)
    if user.is_superuser != is_superuser:
        granted = "superuser granted" if user.is_superuser else "superuser withdrawn"
        audit.info(granted, user_id=user.id, by_user_id=admin_id)


def _refuse_own_account(user_id: int, admin_id: int) -> None:
    """A superuser who blocked, demoted or deleted themselves could lock everyone out."""
    if user_id == admin_id:
        raise OwnAccountError()


class UserService:
    """The commands of user administration and of the signed-in user's profile (their
    reads are `UserQueries`)."""

    def __init__(
        self, uow: UnitOfWork, security: AuthSecurity, events: Events, cache: Cache
    ) -> None:
        self.uow = uow
        self.cache = cache
        self.passwords = security.passwords
        self.events = events
        self.users = UserRepository(uow.session)
        self.families = RefreshFamilyRepository(uow.session)
        self.reset_tokens = PasswordResetTokenRepository(uow.session)
        self.revoked_access_tokens = RevokedAccessTokenRepository(uow.session)

    async def update_user(
        self,
        user_id: int,
        data: UserAdminUpdate,
        *,
        admin_id: int,
        if_match: Precondition | None = None,
    ) -> UserRead:
        _refuse_own_account(user_id, admin_id)
        if data.is_superuser is False or data.status == UserStatus.BLOCKED:
            await self._keep_a_superuser_besides(user_id)
        user = await self._lock_or_404(user_id, if_match)
        changes = data.model_dump(exclude_none=True)
        blocking = data.status == UserStatus.BLOCKED
        newly_blocked = blocking and user.status != UserStatus.BLOCKED
        if data.status is not None:
            changes["status"] = UserStatus(data.status)
        was = (user.status, user.is_superuser)
        user = await self.users.update(user, changes)
        forget_caller(self.cache, self.uow, user.id)
        _audit_role_and_status(user, was, admin_id)
        if newly_blocked:
            await self.families.revoke_all_of_user(user.id)
            self.events.publish(UserBlocked(user_id=user.id))
        return UserRead.model_validate(user)

    async def delete_user(
        self, user_id: int, *, admin_id: int, if_match: Precondition | None = None
    ) -> None:
        _refuse_own_account(user_id, admin_id)
        await self._keep_a_superuser_besides(user_id)
        user = await self._lock_or_404(user_id, if_match)
        await self._delete(user, by_user_id=admin_id)

    async def _keep_a_superuser_besides(self, user_id: int) -> None:
        """409 when `user_id` is the last active superuser. Locks every active superuser
        first (before the target row, in one order for all), so two superusers removing
        each other at once are serialised and the second one sees the first one's change."""
        superusers = await self.users.lock_active_superusers()
        if superusers == [user_id]:
            raise LastSuperuserError()

    async def _lock_or_404(self, user_id: int, if_match: Precondition | None = None) -> User:
        """The account, locked until the commit, once it still is as `if_match` expects
        (checked under the lock: of two writers with one entity tag, the second sees the
        first one's change)."""
        user = await self.users.lock_or_404(user_id)
        if if_match is not None:
            if_match.check(UserRead.model_validate(user))
        return user

    async def update_profile(
        self,
        user_id: int,
        data: ProfileUpdate,
        session_id: uuid.UUID,
        *,
        if_match: Precondition | None = None,
    ) -> UserRead:
        """Change the account; a new password or email ends every other session and
        every outstanding reset link (the session making the change goes on)."""
        user = await self._lock_or_404(user_id, if_match)
        credentials_change = data.email is not None or data.password is not None
        if credentials_change:
            await self._check_current_password(user, data.current_password)
        changes = data.model_dump(include={"username", "email"}, exclude_none=True)
        if data.password is not None:
            changes["password_hash"] = await self.passwords.hash(data.password)
        if credentials_change:
            await self.families.revoke_all_of_user(user.id, keep=session_id)
            await self.reset_tokens.consume_all_of_user(user.id)
        try:
            updated = await self.users.update(user, changes)
        except IntegrityError as error:
            raise_taken(error)
        forget_caller(self.cache, self.uow, user.id)
        if data.password is not None:
            audit.info("password changed", user_id=user.id, other_sessions="revoked")
        if data.email is not None:
            audit.info("email changed", user_id=user.id, other_sessions="revoked")
        return UserRead.model_validate(updated)

    async def _check_current_password(self, user: User, current_password: str | None) -> None:
        if current_password is None:
            raise WrongCurrentPasswordError()
        valid, _ = await self.passwords.verify(current_password, user.password_hash)
        if not valid:
            raise WrongCurrentPasswordError()

    async def delete_profile(
        self,
        user_id: int,
        current_password: str,
        claims: AccessClaims,
        *,
        if_match: Precondition | None = None,
    ) -> None:
        await self._keep_a_superuser_besides(user_id)
        user = await self._lock_or_404(user_id, if_match)
        await self._check_current_password(user, current_password)
        await self.revoked_access_tokens.revoke(claims.jti, claims.expires_at)
        await self._delete(user, by_user_id=user.id)

    async def _delete(self, user: User, *, by_user_id: int) -> None:
        await self.users.soft_delete(user)
        await self.families.revoke_all_of_user(user.id)
        forget_caller(self.cache, self.uow, user.id)
        audit.info("user deleted", user_id=user.id, by_user_id=by_user_id)
        self.events.publish(UserDeleted(user_id=user.id))
