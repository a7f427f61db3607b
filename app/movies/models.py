"""The movies module's table."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, TimestampMixin

TITLE_MAX_LENGTH = 200
FIRST_YEAR = 1870
LAST_YEAR = 2100
MAX_RATING = Decimal("10.0")


class Movie(TimestampMixin, Base):
    """A film. `movie_id` is generated unless the client picks it; `rating` is an exact
    decimal with one digit after the point, so 8.9 reads back as 8.9."""

    __tablename__ = "movies"
    __table_args__ = (
        CheckConstraint(f"released BETWEEN {FIRST_YEAR} AND {LAST_YEAR}", name="released_range"),
        CheckConstraint(f"rating BETWEEN 0 AND {MAX_RATING}", name="rating_range"),
    )
    # UPDATE ... RETURNING brings back the `updated_at` the database set.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy's own protocol

    movie_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH), index=True)
    released: Mapped[int] = mapped_column(SmallInteger, index=True)
    rating: Mapped[Decimal] = mapped_column(Numeric(3, 1))


# `/movies/new` reads it in order (best rated first, ties by title) from a range on rating.
Index("ix_movies_rating_desc_title", Movie.rating.desc(), Movie.title)
