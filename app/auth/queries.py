"""The read side of the auth module: Core statements built once, run on a read connection
(`Database.reading`), returning `UserRead` (no ORM session, no unit of work)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.exceptions import UserNotFoundError
from app.auth.models import RefreshFamily, RevokedAccessToken, User
from app.auth.names import name_key
from app.auth.schemas import UserRead
from app.core.db import Database
from app.core.listing import ListParams, ListSpec, Page, SortField
from app.core.queries import fetch_page, live_rows

USER_LIST_SPEC = ListSpec(
    sortable={
        "id": User.id,
        "username": User.username,
        "email": User.email,
        "status": User.status,
        "created_at": User.created_at,
    },
    filterable={
        "id": User.id,
        "username": User.username,
        "email": User.email,
        "status": User.status,
        "is_superuser": User.is_superuser,
    },
    default_sort=(SortField("id"),),
    tiebreaker=User.id,
    case_insensitive=frozenset({"email"}),  # as the unique index and sign-in compare it
)


# What `UserRead` shows of an account.
READ_COLUMNS = (
    User.id,
    User.username,
    User.email,
    User.status,
    User.is_superuser,
    User.created_at,
    User.updated_at,
)

_USERS = User.__table__.c
_FAMILIES = RefreshFamily.__table__.c
_REVOKED = RevokedAccessToken.__table__.c
# The names of live users (see `user_names`).
USER_NAMES = select(_USERS.id, _USERS.username).where(
    _USERS.id.in_(bindparam("ids", expanding=True)), _USERS.deleted_at.is_(None)
)
# The live account behind an access token (see `find_authenticated`).
AUTHENTICATED_USER = select(*(_USERS[column.key] for column in READ_COLUMNS)).where(
    _USERS.id == bindparam("user_id"),
    _USERS.deleted_at.is_(None),
    ~exists().where(_REVOKED.jti == bindparam("jti")),
    exists().where(
        _FAMILIES.id == bindparam("session_id"),
        _FAMILIES.user_id == _USERS.id,
        _FAMILIES.revoked_at.is_(None),
    ),
    or_(_USERS.tokens_valid_after.is_(None), _USERS.tokens_valid_after <= bindparam("issued_at")),
)


async def find_authenticated(
    connection: AsyncConnection,
    user_id: int,
    jti: str,
    session_id: uuid.UUID,
    issued_at: dt.datetime,
) -> Row[*tuple[Any, ...]] | None:
    """The live account behind an access token, in one query: not deleted, the token not
    logged out, its session (refresh family) not revoked, and not issued before the
    account's last password reset. Each condition is a primary-key probe.

    Every authenticated request pays for it: a statement built once (compiled once, its
    cache key memoised), run as Core on a plain connection, read as a row of the columns
    `UserRead` shows (no ORM object, no identity map, no session)."""
    result = await connection.execute(
        AUTHENTICATED_USER,
        {"user_id": user_id, "jti": jti, "session_id": session_id, "issued_at": issued_at},
    )
    return result.one_or_none()


# What signing in checks of an account (deleted ones included), by its email or username key.
_LOGIN_COLUMNS = (_USERS.id, _USERS.password_hash, _USERS.status, _USERS.deleted_at)
LOGIN_BY_EMAIL = select(*_LOGIN_COLUMNS).where(_USERS.email_key == bindparam("key"))
LOGIN_BY_USERNAME = select(*_LOGIN_COLUMNS).where(_USERS.username_key == bindparam("key"))


async def login_account(database: Database, login: str) -> Row[*tuple[Any, ...]] | None:
    """The account named by an email or a username (in any case or Unicode form): its id,
    password hash, status and deletion, read outside any transaction, so that none stays
    open while the password is checked (the session then starts under the row's lock)."""
    statement = LOGIN_BY_EMAIL if "@" in login else LOGIN_BY_USERNAME
    async with database.reading() as connection:
        result = await connection.execute(statement, {"key": name_key(login)})
        return result.one_or_none()


# The live account with this id, as `UserRead` shows it (`GET /users/{id}`).
USER_BY_ID = select(*(_USERS[column.key] for column in READ_COLUMNS)).where(
    _USERS.id == bindparam("user_id"), _USERS.deleted_at.is_(None)
)


async def user_names(connection: AsyncConnection, user_ids: Iterable[int]) -> dict[int, str]:
    """The usernames of the live users among `user_ids`, by id, in one query."""
    ids = set(user_ids)
    if not ids:
        return {}
    rows = await connection.execute(USER_NAMES, {"ids": list(ids)})
    return {row.id: row.username for row in rows}


class UserQueries:
    """The reads of user administration, each on a read connection of its own."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def list_users(self, params: ListParams) -> Page[UserRead]:
        async with self._database.reading() as connection:
            page = await fetch_page(connection, live_rows(User), USER_LIST_SPEC, params)
        return page.map(UserRead)

    async def get_user(self, user_id: int) -> UserRead:
        async with self._database.reading() as connection:
            row = (await connection.execute(USER_BY_ID, {"user_id": user_id})).one_or_none()
        if row is None:
            raise UserNotFoundError(f"User {user_id} not found")
        return UserRead.model_validate(row)
