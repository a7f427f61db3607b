"""A movie over HTTP: `Location` when created, and one strong `ETag` whether the read came
from the cache or from the database, with `If-None-Match` (304) and `If-Match` (412)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import create_movie
from tests.integration.accounts import API
from tests.responses import assert_no_content, assert_not_modified, assert_precondition_failed

MOVIES = f"{API}/movies"
NEW_MOVIE = {"title": 'Amélie — "le fabuleux destin" 🎬', "released": 2001, "rating": 8.0}


@pytest.fixture
async def movie_url(session: AsyncSession) -> str:
    movie = await create_movie(session, title=NEW_MOVIE["title"], rating=Decimal("8.0"))
    return f"{MOVIES}/{movie.movie_id}"


async def test_a_created_movie_is_at_its_location(
    client: httpx.AsyncClient, user_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    created = await client.post(MOVIES, json=NEW_MOVIE, headers=admin_headers)

    assert created.status_code == 201
    assert created.headers["location"] == f"{MOVIES}/{created.json()['movie_id']}"
    found = await client.get(created.headers["location"], headers=user_headers)
    assert (found.status_code, found.json()) == (200, created.json())


async def test_a_warm_read_has_the_etag_and_bytes_of_a_cold_one(
    client: httpx.AsyncClient, user_headers: dict[str, str], redis: Redis, movie_url: str
) -> None:
    entry = f"cache:*:movies:{movie_url.rsplit('/', 1)[1]}"
    assert not await redis.keys(entry)
    cold = await client.get(movie_url, headers=user_headers)
    assert await redis.keys(entry)

    warm = await client.get(movie_url, headers=user_headers)

    assert cold.status_code == warm.status_code == 200
    assert warm.headers["etag"] == cold.headers["etag"]
    assert warm.content == cold.content


async def test_if_none_match_on_a_warm_movie_is_304(
    client: httpx.AsyncClient, user_headers: dict[str, str], movie_url: str
) -> None:
    etag = (await client.get(movie_url, headers=user_headers)).headers["etag"]

    response = await client.get(movie_url, headers=user_headers | {"If-None-Match": etag})

    assert_not_modified(response, etag)


async def test_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
    movie_url: str,
) -> None:
    stale = (await client.get(movie_url, headers=user_headers)).headers["etag"]
    await client.patch(movie_url, json={"rating": 9.1}, headers=admin_headers)
    before = (await client.get(movie_url, headers=user_headers)).json()
    if_match = admin_headers | {"If-Match": stale}

    assert_precondition_failed(await client.patch(movie_url, json={"rating": 1}, headers=if_match))
    assert_precondition_failed(await client.delete(movie_url, headers=if_match))

    assert (await client.get(movie_url, headers=user_headers)).json() == before


async def test_a_current_if_match_lets_the_change_through(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
    movie_url: str,
) -> None:
    etag = (await client.get(movie_url, headers=user_headers)).headers["etag"]

    patched = await client.patch(
        movie_url, json={"rating": 9.1}, headers=admin_headers | {"If-Match": etag}
    )

    assert patched.status_code == 200
    assert patched.headers["etag"] != etag
    assert (await client.get(movie_url, headers=user_headers)).headers["etag"] == (
        patched.headers["etag"]
    )
    deleted = await client.delete(
        movie_url, headers=admin_headers | {"If-Match": patched.headers["etag"]}
    )
    assert_no_content(deleted)
