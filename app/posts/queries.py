"""The read side of the posts module: Core statements built once, run on a read
connection (`Database.reading`), returning `PostRead` (no ORM session, no unit of work)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth import AuthGateway
from app.core.db import Database
from app.core.listing import ListParams, ListSpec, Page, SortField
from app.core.queries import fetch_page, live_row, live_rows
from app.posts.exceptions import PostNotFoundError
from app.posts.models import Post
from app.posts.schemas import PostRead

POST_LIST_SPEC = ListSpec(
    sortable={"id": Post.id, "created_at": Post.created_at, "title": Post.title},
    filterable={"user_id": Post.user_id, "title": Post.title},
    default_sort=(SortField("created_at", descending=True),),
    tiebreaker=Post.id,
)
# How many live posts each of some users has (see `count_posts_by_user`).
POSTS_BY_USER = (
    select(Post.user_id, func.count())
    .where(Post.user_id.in_(bindparam("ids", expanding=True)), Post.deleted_at.is_(None))
    .group_by(Post.user_id)
)


async def author_names(connection: AsyncConnection, user_ids: Iterable[int]) -> dict[int, str]:
    """The names of these authors (gone ones left out), in one call however many posts."""
    authors = await AuthGateway(connection).get_users(user_ids)
    return {user_id: author.username for user_id, author in authors.items()}


async def count_posts_by_user(
    connection: AsyncConnection, user_ids: Iterable[int]
) -> dict[int, int]:
    """How many live posts each of `user_ids` has (absent: none), in one query."""
    ids = set(user_ids)
    if not ids:
        return {}
    rows = await connection.execute(POSTS_BY_USER, {"ids": list(ids)})
    return dict(rows.all())


def _post_read(row: Row[Any], names: Mapping[int, str]) -> PostRead:
    fields = row._mapping
    return PostRead(
        id=fields["id"],
        title=fields["title"],
        content=fields["content"],
        user_id=fields["user_id"],
        user_name=names.get(fields["user_id"]),
        created_at=fields["created_at"],
        updated_at=fields["updated_at"],
    )


class PostQueries:
    """The reads of `/posts`, each on a read connection of its own."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def list_posts(self, params: ListParams) -> Page[PostRead]:
        async with self._database.reading() as connection:
            page = await fetch_page(connection, live_rows(Post), POST_LIST_SPEC, params)
            names = await author_names(connection, (row.user_id for row in page.items))
        return page.map(PostRead, lambda row: _post_read(row, names))

    async def get_post(self, post_id: int) -> PostRead:
        async with self._database.reading() as connection:
            row = await live_row(connection, Post, post_id)
            if row is None:
                raise PostNotFoundError(f"Post {post_id} not found")
            names = await author_names(connection, [row.user_id])
        return _post_read(row, names)
