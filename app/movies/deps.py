"""The movies module's FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.core.deps import CacheDep, DatabaseDep, EventsDep, UnitOfWorkDep
from app.movies.queries import MovieQueries
from app.movies.service import MovieService


async def get_movie_queries(database: DatabaseDep, cache: CacheDep) -> MovieQueries:
    return MovieQueries(database, cache)


MovieQueriesDep = Annotated[MovieQueries, Depends(get_movie_queries)]


async def get_movie_service(uow: UnitOfWorkDep, events: EventsDep, cache: CacheDep) -> MovieService:
    return MovieService(uow, events, cache)


MovieServiceDep = Annotated[MovieService, Depends(get_movie_service)]
