"""What other modules may ask of the posts module."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.deps import SessionDep
from app.posts.repository import PostRepository


class PostsGateway:
    """Reads about posts for other modules (a profile page, moderation...).

    Part of the module's published contract: no module calls it yet; it is here so that
    the next one needs nothing from inside `posts`.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._posts = PostRepository(session)

    async def count_posts_by_user(self, user_ids: Iterable[int]) -> dict[int, int]:
        """How many live posts each of `user_ids` has (absent: none), in one query."""
        return await self._posts.count_by_user(user_ids)


async def get_posts_gateway(session: SessionDep) -> PostsGateway:
    return PostsGateway(session)


PostsGatewayDep = Annotated[PostsGateway, Depends(get_posts_gateway)]
