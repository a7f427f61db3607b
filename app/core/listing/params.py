"""The parsed form of one list request: its page, sort and filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.core.cursors import CursorCodec


@dataclass(frozen=True)
class SortField:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class Filter:
    name: str
    op: str
    value: Any


@dataclass(frozen=True)
class ListParams:
    """Validated paging, sorting and filtering of one list request.

    `after` (keyset mode): the sort key of the previous page's last row, as the database
    returned it; `total` and `total_exact`: the count carried by the cursor. `cursors`
    signs the next cursor.
    """

    page: int = 1
    per_page: int = 10
    sort: tuple[SortField, ...] = ()
    filters: tuple[Filter, ...] = ()
    after: tuple[Any, ...] | None = None
    total: int | None = None
    total_exact: bool = True
    cursors: CursorCodec | None = None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page
