"""Demo data: the bundled list of well-known films, and generated movies for load tests.

Both are idempotent. Bundled films carry their own `movie_id`; generated movie
number k gets `GENERATED_FIRST_ID + k` and is drawn from a Faker seeded by that
id, so `seed --movies N` twice adds nothing the second time, and `--movies 2N`
after `--movies N` adds the N missing ones. Rows go in with
`INSERT ... ON CONFLICT DO NOTHING` in batches, one unit of work per batch, through
`MovieService` on the services of a started process (`app.process.running`), as the API
adds movies: each movie inserted is published as `MovieCreated`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from app.core.cache import Cache
from app.core.db import Database
from app.core.events import EventBus, Events
from app.core.injection import Provided
from app.movies.service import MovieService

BUNDLED_MOVIES_FILE = Path(__file__).parent / "data" / "movies.csv"
GENERATED_FIRST_ID = 1_000_001
BATCH_SIZE = 5_000
# Generated movies stay below the bundled top of the list.
GENERATED_RATINGS_TENTHS = (10, 89)
GENERATED_YEARS = (1920, 2025)

MovieRow = dict[str, Any]
OnProgress = Callable[[int], None]


@dataclass(frozen=True)
class SeedReport:
    bundled: int
    generated: int


def bundled_movies() -> list[MovieRow]:
    """The bundled films: title, year and IMDb-style rating, each with its `movie_id`."""
    with BUNDLED_MOVIES_FILE.open(encoding="utf-8", newline="") as data:
        return [
            {
                "movie_id": int(row["movie_id"]),
                "title": row["title"],
                "released": int(row["released"]),
                "rating": Decimal(row["rating"]),
            }
            for row in csv.DictReader(data)
        ]


def generated_movie_batches(count: int, batch_size: int = BATCH_SIZE) -> Iterator[list[MovieRow]]:
    """`count` made-up movies rated 1.0 to 8.9, in batches; the same ones on every run."""
    # Imported here: Faker costs every process ~1.5 s of start-up, and only seeding needs it.
    from faker import Faker  # noqa: PLC0415

    fake = Faker()
    for start in range(0, count, batch_size):
        first_id = GENERATED_FIRST_ID + start
        fake.seed_instance(first_id)
        yield [
            {
                "movie_id": movie_id,
                "title": fake.catch_phrase(),
                "released": fake.random_int(*GENERATED_YEARS),
                "rating": Decimal(fake.random_int(*GENERATED_RATINGS_TENTHS)) / 10,
            }
            for movie_id in range(first_id, first_id + min(batch_size, count - start))
        ]


def _batches(rows: list[MovieRow]) -> Iterator[list[MovieRow]]:
    for start in range(0, len(rows), BATCH_SIZE):
        yield rows[start : start + BATCH_SIZE]


async def _insert(
    provided: Provided, batches: Iterator[list[MovieRow]], on_progress: OnProgress
) -> int:
    database, bus, cache = provided.get(Database), provided.get(EventBus), provided.get(Cache)
    inserted = 0
    for batch in batches:
        async with database.unit_of_work() as uow:
            inserted += await MovieService(uow, Events(bus, uow), cache).add_missing_movies(batch)
        on_progress(len(batch))
    return inserted


async def seed_movies(
    provided: Provided, *, generated: int = 0, on_progress: OnProgress | None = None
) -> SeedReport:
    """Insert the bundled films and `generated` made-up ones that are not there yet."""
    progress = on_progress or (lambda _: None)
    bundled = await _insert(provided, _batches(bundled_movies()), progress)
    made_up = await _insert(provided, generated_movie_batches(generated), progress)
    return SeedReport(bundled=bundled, generated=made_up)


async def seed_demo_data(provided: Provided, *, generated: int = 0) -> SeedReport:
    """`python -m app seed`: seed with a progress bar, on a started process's services."""
    total = len(bundled_movies()) + generated
    with click.progressbar(length=total, label="Seeding movies", show_pos=True) as bar:
        return await seed_movies(provided, generated=generated, on_progress=bar.update)
