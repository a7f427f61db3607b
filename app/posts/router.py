"""HTTP layer of the posts module: parse, call one service method, return the DTO."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import APIRouter, Response

from app.auth import ActiveUser
from app.core.listing import Page
from app.core.schemas import PathId
from app.posts.deps import PostListParams, PostServiceDep
from app.posts.schemas import PostCreate, PostRead, PostUpdate

router = APIRouter(prefix="/posts", tags=["posts"])


@router.get("")
async def list_posts(params: PostListParams, posts: PostServiceDep) -> Page[PostRead]:
    """List posts, newest first by default."""
    return await posts.list_posts(params)


@router.get("/{post_id}")
async def get_post(post_id: PathId, posts: PostServiceDep) -> PostRead:
    """Read one post."""
    return await posts.get_post(post_id)


@router.post("", status_code=HTTPStatus.CREATED)
async def create_post(data: PostCreate, user: ActiveUser, posts: PostServiceDep) -> PostRead:
    """Publish a post as the signed-in user."""
    return await posts.create_post(data, user)


@router.put("/{post_id}")
async def replace_post(
    post_id: PathId, data: PostCreate, user: ActiveUser, posts: PostServiceDep
) -> PostRead:
    """Replace a post's title and content (its author or a superuser)."""
    return await posts.replace_post(post_id, data, user)


@router.patch("/{post_id}")
async def update_post(
    post_id: PathId, data: PostUpdate, user: ActiveUser, posts: PostServiceDep
) -> PostRead:
    """Change a post's title or content (its author or a superuser)."""
    return await posts.update_post(post_id, data, user)


@router.delete("/{post_id}", status_code=HTTPStatus.NO_CONTENT, response_class=Response)
async def delete_post(post_id: PathId, user: ActiveUser, posts: PostServiceDep) -> None:
    """Delete a post (its author or a superuser)."""
    await posts.delete_post(post_id, user)
