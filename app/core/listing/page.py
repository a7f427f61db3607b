"""`Page`: the envelope of every list response."""

import math
from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, computed_field

from app.core.counting import EXACT_UP_TO

T = TypeVar("T")
U = TypeVar("U")


class Page(BaseModel, Generic[T]):
    """The envelope of every list response."""

    model_config = ConfigDict(from_attributes=True)

    items: list[T]
    total: int = Field(
        description=f"Rows matching the filters: exact up to {EXACT_UP_TO:,}, above that "
        "possibly the database's estimate (then `total_exact` is false). With `cursor`, the "
        "count of the walk's first page"
    )
    total_exact: bool = Field(
        description=f"Whether `total` (and `pages`) is an exact count or, above {EXACT_UP_TO:,} "
        "matching rows, an estimate",
    )
    page: int
    per_page: int
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` (same sort, filters and per_page) for the next page; "
        "null on the last page",
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Pages of `per_page` items in `total` (an estimate when `total` is one)"
    )
    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0

    def map(self, item_type: type[U], convert: Callable[[T], U] | None = None) -> "Page[U]":
        """The same page with each item converted (by default `item_type.model_validate`)."""
        to_item = convert or item_type.model_validate  # type: ignore[attr-defined]
        return Page[item_type](  # type: ignore[valid-type]
            items=[to_item(item) for item in self.items],
            total=self.total,
            total_exact=self.total_exact,
            page=self.page,
            per_page=self.per_page,
            next_cursor=self.next_cursor,
        )
