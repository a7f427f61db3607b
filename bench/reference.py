"""The bare reference of `make bench`: the floor of the kit's stack.

The same FastAPI, SQLAlchemy (async) and psycopg 3 as the kit, served the same way (one
uvicorn worker, uvloop, httptools), on the kit's own tables (the kit migrates them; this
app only reads), with no middleware, no dependency graph, no access log and no rate
limiter: each measured route sends exactly the SQL the kit sends for it and answers the
same JSON. The kit's cost over this app is the cost of its own layers.

What the reference deliberately does not pay, so that the ratio shows it:
- reads run in autocommit (no BEGIN / COMMIT round trips) and the pool does not ping a
  connection before lending it (as the kit, whose `DATABASE_POOL_PRE_PING` is off);
- one connection per request, checked out once.

The statements of every route are the `*_SQL` constants below, copied from the kit's SQL
echo (`DATABASE_ECHO=true`). When a kit query changes shape, change its constant here.

Started by `make bench` (`bench/servers.py`) as `uvicorn bench.reference:create_app
--factory`; it reads `DATABASE_URL`, `SECRET_KEY`, and `JWT_ALGORITHM`, `JWT_ISSUER`,
`JWT_AUDIENCE` (the kit's defaults when unset), and nothing of the kit's code: its memory
is the bare stack's.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import uuid
from typing import Annotated, Any

import jwt
from fastapi import FastAPI, Header, HTTPException, Path, Query
from pydantic import BaseModel
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

# --- The SQL of each measured route, as the kit sends it (align here when the kit changes).

# `GET /profile` and the caller of `GET /movies/{id}`: `find_authenticated`
# (app/auth/queries.py), the live user behind a token, its revocation checked, in one
# statement.
AUTHENTICATED_USER_SQL = text(
    "SELECT users.id, users.username, users.email, users.status, users.is_superuser, "
    "users.created_at, users.updated_at FROM users "
    "WHERE users.id = :user_id AND users.deleted_at IS NULL "
    "AND NOT (EXISTS (SELECT * FROM revoked_access_tokens "
    "WHERE revoked_access_tokens.jti = :jti)) "
    "AND (EXISTS (SELECT * FROM refresh_families WHERE refresh_families.id = :session_id "
    "AND refresh_families.user_id = users.id AND refresh_families.revoked_at IS NULL)) "
    "AND (users.tokens_valid_after IS NULL OR users.tokens_valid_after <= :issued_at)"
)
# `GET /posts/{id}`: `live_row` on posts (app/core/queries.py), from `PostQueries.get_post`.
POST_BY_ID_SQL = text(
    "SELECT posts.id, posts.title, posts.content, posts.user_id, posts.created_at, "
    "posts.updated_at, posts.deleted_at FROM posts "
    "WHERE posts.deleted_at IS NULL AND posts.id = :post_id"
)
# `GET /posts`: `fetch_page` (app/core/queries.py): the count, bounded at 10,001 rows,
# then the page, one row longer than asked for and with the sort key as stored; default sort.
POSTS_COUNT_SQL = text(
    "SELECT count(*) AS count_1 FROM (SELECT posts.id AS id, posts.title AS title, "
    "posts.content AS content, posts.user_id AS user_id, posts.created_at AS created_at, "
    "posts.updated_at AS updated_at, posts.deleted_at AS deleted_at FROM posts "
    "WHERE posts.deleted_at IS NULL LIMIT 10001) AS anon_1"
)
POSTS_PAGE_SQL = text(
    "SELECT posts.id, posts.title, posts.content, posts.user_id, posts.created_at, "
    "posts.updated_at, posts.deleted_at, posts.created_at AS cursor_key_0, "
    "posts.id AS cursor_key_1 FROM posts WHERE posts.deleted_at IS NULL "
    "ORDER BY posts.created_at DESC, posts.id DESC LIMIT :limit OFFSET :offset"
)
# Author names of posts: `user_names` (app/auth/queries.py) through `AuthGateway.get_users`
# (app/auth/gateway.py), one batched query per request.
USER_NAMES_SQL = text(
    "SELECT users.id, users.username FROM users "
    "WHERE users.id IN :user_ids AND users.deleted_at IS NULL"
).bindparams(bindparam("user_ids", expanding=True))
# `GET /movies/{id}` on a cache miss: `live_row` on movies (app/core/queries.py).
MOVIE_BY_ID_SQL = text(
    "SELECT movies.movie_id, movies.title, movies.released, movies.rating, "
    "movies.created_at, movies.updated_at FROM movies WHERE movies.movie_id = :movie_id"
)

# Autocommit: a read pays no BEGIN and no COMMIT; no pre-ping (see the module docstring).
ENGINE_OPTIONS: dict[str, Any] = {
    "isolation_level": "AUTOCOMMIT",
    "pool_size": 10,
    "max_overflow": 10,
    "pool_timeout": 5.0,
}
MAX_ID = 2**31 - 1
Authorization = Annotated[str | None, Header()]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


class UserOut(BaseModel):
    id: int
    username: str
    email: str
    status: str
    is_superuser: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class PostOut(BaseModel):
    id: int
    title: str
    content: str
    user_id: int
    user_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PostPage(BaseModel):
    items: list[PostOut]
    total: int
    total_exact: bool
    page: int
    per_page: int
    pages: int


class MovieOut(BaseModel):
    movie_id: int
    title: str
    released: int
    rating: float
    created_at: dt.datetime
    updated_at: dt.datetime


class AccessTokens:
    """The kit's access-token check (app/auth/security.py `AccessTokenCodec.decode`)."""

    REQUIRED_CLAIMS = ("sub", "exp", "iat", "jti", "sid", "type", "iss", "aud")

    def __init__(self) -> None:
        self.key = os.environ["SECRET_KEY"]
        self.algorithm = os.environ.get("JWT_ALGORITHM", "HS256")
        self.issuer = os.environ.get("JWT_ISSUER", "fastapi-modulith")
        self.audience = os.environ.get("JWT_AUDIENCE", "fastapi-modulith")

    def claims(self, authorization: str | None) -> dict[str, Any]:
        """`user_id`, `jti`, `issued_at` of a valid Bearer access token; 401 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
        try:
            payload = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(self.REQUIRED_CLAIMS)},
            )
        except jwt.InvalidTokenError:
            raise HTTPException(401, "Invalid token", {"WWW-Authenticate": "Bearer"}) from None
        subject, jti = payload["sub"], payload["jti"]
        if payload["type"] != "access" or not (isinstance(subject, str) and subject.isdigit()):
            raise HTTPException(401, "Invalid token", {"WWW-Authenticate": "Bearer"})
        return {
            "user_id": int(subject),
            "jti": jti,
            "session_id": uuid.UUID(payload["sid"]),
            "issued_at": dt.datetime.fromtimestamp(payload["iat"], dt.UTC),
        }


async def active_user(
    connection: AsyncConnection, tokens: AccessTokens, authorization: str | None
) -> UserOut:
    user = (
        await connection.execute(AUTHENTICATED_USER_SQL, tokens.claims(authorization))
    ).one_or_none()
    if user is None or user.status != "active":
        raise HTTPException(401, "Invalid token", {"WWW-Authenticate": "Bearer"})
    return UserOut.model_validate(user, from_attributes=True)


async def author_names(connection: AsyncConnection, user_ids: set[int]) -> dict[int, str]:
    rows = await connection.execute(USER_NAMES_SQL, {"user_ids": list(user_ids)})
    return {row.id: row.username for row in rows}


def post_out(row: Any, names: dict[int, str]) -> PostOut:
    return PostOut(
        id=row.id,
        title=row.title,
        content=row.content,
        user_id=row.user_id,
        user_name=names.get(row.user_id),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def create_app() -> FastAPI:
    """The reference app (a factory, so that importing this module connects nothing)."""
    engine = create_async_engine(
        os.environ["DATABASE_URL"], connect_args={"connect_timeout": 5}, **ENGINE_OPTIONS
    )
    tokens = AccessTokens()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.engine = engine  # for whoever runs it in process to dispose of

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/profile")
    async def profile(authorization: Authorization = None) -> UserOut:
        async with engine.connect() as connection:
            return await active_user(connection, tokens, authorization)

    @app.get("/api/v1/posts/{post_id}")
    async def post(post_id: PathId) -> PostOut:
        async with engine.connect() as connection:
            row = (await connection.execute(POST_BY_ID_SQL, {"post_id": post_id})).one_or_none()
            if row is None:
                raise HTTPException(404, f"Post {post_id} not found")
            return post_out(row, await author_names(connection, {row.user_id}))

    @app.get("/api/v1/posts")
    async def posts(
        page: Annotated[int, Query(ge=1, le=1_000_000_000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> PostPage:
        async with engine.connect() as connection:
            total = (await connection.execute(POSTS_COUNT_SQL)).scalar_one()
            rows = (
                await connection.execute(
                    POSTS_PAGE_SQL, {"limit": per_page + 1, "offset": (page - 1) * per_page}
                )
            ).all()[:per_page]
            names = await author_names(connection, {row.user_id for row in rows})
        return PostPage(
            items=[post_out(row, names) for row in rows],
            total=total,
            total_exact=total <= 10_000,  # the bench's table stays below (no estimate here)
            page=page,
            per_page=per_page,
            pages=math.ceil(total / per_page),
        )

    @app.get("/api/v1/movies/{movie_id}")
    async def movie(movie_id: PathId, authorization: Authorization = None) -> MovieOut:
        async with engine.connect() as connection:
            await active_user(connection, tokens, authorization)
            row = (await connection.execute(MOVIE_BY_ID_SQL, {"movie_id": movie_id})).one_or_none()
        if row is None:
            raise HTTPException(404, f"Movie {movie_id} not found")
        return MovieOut.model_validate(row, from_attributes=True)

    return app
