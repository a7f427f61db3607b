"""What other modules may ask of the posts module."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.deps import ReadConnectionDep
from app.posts.queries import count_posts_by_user


class PostsGateway:
    """Reads about posts for other modules (a profile page, moderation...).

    Part of the module's published contract: no module calls it yet; it is here so that
    the next one needs nothing from inside `posts`.
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def count_posts_by_user(self, user_ids: Iterable[int]) -> dict[int, int]:
        """How many live posts each of `user_ids` has (absent: none), in one query."""
        return await count_posts_by_user(self._connection, user_ids)


async def get_posts_gateway(connection: ReadConnectionDep) -> PostsGateway:
    return PostsGateway(connection)


PostsGatewayDep = Annotated[PostsGateway, Depends(get_posts_gateway)]
