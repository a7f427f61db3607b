"""The movies module's errors; `app.core.errors` turns each into a problem response."""

from __future__ import annotations

from app.core.errors import ConflictError, DuplicateError, NotFoundError


class MovieNotFoundError(NotFoundError):
    detail = "Movie not found"


class MovieAlreadyExistsError(DuplicateError):
    detail = "A movie with this movie_id already exists"


class MovieIdsExhaustedError(ConflictError):
    detail = "No movie_id is left to generate; choose a free movie_id instead"
