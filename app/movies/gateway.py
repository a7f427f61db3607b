"""What other modules may ask of the movies module."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.deps import ReadConnectionDep
from app.movies.queries import movies_by_id
from app.movies.schemas import MovieRead


class MoviesGateway:
    """Reads movies for other modules (a watch list, reviews...).

    Part of the module's published contract: no module calls it yet; it is here so that
    the next one needs nothing from inside `movies`.
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get_movie(self, movie_id: int) -> MovieRead | None:
        return (await self.get_movies([movie_id])).get(movie_id)

    async def get_movies(self, movie_ids: Iterable[int]) -> dict[int, MovieRead]:
        """The movies among `movie_ids` that exist, by id, in one query."""
        return await movies_by_id(self._connection, movie_ids)


async def get_movies_gateway(connection: ReadConnectionDep) -> MoviesGateway:
    return MoviesGateway(connection)


MoviesGatewayDep = Annotated[MoviesGateway, Depends(get_movies_gateway)]
