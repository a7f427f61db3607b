"""What other modules may ask of the movies module."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.deps import SessionDep
from app.movies.repository import MovieRepository
from app.movies.schemas import MovieRead


class MoviesGateway:
    """Reads movies for other modules (a watch list, reviews...).

    Part of the module's published contract: no module calls it yet; it is here so that
    the next one needs nothing from inside `movies`.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._movies = MovieRepository(session)

    async def get_movie(self, movie_id: int) -> MovieRead | None:
        return (await self.get_movies([movie_id])).get(movie_id)

    async def get_movies(self, movie_ids: Iterable[int]) -> dict[int, MovieRead]:
        """The movies among `movie_ids` that exist, by id, in one query."""
        found = await self._movies.get_many(movie_ids)
        return {movie_id: MovieRead.model_validate(movie) for movie_id, movie in found.items()}


async def get_movies_gateway(session: SessionDep) -> MoviesGateway:
    return MoviesGateway(session)


MoviesGatewayDep = Annotated[MoviesGateway, Depends(get_movies_gateway)]
