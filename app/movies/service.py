"""Use cases of the movies module; raises domain errors, never HTTP ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.core.cache import Cache
from app.core.db import UnitOfWork
from app.core.events import Events
from app.core.representations import Precondition
from app.movies.events import MovieCreated, MovieDeleted, MovieUpdated
from app.movies.exceptions import MovieAlreadyExistsError
from app.movies.models import Movie
from app.movies.queries import movie_cache_key
from app.movies.repository import MovieRepository
from app.movies.schemas import MovieCreate, MovieRead, MovieUpdate


class MovieService:
    """The commands of the movie catalogue, for superusers (the router enforces the roles;
    the service keeps the cache and the events right). The reads are `MovieQueries`."""

    def __init__(self, uow: UnitOfWork, events: Events, cache: Cache) -> None:
        self.uow = uow
        self.events = events
        self.cache = cache
        self.movies = MovieRepository(uow.session)

    async def create_movie(self, data: MovieCreate) -> MovieRead:
        """Insert; the primary key decides a duplicate `movie_id` (409), not a prior read."""
        values = data.model_dump(exclude_none=True)
        if data.movie_id is None and (generated := await self.movies.next_generated_id()):
            values["movie_id"] = generated
        movie = Movie(**values)
        try:
            await self.movies.add(movie)
        except IntegrityError:
            if data.movie_id is None:  # a generated id is never taken: not the client's fault
                raise
            raise MovieAlreadyExistsError(f"Movie {data.movie_id} already exists") from None
        self.events.publish(MovieCreated(movie_id=movie.movie_id, title=movie.title))
        return MovieRead.model_validate(movie)

    async def add_missing_movies(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Bulk loading (demo data): insert the movies whose `movie_id` is free, each
        published as `MovieCreated` like one created through the API; how many were."""
        titles = {row["movie_id"]: row["title"] for row in rows}
        inserted = await self.movies.insert_missing(rows)
        for movie_id in inserted:
            self.events.publish(MovieCreated(movie_id=movie_id, title=titles[movie_id]))
        return len(inserted)

    async def update_movie(
        self, movie_id: int, data: MovieUpdate, *, if_match: Precondition | None = None
    ) -> MovieRead:
        movie = await self._lock_for_change(movie_id, if_match)
        await self.movies.update(movie, data.model_dump(exclude_none=True))
        self.cache.invalidate_after_commit(self.uow, movie_cache_key(movie_id))
        self.events.publish(MovieUpdated(movie_id=movie_id))
        return MovieRead.model_validate(movie)

    async def delete_movie(self, movie_id: int, *, if_match: Precondition | None = None) -> None:
        movie = await self._lock_for_change(movie_id, if_match)
        await self.movies.delete(movie)
        self.cache.invalidate_after_commit(self.uow, movie_cache_key(movie_id))
        self.events.publish(MovieDeleted(movie_id=movie_id))

    async def _lock_for_change(self, movie_id: int, if_match: Precondition | None) -> Movie:
        """The movie, locked until the commit, once it still is as `if_match` expects
        (checked under the lock: of two writers with one entity tag, the second sees the
        first one's change)."""
        movie = await self.movies.lock_or_404(movie_id)
        if if_match is not None:
            if_match.check(MovieRead.model_validate(movie))
        return movie
