"""`ListSpec`: what a resource lets clients sort and filter on, and the SQL of its lists:
filter conditions, ordering, and the keyset that continues after a cursor."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, Label, Select, and_, bindparam, func, or_, tuple_, type_coerce
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import UserDefinedType

from app.core.cursors import CursorState
from app.core.listing.params import Filter, ListParams, SortField
from app.core.listing.values import is_text

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda column, value: column == value,
    "ne": lambda column, value: column != value,
    "gt": lambda column, value: column > value,
    "gte": lambda column, value: column >= value,
    "lt": lambda column, value: column < value,
    "lte": lambda column, value: column <= value,
    "in": lambda column, values: column.in_(values),
    "contains": lambda column, value: column.ilike(f"%{_escape_like(value)}%", escape="\\"),
}
OPERATORS = frozenset(_COMPARISONS)


def _escape_like(value: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", value)


class _AsStored(UserDefinedType[Any]):
    """A value as the driver reads and writes it, with no conversion on either side: what
    a keyset reads of its sort columns and binds back, so that both sides of its
    comparison are alike (a `NullType` bind would take the column's conversion)."""

    cache_ok = True


@dataclass(frozen=True, eq=False)  # one per resource, compared and hashed as itself
class ListSpec:
    """What a resource lets clients sort and filter on, by public field name.

    `case_insensitive` names text filter fields whose `eq`, `ne` and `in` ignore
    case, as both sides are lowered (`contains` always ignores case).
    """

    sortable: Mapping[str, InstrumentedAttribute[Any]]
    filterable: Mapping[str, InstrumentedAttribute[Any]]
    default_sort: tuple[SortField, ...]
    tiebreaker: InstrumentedAttribute[Any]
    case_insensitive: frozenset[str] = frozenset()
    sort_help: str = field(init=False)
    filters_help: str = field(init=False)

    def __post_init__(self) -> None:
        text_fields = {name for name, column in self.filterable.items() if is_text(column)}
        if wrong := self.case_insensitive - text_fields:
            raise ValueError(f"case_insensitive must name text filter fields, not {sorted(wrong)}")
        nullable = [
            name
            for name, column in (*self.sortable.items(), ("tiebreaker", self.tiebreaker))
            if any(getattr(col, "nullable", False) for col in column.property.columns)
        ]
        if nullable:  # a keyset cannot step over NULLs
            raise ValueError(f"sortable columns must be NOT NULL, not {nullable}")
        object.__setattr__(self, "sort_help", "Fields: " + ", ".join(self.sortable))
        object.__setattr__(self, "filters_help", "Fields: " + ", ".join(self.filterable))

    def apply(self, stmt: Select[Any], params: ListParams) -> Select[Any]:
        """Add the filters to a statement (ordering and paging are separate)."""
        conditions = [self._condition(item) for item in params.filters]
        return stmt.where(and_(*conditions)) if conditions else stmt

    def _condition(self, item: Filter) -> Any:
        column: Any = self.filterable[item.name]
        value = item.value
        if item.name in self.case_insensitive:
            column = func.lower(column)
            value = [text.lower() for text in value] if item.op == "in" else value.lower()
        return _COMPARISONS[item.op](column, value)

    def _keys(self, sort: tuple[SortField, ...]) -> list[tuple[InstrumentedAttribute[Any], bool]]:
        """The sort columns with their direction; the tiebreaker follows the last one, so
        that an index on (sort column, tiebreaker) serves both directions."""
        keys = [(self.sortable[item.name], item.descending) for item in sort or self.default_sort]
        if all(column is not self.tiebreaker for column, _ in keys):
            keys.append((self.tiebreaker, keys[-1][1] if keys else False))
        return keys

    def order_by(self, sort: tuple[SortField, ...]) -> list[Any]:
        return [column.desc() if desc else column.asc() for column, desc in self._keys(sort)]

    def key_columns(self, sort: tuple[SortField, ...]) -> list[Label[Any]]:
        """The sort columns again, read as stored (`key_of` takes a cursor's values there)."""
        return [
            type_coerce(column, _AsStored()).label(f"{_KEY_LABEL}{index}")
            for index, (column, _) in enumerate(self._keys(sort))
        ]

    def after(self, sort: tuple[SortField, ...]) -> Any:
        """The keyset condition: rows strictly after the values bound as `after_values`, in
        the sort order. Built once per sort: the values are bound at execution."""
        keys = self._keys(sort)
        values = [_after_bind(index) for index in range(len(keys))]
        if len({desc for _, desc in keys}) == 1:  # one direction: a row comparison
            row, bound = tuple_(*(column for column, _ in keys)), tuple_(*values)
            return row < bound if keys[0][1] else row > bound
        steps = []
        for index, (column, desc) in enumerate(keys):
            equal = [keys[i][0] == values[i] for i in range(index)]
            steps.append(and_(*equal, column < values[index] if desc else column > values[index]))
        return or_(*steps)

    @staticmethod
    def after_values(params: ListParams) -> dict[str, Any]:
        """The execution parameters of `after`: the cursor's values."""
        return {_after_bind(index).key: value for index, value in enumerate(params.after or ())}

    def key_of(self, row: Any, params: ListParams) -> tuple[Any, ...]:
        """The sort key of `row` (read with `key_columns`), as the database returned it."""
        fields = row._mapping
        return tuple(fields[f"{_KEY_LABEL}{index}"] for index in range(self.key_count(params.sort)))

    def key_count(self, sort: tuple[SortField, ...]) -> int:
        return len(self._keys(sort))

    def query_of(self, params: ListParams) -> str:
        """What a cursor must have been minted for: this resource, sort, filters, size."""
        shape = (self.tiebreaker.class_.__name__, params.sort, params.filters, params.per_page)
        return hashlib.sha256(repr(shape).encode()).hexdigest()[:16]

    def next_cursor(
        self, last_row: Any, params: ListParams, total: int, total_exact: bool
    ) -> str | None:
        if params.cursors is None:
            return None
        state = CursorState(
            self.key_of(last_row, params), self.query_of(params), total, total_exact, params.page
        )
        return params.cursors.encode(state)


_KEY_LABEL = "cursor_key_"


def _after_bind(index: int) -> BindParameter[Any]:
    return bindparam(f"after_{index}", type_=_AsStored())
