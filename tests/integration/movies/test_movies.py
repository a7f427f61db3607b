"""/movies: reads for active users, writes for superusers, exact ratings, list rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.events import BaseEvent
from app.core.schemas import MAX_ID
from app.movies import MovieCreated, MovieDeleted, MoviesGateway, MovieUpdated
from app.movies.models import Movie
from tests.factories import create_movie
from tests.integration.accounts import API
from tests.responses import assert_no_content

MOVIES = f"{API}/movies"
NEW_MOVIE = {"title": "Heat", "released": 1995, "rating": 8.3}
WRITES = [("POST", "", NEW_MOVIE), ("PATCH", "/1", {"rating": 1.0}), ("DELETE", "/1", None)]


def titles(movies: list[dict[str, Any]]) -> list[str]:
    return [movie["title"] for movie in movies]


async def test_every_read_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    for path in (MOVIES, f"{MOVIES}/new?year=1990&rating=9", f"{MOVIES}/1"):
        response = await client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"


async def test_writes_need_a_superuser(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    for method, path, body in WRITES:
        anonymous = await client.request(method, MOVIES + path, json=body)
        signed_in = await client.request(method, MOVIES + path, json=body, headers=user_headers)
        assert anonymous.status_code == 401, method
        assert signed_in.status_code == 403, method


async def test_create_read_update_delete(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str]
) -> None:
    created = await client.post(MOVIES, json=NEW_MOVIE, headers=admin_headers)
    assert created.status_code == 201
    movie = created.json()
    assert {key: movie[key] for key in NEW_MOVIE} == NEW_MOVIE
    assert {"movie_id", "created_at", "updated_at"} <= movie.keys()
    url = f"{MOVIES}/{movie['movie_id']}"

    assert (await client.get(url, headers=user_headers)).json() == movie
    patched = await client.patch(url, json={"title": "Heat (1995)"}, headers=admin_headers)
    assert patched.status_code == 200
    assert patched.json() | {"updated_at": None} == movie | {
        "title": "Heat (1995)",
        "updated_at": None,
    }
    assert_no_content(await client.delete(url, headers=admin_headers))
    assert (await client.get(url, headers=user_headers)).status_code == 404


async def test_rating_is_stored_and_served_exactly(
    client: httpx.AsyncClient, admin_headers: dict[str, str], session: AsyncSession
) -> None:
    created = await client.post(
        MOVIES,
        json={"title": "Pulp Fiction", "released": 1994, "rating": 8.9},
        headers=admin_headers,
    )
    assert '"rating":8.9' in created.text
    whole = await client.post(
        MOVIES,
        json={"title": "The Godfather", "released": 1972, "rating": 9},
        headers=admin_headers,
    )
    assert '"rating":9.0' in whole.text
    stored = await session.scalar(
        select(Movie.rating).where(Movie.movie_id == created.json()["movie_id"])
    )
    assert stored == Decimal("8.9")


async def test_chosen_movie_id_is_kept_and_a_duplicate_is_409(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    first = await client.post(MOVIES, json=NEW_MOVIE | {"movie_id": 777_001}, headers=admin_headers)
    again = await client.post(MOVIES, json=NEW_MOVIE | {"movie_id": 777_001}, headers=admin_headers)
    assert first.status_code == 201
    assert first.json()["movie_id"] == 777_001
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert "777001" in again.json()["detail"]


async def test_generated_ids_skip_the_chosen_ones(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    first = await client.post(MOVIES, json=NEW_MOVIE, headers=admin_headers)
    taken = [first.json()["movie_id"] + offset for offset in (1, 2)]
    for movie_id in taken:
        chosen = await client.post(
            MOVIES, json=NEW_MOVIE | {"movie_id": movie_id}, headers=admin_headers
        )
        assert chosen.status_code == 201
    generated = await client.post(MOVIES, json=NEW_MOVIE, headers=admin_headers)
    assert generated.status_code == 201
    assert generated.json()["movie_id"] == taken[-1] + 1


async def test_a_chosen_id_at_the_top_of_the_range_leaves_generated_ids_working(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    top = await client.post(MOVIES, json=NEW_MOVIE | {"movie_id": MAX_ID}, headers=admin_headers)
    assert top.status_code == 201
    generated = [await client.post(MOVIES, json=NEW_MOVIE, headers=admin_headers) for _ in "ab"]
    assert [response.status_code for response in generated] == [201, 201]
    assert all(response.json()["movie_id"] < MAX_ID for response in generated)


@pytest.fixture
async def id_sequence_near_its_end(session: AsyncSession) -> AsyncIterator[None]:
    """The movies id sequence two values before its end; put back after the test
    (sequences are not transactional, and the next tests of this database use it)."""
    sequence = "pg_get_serial_sequence('movies', 'movie_id')"
    last = await session.scalar(text(f"SELECT pg_sequence_last_value({sequence}::regclass)"))
    await session.execute(text(f"SELECT setval({sequence}, {MAX_ID - 2})"))
    yield
    await session.execute(text(f"SELECT setval({sequence}, {last or 1}, {last is not None})"))


@pytest.mark.usefixtures("id_sequence_near_its_end")
async def test_when_generated_ids_run_out_the_answer_is_a_409_problem(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    chosen = await client.post(MOVIES, json=NEW_MOVIE | {"movie_id": MAX_ID}, headers=admin_headers)
    last = await client.post(MOVIES, json=NEW_MOVIE, headers=admin_headers)
    assert (chosen.status_code, last.status_code) == (201, 201)
    assert last.json()["movie_id"] == MAX_ID - 1
    for _ in "ab":  # the first finds every id taken; the second finds the sequence at its end
        refused = await client.post(MOVIES, json=NEW_MOVIE, headers=admin_headers)
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert "movie_id" in refused.json()["detail"]
    still_free = await client.post(MOVIES, json=NEW_MOVIE | {"movie_id": 5}, headers=admin_headers)
    assert still_free.status_code == 201


INVALID_MOVIES = [
    {"title": "", "released": 1995, "rating": 8.0},
    {"title": "x" * 201, "released": 1995, "rating": 8.0},
    {"title": "Heat\x00", "released": 1995, "rating": 8.0},
    {"title": "Heat", "released": 1869, "rating": 8.0},
    {"title": "Heat", "released": 2101, "rating": 8.0},
    {"title": "Heat", "released": "1995", "rating": 8.0},
    {"title": "Heat", "released": 1995, "rating": 10.1},
    {"title": "Heat", "released": 1995, "rating": -0.1},
    {"title": "Heat", "released": 1995, "rating": 8.85},
    {"title": "Heat", "released": 1995, "rating": "8.5"},
    {"title": "Heat", "released": 1995, "rating": True},
    {"title": "Heat", "released": 1995, "rating": 1e308},
    {"title": "Heat", "released": 1995, "rating": 10**40},
    {"title": "Heat", "released": 1995},
    {"title": "Heat", "released": 1995, "rating": 8.0, "movie_id": 0},
    {"title": "Heat", "released": 1995, "rating": 8.0, "movie_id": 2**31},
    {"title": "Heat", "released": 1995, "rating": 8.0, "director": "Mann"},
]


async def test_invalid_movie_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for body in INVALID_MOVIES:
        response = await client.post(MOVIES, json=body, headers=admin_headers)
        assert response.status_code == 422, body
        assert response.json()["errors"]


async def test_invalid_update_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], session: AsyncSession
) -> None:
    movie = await create_movie(session)
    url = f"{MOVIES}/{movie.movie_id}"
    for body in ({"rating": 11}, {"movie_id": 5}, {"title": ""}, {"released": 3000}):
        response = await client.patch(url, json=body, headers=admin_headers)
        assert response.status_code == 422, body


@pytest.mark.parametrize("field", ["title", "released", "rating"])
async def test_null_in_an_update_is_422_not_ignored(
    client: httpx.AsyncClient, admin_headers: dict[str, str], session: AsyncSession, field: str
) -> None:
    movie = await create_movie(session)
    url = f"{MOVIES}/{movie.movie_id}"
    response = await client.patch(url, json={field: None}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", field]


async def test_unknown_movie_is_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    url = f"{MOVIES}/424242"
    read = await client.get(url, headers=admin_headers)
    patched = await client.patch(url, json={"rating": 5.0}, headers=admin_headers)
    deleted = await client.delete(url, headers=admin_headers)
    assert read.status_code == patched.status_code == deleted.status_code == 404
    assert read.json()["detail"] == "Movie 424242 not found"


async def test_malformed_movie_id_is_422(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    for movie_id in ("0", "-1", "abc", str(2**31), "9" * 30):
        response = await client.get(f"{MOVIES}/{movie_id}", headers=user_headers)
        assert response.status_code == 422, movie_id


async def test_list_sorts_filters_and_pages(
    client: httpx.AsyncClient, user_headers: dict[str, str], session: AsyncSession
) -> None:
    for title, released, rating in [
        ("Alien", 1979, "8.4"),
        ("Aliens", 1986, "8.3"),
        ("Heat", 1995, "8.2"),
        ("Up", 2009, "8.2"),
    ]:
        await create_movie(session, title=title, released=released, rating=Decimal(rating))

    by_rating = await client.get(
        MOVIES, params={"sort": "rating:desc,title:asc"}, headers=user_headers
    )
    assert titles(by_rating.json()["items"]) == ["Alien", "Aliens", "Heat", "Up"]
    recent = await client.get(
        MOVIES,
        params={"filters": "released:gte:1986,rating:lt:8.3", "sort": "released:desc"},
        headers=user_headers,
    )
    assert titles(recent.json()["items"]) == ["Up", "Heat"]
    named = await client.get(
        MOVIES, params={"filters": "title:contains:alien", "per_page": 1}, headers=user_headers
    )
    assert named.json() | {"items": None, "next_cursor": None} == {
        "items": None,
        "total": 2,
        "total_exact": True,
        "page": 1,
        "per_page": 1,
        "pages": 2,
        "next_cursor": None,
    }
    assert named.json()["next_cursor"]  # a second page follows


async def test_filter_values_with_commas_and_quotes_go_in_double_quotes(
    client: httpx.AsyncClient, user_headers: dict[str, str], session: AsyncSession
) -> None:
    for title in ("The Good, the Bad and the Ugly", 'Say "Hi"', "Heat"):
        await create_movie(session, title=title, released=1966, rating=Decimal("8.8"))

    for filters, expected in [
        ('title:contains:"Good, the Bad",released:1966', ["The Good, the Bad and the Ugly"]),
        (r'title:contains:"say \"hi\""', ['Say "Hi"']),
        (
            'title:["The Good, the Bad and the Ugly", Heat]',
            ["Heat", "The Good, the Bad and the Ugly"],
        ),
    ]:
        response = await client.get(
            MOVIES, params={"filters": filters, "sort": "title"}, headers=user_headers
        )
        assert titles(response.json()["items"]) == expected, filters

    for filters in ('title:contains:"Good, the Bad', 'title:"Heat"s', r'title:"a\b"'):
        response = await client.get(MOVIES, params={"filters": filters}, headers=user_headers)
        assert response.status_code == 422, filters
        assert [error["loc"] for error in response.json()["errors"]] == [["query", "filters"]]


async def test_list_refuses_what_the_contract_does_not_allow(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    for params in (
        {"sort": "created_at:desc"},
        {"filters": "director:Mann"},
        {"filters": "rating:contains:8"},
        {"filters": "released:gte:soon"},
        {"per_page": 101},
        {"page": 0},
    ):
        response = await client.get(MOVIES, params=params, headers=user_headers)
        assert response.status_code == 422, params


async def test_new_movies_best_rated_first_ties_by_title(
    client: httpx.AsyncClient, user_headers: dict[str, str], session: AsyncSession
) -> None:
    for title, released, rating in [
        ("Old", 1980, "9.5"),
        ("Bravo", 2001, "8.5"),
        ("Alpha", 2002, "8.5"),
        ("Best", 1999, "9.1"),
        ("Weak", 2005, "5.0"),
    ]:
        await create_movie(session, title=title, released=released, rating=Decimal(rating))

    response = await client.get(
        f"{MOVIES}/new", params={"year": 1990, "rating": 8.5}, headers=user_headers
    )
    assert response.status_code == 200
    assert titles(response.json()) == ["Best", "Alpha", "Bravo"]
    limited = await client.get(
        f"{MOVIES}/new", params={"year": 1990, "rating": 8.5, "limit": 1}, headers=user_headers
    )
    assert titles(limited.json()) == ["Best"]


async def test_new_movies_parameters_are_checked(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    invalid: list[dict[str, str | float]] = [
        {"rating": 9},
        {"year": 1990},
        {"year": 1990, "rating": 9, "limit": 0},
        {"year": 1990, "rating": 9, "limit": 1001},
        {"year": 1990, "rating": 10.5},
        {"year": 1990, "rating": "nan"},
        {"year": "9" * 30, "rating": 9},
        {"year": 1990, "rating": "1e400"},
        {"year": 1990, "rating": "-inf"},
        {"year": 1990, "rating": 9, "limit": "9" * 30},
    ]
    for params in invalid:
        response = await client.get(f"{MOVIES}/new", params=params, headers=user_headers)
        assert response.status_code == 422, params


async def test_gateway_reads_movies_in_one_call(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    first, second = await create_movie(session), await create_movie(session)
    found = await MoviesGateway(connection).get_movies([first.movie_id, second.movie_id, 123])
    assert set(found) == {first.movie_id, second.movie_id}
    assert found[first.movie_id].title == first.title
    assert await MoviesGateway(connection).get_movie(123) is None
    assert await MoviesGateway(connection).get_movies([]) == {}


async def test_writes_publish_events(
    client: httpx.AsyncClient, admin_headers: dict[str, str], heard_events: list[BaseEvent]
) -> None:
    created = await client.post(MOVIES, json=NEW_MOVIE | {"movie_id": 31}, headers=admin_headers)
    await client.patch(f"{MOVIES}/31", json={"rating": 8.0}, headers=admin_headers)
    await client.delete(f"{MOVIES}/31", headers=admin_headers)
    assert created.status_code == 201
    assert heard_events == [
        MovieCreated(movie_id=31, title="Heat"),
        MovieUpdated(movie_id=31),
        MovieDeleted(movie_id=31),
    ]
