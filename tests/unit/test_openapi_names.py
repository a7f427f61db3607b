"""Operation ids and tags of a module the kit does not know yet (a scaffolded one)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from app.core.openapi import document_for_clients, operation_id


def _document_of(router: APIRouter) -> dict[str, Any]:
    app = FastAPI(generate_unique_id_function=operation_id)
    app.include_router(router)
    return document_for_clients(app.openapi())


def test_the_action_drops_the_tag_plural_or_singular() -> None:
    router = APIRouter(prefix="/blog-posts", tags=["blog_posts"])

    @router.get("")
    async def list_blog_posts() -> None: ...

    @router.get("/{post_id}")
    async def get_blog_post(post_id: int) -> None: ...

    @router.post("/{post_id}/publish")
    async def publish(post_id: int) -> None: ...

    paths = _document_of(router)["paths"]
    assert paths["/blog-posts"]["get"]["operationId"] == "blog_posts_list"
    assert paths["/blog-posts/{post_id}"]["get"]["operationId"] == "blog_posts_get"
    assert paths["/blog-posts/{post_id}/publish"]["post"]["operationId"] == "blog_posts_publish"


def test_a_tag_without_a_description_is_defined_with_a_plain_one() -> None:
    router = APIRouter(prefix="/book-series", tags=["book_series"])

    @router.get("")
    async def list_book_series() -> None: ...

    document = _document_of(router)
    assert document["tags"] == [
        {"name": "book_series", "description": "The book series operations"}
    ]
    assert document["paths"]["/book-series"]["get"]["operationId"] == "book_series_list"
    assert document["paths"]["/book-series"]["get"]["security"] == []


def test_an_untagged_route_is_named_by_its_function() -> None:
    router = APIRouter()

    @router.get("/ping")
    async def ping() -> None: ...

    assert _document_of(router)["paths"]["/ping"]["get"]["operationId"] == "ping"
