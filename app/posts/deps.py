"""The posts module's FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth import AuthGatewayDep
from app.core.deps import EventsDep, UnitOfWorkDep
from app.core.listing import ListParams, list_params
from app.posts.repository import POST_LIST_SPEC
from app.posts.service import PostService


async def get_post_service(
    uow: UnitOfWorkDep, events: EventsDep, auth: AuthGatewayDep
) -> PostService:
    return PostService(uow, events, auth)


PostServiceDep = Annotated[PostService, Depends(get_post_service)]

PostListParams = Annotated[ListParams, Depends(list_params(POST_LIST_SPEC))]
