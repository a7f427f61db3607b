"""The posts module's FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.core.deps import DatabaseDep, EventsDep, UnitOfWorkDep
from app.posts.queries import PostQueries
from app.posts.service import PostService


async def get_post_queries(database: DatabaseDep) -> PostQueries:
    return PostQueries(database)


PostQueriesDep = Annotated[PostQueries, Depends(get_post_queries)]


async def get_post_service(uow: UnitOfWorkDep, events: EventsDep) -> PostService:
    return PostService(uow, events)


PostServiceDep = Annotated[PostService, Depends(get_post_service)]
