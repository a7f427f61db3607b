"""Lists on both databases: cursor walks over ties of one second, deep offsets, odd numbers."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from sqlalchemy import select, update

from app.auth.models import User
from app.posts.models import Post
from tests.integration.paging import (  # noqa: F401
    ListingDatabase,
    insert_post,
    insert_posts_in_bulk,
    insert_user,
    listing_database_fixture,
    migrated_sqlite_file_fixture,
    suite_app_parts_fixture,
)

RESOURCES = ["posts", "movies", "users"]


async def walk(database: ListingDatabase, resource: str, **params: Any) -> list[list[int]]:
    """The ids of every page of a cursor walk, stopping after 20 pages (a walk that loops)."""
    pages: list[list[int]] = []
    response = await database.get(resource, **params)
    while len(pages) < 20:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item.get("id", item.get("movie_id")) for item in body["items"]])
        if body["next_cursor"] is None:
            break
        response = await database.get(resource, **params, cursor=body["next_cursor"])
    return pages


@pytest.mark.parametrize(
    ("resource", "sort"),
    [
        ("posts", None),  # the default, newest first
        ("posts", "created_at:asc"),
        ("posts", "created_at:desc,title:asc"),
        ("users", "created_at:desc"),
        ("users", "created_at:asc"),
    ],
)
async def test_a_cursor_walk_over_rows_created_in_one_second_sees_each_once(
    listing_database: ListingDatabase, resource: str, sort: str | None
) -> None:
    model: Any = Post if resource == "posts" else User
    for index in range(5):  # created_at: the database's own default, in its own format
        if resource == "posts":
            await insert_post(listing_database, title=f"post {index % 2}")
        else:
            await insert_user(listing_database, f"walker{index}")
    first_second = select(model.created_at).order_by(model.created_at).limit(1).scalar_subquery()
    await listing_database.execute(update(model).values(created_at=first_second))
    params = {"per_page": 2} | ({"sort": sort} if sort else {})

    walked = [
        row_id for page in await walk(listing_database, resource, **params) for row_id in page
    ]

    listed = (await listing_database.get(resource, **params | {"per_page": 100})).json()["items"]
    assert walked == [item["id"] for item in listed]
    assert len(set(walked)) == len(walked) == (5 if resource == "posts" else 6)


async def test_a_page_far_past_the_end_is_empty_and_one_past_the_last_is_refused(
    listing_database: ListingDatabase,
) -> None:
    for resource, (page, per_page) in itertools.product(
        RESOURCES, [(966_863_727, 97), (1_000_000_000, 100)]
    ):
        response = await listing_database.get(resource, page=page, per_page=per_page)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["items"], body["page"], body["next_cursor"]) == ([], page, None)
        assert body["total"] == (1 if resource == "users" else 0)  # the admin
    refused = await listing_database.get("posts", page=1_000_000_001)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["query", "page"]


async def test_a_number_a_column_cannot_hold_is_refused_naming_filters(
    listing_database: ListingDatabase,
) -> None:
    for filters in [
        "rating:gte:1e-16384",  # below what PostgreSQL's numeric holds
        "rating:gt:1E-400",
        "rating:lt:8.55",  # finer than the one decimal a rating has
        "rating:in:[8.5,1e-99999]",
        "rating:gte:1e+16384",
        "released:gte:99999999999999999999",
        "released:gte:1e3",
        "released:lt:2000.5",
    ]:
        response = await listing_database.get("movies", filters=filters)
        assert response.status_code == 422, (filters, response.text)
        assert response.json()["errors"][0]["loc"] == ["query", "filters"]


async def test_a_number_written_with_more_digits_than_needed_filters(
    listing_database: ListingDatabase,
) -> None:
    for filters in ["rating:gte:8.50", "rating:lt:1e1", "rating:gt:-0.0", "rating:eq:-0e-20000"]:
        response = await listing_database.get("movies", filters=filters)
        assert response.status_code == 200, (filters, response.text)


@pytest.mark.parametrize("filtered", [False, True], ids=["all", "filtered"])
async def test_a_total_above_ten_thousand_is_estimated_on_postgresql_and_counted_on_sqlite(
    listing_database: ListingDatabase, filtered: bool
) -> None:
    await insert_posts_in_bulk(listing_database, 10_050, user_id=7)
    params = {"per_page": 3} | ({"filters": "user_id:7"} if filtered else {})

    first = (await listing_database.get("posts", **params)).json()

    if listing_database.name == "postgresql":
        assert first["total_exact"] is False
        assert first["total"] > 10_000
    else:
        assert (first["total"], first["total_exact"]) == (10_050, True)
    assert first["pages"] == math.ceil(first["total"] / 3)
    second = (await listing_database.get("posts", **params, cursor=first["next_cursor"])).json()
    carried = ("total", "total_exact", "pages")
    assert [second[key] for key in carried] == [first[key] for key in carried]
    assert second["page"] == 2


async def test_a_total_of_ten_thousand_is_exact(listing_database: ListingDatabase) -> None:
    await insert_posts_in_bulk(listing_database, 10_000, user_id=7)
    body = (await listing_database.get("posts", per_page=100, page=100)).json()
    assert (body["total"], body["total_exact"], body["pages"]) == (10_000, True, 100)
    assert len(body["items"]) == 100
    assert body["next_cursor"] is None
