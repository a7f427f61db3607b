"""The list parameters of every list endpoint, parsed once into a typed `ListParams`.

`page`, `per_page`, `sort` and `filters` follow the contract's grammar; fields
and operators are whitelisted per resource by a `ListSpec`; values are turned
into the column's Python type and always bound, never spliced into SQL.
"""

import datetime as dt
import enum
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import BigInteger, Integer, Select, SmallInteger, and_, func
from sqlalchemy.orm import InstrumentedAttribute

from app.core.errors import ValidationFailedError

MAX_PAGE = 1_000_000_000
MAX_PER_PAGE = 100
MAX_IN_VALUES = 100

T = TypeVar("T")

_INT_RANGES = {
    SmallInteger: (-(2**15), 2**15 - 1),
    BigInteger: (-(2**63), 2**63 - 1),
    Integer: (-(2**31), 2**31 - 1),
}
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
_EVERY_TYPE = frozenset({"eq", "ne", "in"})
_ORDERED = _EVERY_TYPE | {"gt", "gte", "lt", "lte"}
_TEXT = _EVERY_TYPE | {"contains"}


def _escape_like(value: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", value)


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
    """Validated paging, sorting and filtering of one list request."""

    page: int = 1
    per_page: int = 10
    sort: tuple[SortField, ...] = ()
    filters: tuple[Filter, ...] = ()

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
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
        text_fields = {name for name, column in self.filterable.items() if _is_text(column)}
        if wrong := self.case_insensitive - text_fields:
            raise ValueError(f"case_insensitive must name text filter fields, not {sorted(wrong)}")
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

    def order_by(self, params: ListParams) -> list[Any]:
        sort = params.sort or self.default_sort
        columns = [
            self.sortable[item.name].desc() if item.descending else self.sortable[item.name].asc()
            for item in sort
        ]
        return [*columns, self.tiebreaker.asc()]


class Page(BaseModel, Generic[T]):
    """The envelope of every list response."""

    model_config = ConfigDict(from_attributes=True)

    items: list[T]
    total: int
    page: int
    per_page: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0


def _invalid(param: str, msg: str) -> ValidationFailedError:
    return ValidationFailedError(["query", param], msg)


def _split_top_level(text: str) -> Iterator[str]:
    """Split on commas that are not inside `[...]`."""
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def parse_sort(spec: ListSpec, raw: str | None) -> tuple[SortField, ...]:
    if not raw:
        return ()
    fields = []
    for part in raw.split(","):
        name, _, direction = part.strip().partition(":")
        if name not in spec.sortable:
            raise _invalid("sort", f"cannot sort by {name!r}; {spec.sort_help}")
        if direction not in ("", "asc", "desc"):
            raise _invalid("sort", f"direction of {name!r} must be asc or desc")
        fields.append(SortField(name, direction == "desc"))
    return tuple(fields)


def _is_text(column: InstrumentedAttribute[Any]) -> bool:
    return _python_type(column) is str


def _allowed_ops(column: InstrumentedAttribute[Any]) -> frozenset[str]:
    python_type = _python_type(column)
    if python_type is str:
        return _TEXT
    if python_type in (int, float, Decimal, dt.date, dt.datetime):
        return _ORDERED
    return _EVERY_TYPE


def _python_type(column: InstrumentedAttribute[Any]) -> type:
    try:
        python_type: type = column.type.python_type
    except NotImplementedError:  # types such as JSON have no Python equivalent
        return object
    return python_type


def _convert(column: InstrumentedAttribute[Any], name: str, raw: str) -> Any:
    python_type = _python_type(column)
    try:
        if python_type is bool:
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if python_type is int:
            value = int(raw)
            low, high = next(
                (bounds for kind, bounds in _INT_RANGES.items() if isinstance(column.type, kind)),
                _INT_RANGES[BigInteger],
            )
            if not low <= value <= high:
                raise ValueError
            return value
        if python_type in (float, Decimal):
            number = Decimal(raw)
            if not number.is_finite() or abs(number) >= Decimal(10) ** 15:
                raise ValueError
            return number if python_type is Decimal else float(number)
        if python_type is dt.datetime:
            moment = dt.datetime.fromisoformat(raw)
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        if python_type is dt.date:
            return dt.date.fromisoformat(raw)
        if issubclass(python_type, enum.Enum):
            return python_type(raw)
    except (ValueError, InvalidOperation, OverflowError):
        raise _invalid("filters", f"{raw!r} is not a valid value for {name!r}") from None
    return raw


def _parse_filter(spec: ListSpec, text: str) -> Filter:
    name, sep, rest = text.strip().partition(":")
    if name not in spec.filterable:
        raise _invalid("filters", f"cannot filter by {name!r}; {spec.filters_help}")
    if not sep:
        raise _invalid("filters", f"{text!r} must read field:value or field:op:value")
    op, sep, value = rest.partition(":")
    if not (sep and op in _COMPARISONS):
        op, value = ("in" if rest.startswith("[") else "eq"), rest
    column = spec.filterable[name]
    if op not in _allowed_ops(column):
        raise _invalid("filters", f"operator {op!r} does not apply to {name!r}")
    if op == "in":
        if not (value.startswith("[") and value.endswith("]")):
            raise _invalid("filters", f"'in' on {name!r} takes a list: {name}:[v1,v2]")
        items = [item.strip() for item in value[1:-1].split(",") if item.strip()]
        if not items or len(items) > MAX_IN_VALUES:
            raise _invalid("filters", f"'in' on {name!r} takes 1 to {MAX_IN_VALUES} values")
        return Filter(name, op, [_convert(column, name, item) for item in items])
    return Filter(name, op, _convert(column, name, value))


def parse_filters(spec: ListSpec, raw: str | None) -> tuple[Filter, ...]:
    if not raw:
        return ()
    return tuple(_parse_filter(spec, part) for part in _split_top_level(raw) if part.strip())


def list_params(spec: ListSpec) -> Callable[..., ListParams]:
    """A FastAPI dependency that parses the list query parameters for `spec`.

    (This module does not use postponed annotations: FastAPI must see the
    per-resource descriptions of the nested function's parameters.)
    """

    def dependency(
        page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1")] = 1,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="Items per page")] = 10,
        sort: Annotated[
            str | None,
            Query(max_length=500, description=f"`field:asc|desc[,...]`. {spec.sort_help}"),
        ] = None,
        filters: Annotated[
            str | None,
            Query(
                max_length=2000,
                description="`field:value`, `field:[v1,v2]` or `field:op:value`, comma "
                f"separated; ops `eq ne gt gte lt lte in contains`. {spec.filters_help}",
            ),
        ] = None,
    ) -> ListParams:
        return ListParams(page, per_page, parse_sort(spec, sort), parse_filters(spec, filters))

    return dependency


def page_of(items: Sequence[T], total: int, params: ListParams) -> Page[T]:
    return Page(items=list(items), total=total, page=params.page, per_page=params.per_page)
