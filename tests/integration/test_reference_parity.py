"""The bench's bare reference (`bench/reference.py`) sends its own SQL, written by hand
beside the kit's: this proves that both answer the same rows, the same way, for every
route the bench compares, on the same committed data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.movies.models import Movie
from bench.reference import create_app as create_reference_app
from tests.apps import client_of
from tests.integration.accounts import API, bearer, login

MOVIE_ID = 987_654
# The kit's envelope carries the cursor on top of what the reference answers.
KIT_ONLY_MEMBERS = {"next_cursor"}


@pytest.fixture
async def reference_client() -> AsyncIterator[httpx.AsyncClient]:
    """The reference app in process, on the suite's database and secret."""
    app = create_reference_app()
    try:
        async with client_of(app) as client:
            yield client
    finally:
        await app.state.engine.dispose()


@pytest.fixture
async def movie(engine: AsyncEngine) -> AsyncIterator[int]:
    values = {"movie_id": MOVIE_ID, "title": "Parity", "released": 1999, "rating": 8.1}
    async with engine.begin() as connection:
        await connection.execute(insert(Movie).values(**values))
    yield MOVIE_ID
    async with engine.begin() as connection:
        await connection.execute(delete(Movie).where(Movie.movie_id == MOVIE_ID))


def shared(kit: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in kit.items() if name not in KIT_ONLY_MEMBERS}


async def test_the_reference_answers_what_the_kit_answers(
    committing_client: httpx.AsyncClient, reference_client: httpx.AsyncClient, movie: int
) -> None:
    kit = committing_client
    registered = await kit.post(
        f"{API}/auth/register",
        json={"username": "race_parity", "email": "parity@example.com", "password": "s3cret-pass"},
    )
    assert registered.status_code == 201, registered.text
    headers = bearer((await login(kit, "race_parity", "s3cret-pass"))["access_token"])
    posts = [
        (await kit.post(f"{API}/posts", json={"title": f"t{n}", "content": "c"}, headers=headers))
        for n in range(3)
    ]
    paths = [
        f"{API}/profile",
        f"{API}/posts/{posts[1].json()['id']}",
        f"{API}/posts?per_page=2",
        f"{API}/posts?per_page=2&page=2",
        f"{API}/movies/{movie}",
    ]
    for path in paths:
        ours, theirs = (
            await kit.get(path, headers=headers),
            await reference_client.get(path, headers=headers),
        )
        assert ours.status_code == theirs.status_code == 200, (path, ours.text, theirs.text)
        assert shared(ours.json()) == theirs.json(), path
