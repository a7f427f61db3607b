"""HTTP layer of the posts module: parse, call one service method, return the DTO."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Path

from app.auth import ActiveUser
from app.core.listing import Page
from app.posts.deps import PostListParams, PostServiceDep
from app.posts.schemas import PostCreate, PostRead, PostUpdate

PostId = Annotated[int, Path(ge=1, le=2**31 - 1)]

router = APIRouter(prefix="/posts", tags=["posts"])


@router.get("")
async def list_posts(params: PostListParams, posts: PostServiceDep) -> Page[PostRead]:
    """List posts, newest first by default."""
    return await posts.list_posts(params)


@router.get("/{post_id}")
async def get_post(post_id: PostId, posts: PostServiceDep) -> PostRead:
    """Read one post."""
    return await posts.get_post(post_id)


@router.post("", status_code=HTTPStatus.CREATED)
async def create_post(data: PostCreate, user: ActiveUser, posts: PostServiceDep) -> PostRead:
    """Publish a post as the signed-in user."""
    return await posts.create_post(data, user)


@router.put("/{post_id}")
async def replace_post(
    post_id: PostId, data: PostCreate, user: ActiveUser, posts: PostServiceDep
) -> PostRead:
    """Replace a post's title and content (its author or a superuser)."""
    return await posts.replace_post(post_id, data, user)


@router.patch("/{post_id}")
async def update_post(
    post_id: PostId, data: PostUpdate, user: ActiveUser, posts: PostServiceDep
) -> PostRead:
    """Change a post's title or content (its author or a superuser)."""
    return await posts.update_post(post_id, data, user)


@router.delete("/{post_id}", status_code=HTTPStatus.NO_CONTENT)
async def delete_post(post_id: PostId, user: ActiveUser, posts: PostServiceDep) -> None:
    """Delete a post (its author or a superuser)."""
    await posts.delete_post(post_id, user)
