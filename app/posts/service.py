"""Use cases of the posts module; raises domain errors, never HTTP ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.auth import UserRead
from app.core.db import UnitOfWork
from app.core.events import Events
from app.core.representations import Precondition
from app.posts.events import PostCreated, PostDeleted, PostUpdated
from app.posts.models import Post
from app.posts.policy import ensure_can_change
from app.posts.queries import author_names
from app.posts.repository import PostRepository
from app.posts.schemas import PostCreate, PostRead, PostUpdate


def to_post_read(post: Post, user_name: str | None) -> PostRead:
    return PostRead(
        id=post.id,
        title=post.title,
        content=post.content,
        user_id=post.user_id,
        user_name=user_name,
        created_at=post.created_at,
        updated_at=post.updated_at,
    )


async def hide_posts_of_user(uow: UnitOfWork, user_id: int) -> int:
    """Soft-delete every post of a deleted user (idempotent); how many were hidden."""
    return await PostRepository(uow.session).soft_delete_all_of_user(user_id)


class PostService:
    """The commands on posts: signed-in users write, authors (or superusers) change their
    own (the reads are `PostQueries`)."""

    def __init__(self, uow: UnitOfWork, events: Events) -> None:
        self.session = uow.session
        self.events = events
        self.posts = PostRepository(uow.session)

    async def _with_author_name(self, post: Post) -> PostRead:
        """The post's representation, its author's name read in the command's transaction."""
        names = await author_names(await self.session.connection(), [post.user_id])
        return to_post_read(post, names.get(post.user_id))

    async def create_post(self, data: PostCreate, author: UserRead) -> PostRead:
        post = await self.posts.add(Post(**data.model_dump(), user_id=author.id))
        self.events.publish(PostCreated(post_id=post.id, user_id=author.id))
        return to_post_read(post, author.username)

    async def replace_post(
        self,
        post_id: int,
        data: PostCreate,
        user: UserRead,
        *,
        if_match: Precondition | None = None,
    ) -> PostRead:
        return await self._change(post_id, data.model_dump(), user, if_match)

    async def update_post(
        self,
        post_id: int,
        data: PostUpdate,
        user: UserRead,
        *,
        if_match: Precondition | None = None,
    ) -> PostRead:
        return await self._change(post_id, data.model_dump(exclude_none=True), user, if_match)

    async def _change(
        self,
        post_id: int,
        values: Mapping[str, Any],
        user: UserRead,
        if_match: Precondition | None,
    ) -> PostRead:
        post = await self._lock_for_change(post_id, user, if_match)
        await self.posts.update(post, values)
        self.events.publish(PostUpdated(post_id=post.id, user_id=post.user_id))
        return await self._with_author_name(post)

    async def delete_post(
        self, post_id: int, user: UserRead, *, if_match: Precondition | None = None
    ) -> None:
        post = await self._lock_for_change(post_id, user, if_match)
        await self.posts.soft_delete(post)
        self.events.publish(PostDeleted(post_id=post.id, user_id=post.user_id))

    async def _lock_for_change(
        self, post_id: int, user: UserRead, if_match: Precondition | None
    ) -> Post:
        """The post, locked until the commit, once `user` may change it and it still is
        as `if_match` expects (checked under the lock: of two writers with one entity
        tag, the second sees the first one's change)."""
        post = await self.posts.lock_or_404(post_id)
        ensure_can_change(user, post)
        if if_match is not None:
            if_match.check(await self._with_author_name(post))
        return post
