"""The write side's persistence of posts: ORM objects for the commands; no commits, no HTTP."""

from __future__ import annotations

from app.core.db import utc_now
from app.core.repository import BaseRepository, bulk_update
from app.posts.exceptions import PostNotFoundError
from app.posts.models import Post


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
