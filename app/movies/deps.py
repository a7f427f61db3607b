"""The movies module's FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.core.deps import CacheDep, DatabaseDep, EventsDep, RequestCacheDep, UnitOfWorkDep
from app.core.schemas import PathId
from app.movies.queries import MovieQueries, movie_cache_key
from app.movies.service import MovieService


async def get_movie_queries(database: DatabaseDep, cache: RequestCacheDep) -> MovieQueries:
    return MovieQueries(database, cache)


MovieQueriesDep = Annotated[MovieQueries, Depends(get_movie_queries)]


async def read_movie_ahead(movie_id: PathId, cache: RequestCacheDep) -> None:
    """A route dependency (resolved before the caller's): the cached movie comes with
    the caller check, in one round trip."""
    cache.expect(movie_cache_key(movie_id))


async def get_movie_service(uow: UnitOfWorkDep, events: EventsDep, cache: CacheDep) -> MovieService:
    return MovieService(uow, events, cache)


MovieServiceDep = Annotated[MovieService, Depends(get_movie_service)]
