"""/posts: public reads, signed-in writes, author-or-superuser changes, batched author names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.auth.models import User
from app.core.events import BaseEvent
from app.posts import PostCreated, PostDeleted, PostsGateway, PostUpdated
from tests.factories import create_post, create_user
from tests.integration.accounts import API, bearer, login
from tests.responses import assert_no_content

POSTS = f"{API}/posts"
NEW_POST = {"title": "Hello", "content": "First post"}
CHANGES = [("PUT", NEW_POST), ("PATCH", {"title": "x"}), ("DELETE", None)]


@pytest.fixture
async def other_headers(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    """Someone signed in who is neither the author nor a superuser."""
    other = await create_user(session)
    return bearer((await login(client, other.username))["access_token"])


@pytest.fixture
async def post_url(client: httpx.AsyncClient, user_headers: dict[str, str]) -> str:
    """A post written by `user` through the API."""
    response = await client.post(POSTS, json=NEW_POST, headers=user_headers)
    assert response.status_code == 201
    return f"{POSTS}/{response.json()['id']}"


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements run meanwhile (the test harness's savepoints left out)."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        if not args[2].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
            statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_create_then_read_without_signing_in(
    client: httpx.AsyncClient, user: User, user_headers: dict[str, str]
) -> None:
    created = await client.post(POSTS, json=NEW_POST, headers=user_headers)
    assert created.status_code == 201
    post = created.json()
    assert post | {"id": None, "created_at": None, "updated_at": None} == NEW_POST | {
        "id": None,
        "user_id": user.id,
        "user_name": user.username,
        "created_at": None,
        "updated_at": None,
    }
    assert (await client.get(f"{POSTS}/{post['id']}")).json() == post
    assert (await client.get(POSTS)).json()["items"] == [post]


async def test_anonymous_writes_are_401(client: httpx.AsyncClient, post_url: str) -> None:
    assert (await client.post(POSTS, json=NEW_POST)).status_code == 401
    for method, body in CHANGES:
        response = await client.request(method, post_url, json=body)
        assert response.status_code == 401, method
        assert response.headers["www-authenticate"] == "Bearer"


async def test_only_the_author_or_a_superuser_changes_a_post(
    client: httpx.AsyncClient, post_url: str, other_headers: dict[str, str]
) -> None:
    for method, body in CHANGES:
        refused = await client.request(method, post_url, json=body, headers=other_headers)
        assert refused.status_code == 403, method
        assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get(post_url)).json()["title"] == NEW_POST["title"]


async def test_author_replaces_patches_and_deletes(
    client: httpx.AsyncClient, post_url: str, user_headers: dict[str, str]
) -> None:
    replaced = await client.put(
        post_url, json={"title": "New", "content": "All new"}, headers=user_headers
    )
    assert (replaced.status_code, replaced.json()["content"]) == (200, "All new")
    patched = await client.patch(post_url, json={"title": "Newer"}, headers=user_headers)
    assert (patched.json()["title"], patched.json()["content"]) == ("Newer", "All new")

    assert_no_content(await client.delete(post_url, headers=user_headers))
    assert (await client.get(post_url)).status_code == 404
    assert (await client.get(POSTS)).json()["total"] == 0


async def test_superuser_changes_anyones_post_and_the_author_stays(
    client: httpx.AsyncClient, post_url: str, user: User, admin_headers: dict[str, str]
) -> None:
    patched = await client.patch(post_url, json={"content": "Moderated"}, headers=admin_headers)
    assert patched.status_code == 200
    assert (patched.json()["user_id"], patched.json()["user_name"]) == (user.id, user.username)
    assert (await client.delete(post_url, headers=admin_headers)).status_code == 204


async def test_unknown_post_is_404(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    url = f"{POSTS}/424242"
    assert (await client.get(url)).status_code == 404
    for method, body in CHANGES:
        response = await client.request(method, url, json=body, headers=user_headers)
        assert response.status_code == 404, method
    assert (await client.get(url)).json()["detail"] == "Post 424242 not found"


INVALID_POSTS = [
    {"title": "", "content": "x"},
    {"title": "x" * 101, "content": "x"},
    {"title": "x", "content": ""},
    {"title": "x", "content": "x" * 20_001},
    {"title": "x\x00", "content": "x"},
    {"title": "x"},
    {"title": 1, "content": "x"},
    {"title": "x", "content": "x", "user_id": 1},
]


async def test_invalid_post_is_422(
    client: httpx.AsyncClient, post_url: str, user_headers: dict[str, str]
) -> None:
    for body in INVALID_POSTS:
        assert (await client.post(POSTS, json=body, headers=user_headers)).status_code == 422
        assert (await client.put(post_url, json=body, headers=user_headers)).status_code == 422


async def test_invalid_patch_is_422(
    client: httpx.AsyncClient, post_url: str, user_headers: dict[str, str]
) -> None:
    for body in ({"title": ""}, {"content": "x" * 20_001}, {"user_id": 2}):
        response = await client.patch(post_url, json=body, headers=user_headers)
        assert response.status_code == 422, body


@pytest.mark.parametrize("field", ["title", "content"])
async def test_null_in_a_patch_is_422_not_ignored(
    client: httpx.AsyncClient, post_url: str, user_headers: dict[str, str], field: str
) -> None:
    response = await client.patch(post_url, json={field: None}, headers=user_headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("post_id", ["0", "-1", "abc", str(2**31), "9" * 30])
async def test_malformed_post_id_is_422(
    client: httpx.AsyncClient, user_headers: dict[str, str], post_id: str
) -> None:
    for method, body in [("GET", None), *CHANGES]:
        url = f"{POSTS}/{post_id}"
        response = await client.request(method, url, json=body, headers=user_headers)
        assert response.status_code == 422, method
        assert response.json()["errors"][0]["loc"] == ["path", "post_id"]


async def test_longest_fields_are_accepted(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    body = {"title": "t" * 100, "content": "c" * 20_000}
    assert (await client.post(POSTS, json=body, headers=user_headers)).status_code == 201


async def test_list_is_newest_first_with_author_names(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ada, bob = await create_user(session), await create_user(session)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for day, (author, title) in enumerate([(ada, "one"), (bob, "two"), (ada, "three")]):
        await create_post(
            session, author.id, title=title, created_at=start + dt.timedelta(days=day)
        )

    page = (await client.get(POSTS)).json()
    assert [(p["title"], p["user_name"]) for p in page["items"]] == [
        ("three", ada.username),
        ("two", bob.username),
        ("one", ada.username),
    ]
    by_ada = await client.get(POSTS, params={"filters": f"user_id:{ada.id}", "sort": "title"})
    assert [p["title"] for p in by_ada.json()["items"]] == ["one", "three"]
    by_title = await client.get(POSTS, params={"filters": "title:contains:T", "sort": "id:desc"})
    assert [p["title"] for p in by_title.json()["items"]] == ["three", "two"]


async def test_list_refuses_what_the_contract_does_not_allow(client: httpx.AsyncClient) -> None:
    for params in (
        {"sort": "content"},
        {"sort": "title:up"},
        {"filters": "content:hello"},
        {"filters": "user_id:me"},
        {"filters": "user_id:contains:1"},
        {"per_page": 0},
        {"per_page": 101},
    ):
        assert (await client.get(POSTS, params=params)).status_code == 422, params


async def test_a_page_costs_the_same_queries_whatever_its_size(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    authors = [await create_user(session) for _ in range(4)]
    for index in range(20):
        await create_post(session, authors[index % 4].id)

    counts = []
    for per_page in (1, 20):
        with counting_statements(engine) as statements:
            response = await client.get(POSTS, params={"per_page": per_page})
        assert len(response.json()["items"]) == per_page
        assert all(item["user_name"] for item in response.json()["items"])
        counts.append(len(statements))
    assert counts[0] == counts[1] == 3, "count, page, authors (one batched call)"


async def test_gateway_counts_live_posts_by_user(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ada, bob = await create_user(session), await create_user(session)
    for _ in range(2):
        await create_post(session, ada.id)
    await create_post(session, bob.id, deleted_at=dt.datetime.now(dt.UTC))
    assert await PostsGateway(connection).count_posts_by_user([ada.id, bob.id]) == {ada.id: 2}
    assert await PostsGateway(connection).count_posts_by_user([]) == {}


async def test_writes_publish_events(
    client: httpx.AsyncClient,
    user: User,
    user_headers: dict[str, str],
    heard_events: list[BaseEvent],
) -> None:
    created = await client.post(POSTS, json=NEW_POST, headers=user_headers)
    url = f"{POSTS}/{created.json()['id']}"
    await client.put(url, json=NEW_POST, headers=user_headers)
    await client.patch(url, json={"title": "x"}, headers=user_headers)
    await client.delete(url, headers=user_headers)
    post_id = created.json()["id"]
    assert heard_events == [
        PostCreated(post_id=post_id, user_id=user.id),
        PostUpdated(post_id=post_id, user_id=user.id),
        PostUpdated(post_id=post_id, user_id=user.id),
        PostDeleted(post_id=post_id, user_id=user.id),
    ]
