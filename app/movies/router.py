"""HTTP layer of the movies module: parse, call one query (reads) or one service method
(writes), return the DTO (a single movie as its representation, with its entity tag)."""

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth import ActiveUser, Superuser
from app.core.listing import ListParams, Page, list_params
from app.core.openapi import problem_responses
from app.core.representations import (
    CHANGE_RESPONSES,
    CREATED_RESPONSES,
    DELETE_RESPONSES,
    READ_PARAMETERS,
    READ_RESPONSES,
    IfMatch,
    location,
    representation,
)
from app.core.schemas import PathId
from app.movies.deps import MovieQueriesDep, MovieServiceDep, read_movie_ahead
from app.movies.models import LAST_YEAR
from app.movies.queries import MOVIE_LIST_SPEC
from app.movies.schemas import MovieCreate, MovieRead, MovieUpdate

router = APIRouter(prefix="/movies", tags=["movies"])

# A list's query parameters, checked against the whitelist of its query (queries.py).
MovieListParams = Annotated[ListParams, Depends(list_params(MOVIE_LIST_SPEC))]


@router.get("")
async def list_movies(
    _: ActiveUser,
    params: MovieListParams,
    movies: MovieQueriesDep,
) -> Page[MovieRead]:
    """List movies."""
    return await movies.list_movies(params)


# Declared before `/{movie_id}`, which would otherwise take "new" for an id.
@router.get("/new")
async def new_movies(
    _: ActiveUser,
    movies: MovieQueriesDep,
    year: Annotated[int, Query(ge=1, le=LAST_YEAR, description="Released in or after")],
    rating: Annotated[float, Query(ge=0, le=10, description="Rated at least")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MovieRead]:
    """Movies released since `year` rated at least `rating`, best rated first."""
    return await movies.new_movies(year, Decimal(str(rating)), limit)


@router.get(
    "/{movie_id}",
    response_model=MovieRead,
    responses=READ_RESPONSES,
    openapi_extra=READ_PARAMETERS,
    dependencies=[Depends(read_movie_ahead)],
)
async def get_movie(
    movie_id: PathId, _: ActiveUser, movies: MovieQueriesDep, request: Request
) -> Response:
    """Read one movie (served from the cache when warm)."""
    return representation(await movies.get_movie(movie_id), request)


@router.post(
    "",
    status_code=HTTPStatus.CREATED,
    responses={**CREATED_RESPONSES, **problem_responses(HTTPStatus.CONFLICT)},
)
async def create_movie(
    data: MovieCreate, _: Superuser, movies: MovieServiceDep, request: Request, response: Response
) -> MovieRead:
    """Add a movie, with a chosen `movie_id` or a generated one (superuser)."""
    movie = await movies.create_movie(data)
    response.headers["Location"] = location(request, get_movie, movie_id=movie.movie_id)
    return movie


@router.patch("/{movie_id}", response_model=MovieRead, responses=CHANGE_RESPONSES)
async def update_movie(
    movie_id: PathId, data: MovieUpdate, _: Superuser, movies: MovieServiceDep, expected: IfMatch
) -> Response:
    """Change a movie's title, year or rating (superuser)."""
    return representation(await movies.update_movie(movie_id, data, if_match=expected))


@router.delete(
    "/{movie_id}",
    status_code=HTTPStatus.NO_CONTENT,
    response_class=Response,
    responses=DELETE_RESPONSES,
)
async def delete_movie(
    movie_id: PathId, _: Superuser, movies: MovieServiceDep, expected: IfMatch
) -> None:
    """Delete a movie (superuser)."""
    await movies.delete_movie(movie_id, if_match=expected)
