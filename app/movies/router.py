"""HTTP layer of the movies module: parse, call one service method, return the DTO."""

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.auth import ActiveUser, Superuser
from app.core.listing import Page
from app.core.openapi import problem_responses
from app.core.schemas import PathId
from app.movies.deps import MovieListParams, MovieServiceDep
from app.movies.models import LAST_YEAR
from app.movies.schemas import MovieCreate, MovieRead, MovieUpdate

router = APIRouter(prefix="/movies", tags=["movies"])


@router.get("")
async def list_movies(
    _: ActiveUser,
    params: MovieListParams,
    movies: MovieServiceDep,
) -> Page[MovieRead]:
    """List movies."""
    return await movies.list_movies(params)


# Declared before `/{movie_id}`, which would otherwise take "new" for an id.
@router.get("/new")
async def new_movies(
    _: ActiveUser,
    movies: MovieServiceDep,
    year: Annotated[int, Query(ge=1, le=LAST_YEAR, description="Released in or after")],
    rating: Annotated[float, Query(ge=0, le=10, description="Rated at least")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MovieRead]:
    """Movies released since `year` rated at least `rating`, best rated first."""
    return await movies.new_movies(year, Decimal(str(rating)), limit)


@router.get("/{movie_id}")
async def get_movie(movie_id: PathId, _: ActiveUser, movies: MovieServiceDep) -> MovieRead:
    """Read one movie (served from the cache when warm)."""
    return await movies.get_movie(movie_id)


@router.post("", status_code=HTTPStatus.CREATED, responses=problem_responses(HTTPStatus.CONFLICT))
async def create_movie(data: MovieCreate, _: Superuser, movies: MovieServiceDep) -> MovieRead:
    """Add a movie, with a chosen `movie_id` or a generated one (superuser)."""
    return await movies.create_movie(data)


@router.patch("/{movie_id}")
async def update_movie(
    movie_id: PathId, data: MovieUpdate, _: Superuser, movies: MovieServiceDep
) -> MovieRead:
    """Change a movie's title, year or rating (superuser)."""
    return await movies.update_movie(movie_id, data)


@router.delete("/{movie_id}", status_code=HTTPStatus.NO_CONTENT, response_class=Response)
async def delete_movie(movie_id: PathId, _: Superuser, movies: MovieServiceDep) -> None:
    """Delete a movie (superuser)."""
    await movies.delete_movie(movie_id)
