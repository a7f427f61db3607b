"""Demo data: the bundled films, generated movies, and `python -m app seed`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli import cli
from app.core.events import BaseEvent
from app.core.injection import provided_by
from app.movies import MovieCreated
from app.movies.models import Movie
from app.movies.seed import GENERATED_FIRST_ID, bundled_movies, seed_movies
from tests.integration.accounts import API

MOVIES = f"{API}/movies"


async def movie_count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(Movie))).scalar_one()


async def test_seed_loads_the_bundled_films_once(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
    session: AsyncSession,
    app: FastAPI,
) -> None:
    provided = provided_by(app)
    assert await movie_count(session) == 0
    first = await seed_movies(provided)
    second = await seed_movies(provided)
    assert first.bundled == len(bundled_movies()) >= 100
    assert second.bundled == 0
    assert await movie_count(session) == first.bundled

    best = await client.get(
        f"{MOVIES}/new", params={"year": 1990, "rating": 9}, headers=user_headers
    )
    assert [(m["title"], m["released"], m["rating"]) for m in best.json()] == [
        ("The Shawshank Redemption", 1994, 9.2),
        ("The Dark Knight", 2008, 9.0),
    ]
    classics = await client.get(
        MOVIES,
        params={"filters": "title:[The Godfather,Pulp Fiction]", "sort": "released"},
        headers=user_headers,
    )
    assert [(m["title"], m["released"], m["rating"]) for m in classics.json()["items"]] == [
        ("The Godfather", 1972, 9.2),
        ("Pulp Fiction", 1994, 8.9),
    ]
    created = await client.post(
        MOVIES, json={"title": "New", "released": 2024, "rating": 7.0}, headers=admin_headers
    )
    assert created.status_code == 201  # the generated id does not collide with a seeded one


async def test_seeding_publishes_each_movie_it_adds_as_created(
    app: FastAPI, heard_events: list[BaseEvent]
) -> None:
    first = await seed_movies(provided_by(app), generated=2)
    added = len(heard_events)
    await seed_movies(provided_by(app), generated=2)

    assert added == first.bundled + first.generated == len(heard_events)
    assert all(isinstance(event, MovieCreated) for event in heard_events)
    assert MovieCreated(movie_id=1, title="The Shawshank Redemption") in heard_events


async def test_generated_movies_are_rated_below_9_and_idempotent(
    session: AsyncSession, app: FastAPI
) -> None:
    provided = provided_by(app)
    progress: list[int] = []
    first = await seed_movies(provided, generated=30, on_progress=progress.append)
    again = await seed_movies(provided, generated=40)
    assert (first.generated, again.generated) == (30, 10)
    assert sum(progress) == len(bundled_movies()) + 30
    generated = Movie.movie_id >= GENERATED_FIRST_ID
    assert await session.scalar(select(func.count()).where(generated)) == 40
    best = await session.scalar(select(func.max(Movie.rating)).where(generated))
    assert best is not None
    assert best < 9


def test_seed_command_on_an_empty_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real command, twice, on an embedded (SQLite) database."""
    database = tmp_path / "seed.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("REDIS_URL", "")
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0

    first = runner.invoke(cli, ["seed", "--movies", "20"])
    second = runner.invoke(cli, ["seed", "--movies", "20"])

    assert first.exit_code == second.exit_code == 0, first.output
    assert f"Added {len(bundled_movies())} bundled and 20 generated movies" in first.output
    assert "Added 0 bundled and 0 generated movies" in second.output
    with sqlite3.connect(database) as connection:
        [(count,)] = connection.execute("SELECT count(*) FROM movies").fetchall()
    assert count == len(bundled_movies()) + 20
