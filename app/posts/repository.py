"""Queries on the posts table; no commits, no HTTP."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from app.core.db import utc_now
from app.core.listing import ListSpec, SortField
from app.core.repository import BaseRepository, bulk_update
from app.posts.exceptions import PostNotFoundError
from app.posts.models import Post

POST_LIST_SPEC = ListSpec(
    sortable={"id": Post.id, "created_at": Post.created_at, "title": Post.title},
    filterable={"user_id": Post.user_id, "title": Post.title},
    default_sort=(SortField("created_at", descending=True),),
    tiebreaker=Post.id,
)


class PostRepository(BaseRepository[Post]):
    model = Post
    not_found_error = PostNotFoundError

    async def soft_delete_all_of_user(self, user_id: int) -> int:
        """Mark every live post of `user_id` deleted in one statement; how many were."""
        result = await self.session.execute(
            bulk_update(
                Post, Post.user_id == user_id, Post.deleted_at.is_(None), deleted_at=utc_now()
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def count_by_user(self, user_ids: Iterable[int]) -> dict[int, int]:
        ids = set(user_ids)
        if not ids:
            return {}
        rows = await self.session.execute(
            select(Post.user_id, func.count())
            .where(Post.user_id.in_(ids), Post.deleted_at.is_(None))
            .group_by(Post.user_id)
        )
        return dict(rows.all())
