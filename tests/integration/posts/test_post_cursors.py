"""Keyset paging of /posts: a cursor walk sees every row once, whatever is inserted meanwhile."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from tests.factories import create_post, create_user
from tests.integration.accounts import API

POSTS = f"{API}/posts"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
async def author(session: AsyncSession) -> User:
    return await create_user(session)


async def seven_posts(session: AsyncSession, author: User) -> list[int]:
    """Seven posts, two of them created at the same instant (a tie the keyset must break)."""
    ids = []
    for index, minutes in enumerate([0, 1, 2, 3, 3, 5, 6]):
        post = await create_post(
            session,
            author.id,
            title=f"post {index}",
            created_at=START + dt.timedelta(minutes=minutes),
        )
        ids.append(post.id)
    return ids


async def walk(client: httpx.AsyncClient, **params: Any) -> tuple[list[list[int]], list[Any]]:
    """Every page of a cursor walk: the ids on each page, and each envelope's `total`."""
    pages: list[list[int]] = []
    totals: list[Any] = []
    response = await client.get(POSTS, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        totals.append(body["total"])
        if body["next_cursor"] is None:
            return pages, totals
        cursor_params = {key: value for key, value in params.items() if key != "page"}
        response = await client.get(POSTS, params={**cursor_params, "cursor": body["next_cursor"]})


async def test_a_cursor_walk_pages_like_offsets_and_ends_with_a_null_cursor(
    client: httpx.AsyncClient, session: AsyncSession, author: User
) -> None:
    await seven_posts(session, author)
    by_offset = [
        [
            item["id"]
            for item in (await client.get(POSTS, params={"per_page": 3, "page": page})).json()[
                "items"
            ]
        ]
        for page in (1, 2, 3)
    ]
    pages, totals = await walk(client, per_page=3)
    assert pages == by_offset
    assert [len(page) for page in pages] == [3, 3, 1]
    assert totals == [7, 7, 7]


@pytest.mark.parametrize("sort", ["title:desc", "id:asc", "created_at:asc,title:desc"])
async def test_every_whitelisted_sort_walks_every_row_once(
    client: httpx.AsyncClient, session: AsyncSession, author: User, sort: str
) -> None:
    ids = await seven_posts(session, author)
    pages, _ = await walk(client, per_page=2, sort=sort)
    walked = [post_id for page in pages for post_id in page]
    assert sorted(walked) == sorted(ids)
    offset = (await client.get(POSTS, params={"per_page": 7, "sort": sort})).json()["items"]
    assert walked == [item["id"] for item in offset]


async def test_rows_inserted_during_a_walk_shift_nothing(
    client: httpx.AsyncClient, session: AsyncSession, author: User
) -> None:
    ids = await seven_posts(session, author)
    first = (await client.get(POSTS, params={"per_page": 3})).json()
    await create_post(session, author.id, title="newer", created_at=START + dt.timedelta(hours=1))
    second = (
        await client.get(POSTS, params={"per_page": 3, "cursor": first["next_cursor"]})
    ).json()
    walked = [item["id"] for item in first["items"] + second["items"]]
    assert walked == list(reversed(ids))[:6]  # newest first; the new post is not on page 2
    assert second["page"] == 2


async def test_a_cursor_with_a_page_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, author: User
) -> None:
    await seven_posts(session, author)
    cursor = (await client.get(POSTS, params={"per_page": 3})).json()["next_cursor"]
    response = await client.get(POSTS, params={"per_page": 3, "cursor": cursor, "page": 2})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    "change",
    [
        {"per_page": 4},  # minted for another page size
        {"sort": "title:asc"},  # another sort
        {"filters": "title:contains:post"},  # other filters
    ],
)
async def test_a_cursor_of_another_query_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, author: User, change: dict[str, Any]
) -> None:
    await seven_posts(session, author)
    cursor = (await client.get(POSTS, params={"per_page": 3})).json()["next_cursor"]
    response = await client.get(POSTS, params={"per_page": 3, **change, "cursor": cursor})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda cursor: cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"),
        lambda cursor: "eyJhIjpbIjEiXX0." + cursor.partition(".")[2],  # forged keyset values
        lambda cursor: "not a cursor",
        lambda cursor: "",
    ],
)
async def test_a_tampered_cursor_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, author: User, tamper: Any
) -> None:
    await seven_posts(session, author)
    cursor = (await client.get(POSTS, params={"per_page": 3})).json()["next_cursor"]
    response = await client.get(POSTS, params={"per_page": 3, "cursor": tamper(cursor)})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_a_cursor_of_another_resource_is_refused(
    client: httpx.AsyncClient, user_headers: dict[str, str], session: AsyncSession
) -> None:
    await seven_posts(session, await create_user(session))
    cursor = (await client.get(POSTS, params={"per_page": 3})).json()["next_cursor"]
    movies = await client.get(
        f"{API}/movies", params={"per_page": 3, "cursor": cursor}, headers=user_headers
    )
    assert movies.status_code == 422
    assert movies.json()["errors"][0]["loc"] == ["query", "cursor"]
