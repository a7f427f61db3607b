"""HTTP layer of the posts module: parse, call one query (reads) or one service method
(writes), return the DTO (a single post as its representation, with its entity tag)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.auth import ActiveUser
from app.core.listing import ListParams, Page, list_params
from app.core.representations import (
    CHANGE_RESPONSES,
    CREATED_RESPONSES,
    DELETE_RESPONSES,
    READ_PARAMETERS,
    READ_RESPONSES,
    IfMatch,
    location,
    representation,
)
from app.core.schemas import PathId
from app.posts.deps import PostQueriesDep, PostServiceDep
from app.posts.queries import POST_LIST_SPEC
from app.posts.schemas import PostCreate, PostRead, PostUpdate

router = APIRouter(prefix="/posts", tags=["posts"])

# A list's query parameters, checked against the whitelist of its query (queries.py).
PostListParams = Annotated[ListParams, Depends(list_params(POST_LIST_SPEC))]


@router.get("")
async def list_posts(params: PostListParams, posts: PostQueriesDep) -> Page[PostRead]:
    """List posts, newest first by default."""
    return await posts.list_posts(params)


@router.get(
    "/{post_id}",
    response_model=PostRead,
    responses=READ_RESPONSES,
    openapi_extra=READ_PARAMETERS,
)
async def get_post(post_id: PathId, posts: PostQueriesDep, request: Request) -> Response:
    """Read one post."""
    return representation(await posts.get_post(post_id), request)


@router.post("", status_code=HTTPStatus.CREATED, responses=CREATED_RESPONSES)
async def create_post(
    data: PostCreate, user: ActiveUser, posts: PostServiceDep, request: Request, response: Response
) -> PostRead:
    """Publish a post as the signed-in user."""
    post = await posts.create_post(data, user)
    response.headers["Location"] = location(request, get_post, post_id=post.id)
    return post


@router.put("/{post_id}", response_model=PostRead, responses=CHANGE_RESPONSES)
async def replace_post(
    post_id: PathId, data: PostCreate, user: ActiveUser, posts: PostServiceDep, expected: IfMatch
) -> Response:
    """Replace a post's title and content (its author or a superuser)."""
    return representation(await posts.replace_post(post_id, data, user, if_match=expected))


@router.patch("/{post_id}", response_model=PostRead, responses=CHANGE_RESPONSES)
async def update_post(
    post_id: PathId, data: PostUpdate, user: ActiveUser, posts: PostServiceDep, expected: IfMatch
) -> Response:
    """Change a post's title or content (its author or a superuser)."""
    return representation(await posts.update_post(post_id, data, user, if_match=expected))


@router.delete(
    "/{post_id}",
    status_code=HTTPStatus.NO_CONTENT,
    response_class=Response,
    responses=DELETE_RESPONSES,
)
async def delete_post(
    post_id: PathId, user: ActiveUser, posts: PostServiceDep, expected: IfMatch
) -> None:
    """Delete a post (its author or a superuser)."""
    await posts.delete_post(post_id, user, if_match=expected)
