"""Request and response bodies of the movies endpoints."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from app.core.schemas import MAX_ID, PatchModel, RequestModel
from app.movies.models import FIRST_YEAR, LAST_YEAR, MAX_RATING, TITLE_MAX_LENGTH


def _json_number(value: Any) -> Any:
    """Strict input: a JSON number, never a string or a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    return value


MovieId = Annotated[int, Field(ge=1, le=MAX_ID)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX_LENGTH)]
Released = Annotated[int, Field(ge=FIRST_YEAR, le=LAST_YEAR, description="Year of release")]
# A number with at most one decimal, kept exact as a Decimal (8.85 is refused, not rounded).
RatingInput = Annotated[
    Decimal,
    BeforeValidator(_json_number),
    Field(strict=False, ge=0, le=MAX_RATING, max_digits=3, decimal_places=1),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 10, "multipleOf": 0.1}),
]
# Written as a JSON number (9.2), not as the string pydantic gives a Decimal by default.
Rating = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class MovieCreate(RequestModel):
    title: Title
    released: Released
    rating: RatingInput
    movie_id: MovieId | None = Field(default=None, description="Chosen id; generated if absent")


class MovieUpdate(PatchModel):
    """Any subset of the fields; a field left out keeps its value."""

    title: Title | None = None
    released: Released | None = None
    rating: RatingInput | None = None


class MovieRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    movie_id: int
    title: str
    released: int
    rating: Rating
    created_at: dt.datetime
    updated_at: dt.datetime
