"""The list parameters of every list endpoint, parsed once into a typed `ListParams`.

`page`, `per_page`, `sort` and `filters` follow the contract's grammar; fields
and operators are whitelisted per resource by a `ListSpec`; values are turned
into the column's Python type and always bound, never spliced into SQL.

Two ways through a list, with the same envelope:
- offset: `?page=N` counts the matching rows and skips `(N-1) * per_page` of them, so a
  deep page costs a scan of everything before it;
- keyset: every envelope carries `next_cursor`; `?cursor=<it>` (same sort, filters and
  per_page) continues after the last row of the previous page through the sort index,
  so page 5,000 costs what page 1 costs, and rows inserted meanwhile never shift a page.
  `total` is counted once, on the page the walk started from, and carried in the cursor.

The cursor carries the last row's sort values as the database returned them, before any
type conversion, and binds them back unconverted: the keyset compares like with like in
the database's own type and format (SQLite's text timestamps included), so it orders
exactly as `ORDER BY` does.
"""

import datetime as dt
import enum
import hashlib
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Context, Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field, computed_field
from sqlalchemy import (
    BigInteger,
    BindParameter,
    Integer,
    Label,
    Numeric,
    Select,
    SmallInteger,
    and_,
    bindparam,
    func,
    or_,
    tuple_,
    type_coerce,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import UserDefinedType

from app.core.counting import EXACT_UP_TO
from app.core.cursors import CursorCodec, CursorState, InvalidCursorError
from app.core.errors import BadCursorError, ValidationFailedError
from app.core.injection import provided_by

MAX_PAGE = 1_000_000_000
MAX_PER_PAGE = 100
MAX_IN_VALUES = 100
# Filter numbers: their magnitude, and the decimal places of a numeric column without a
# scale of its own (well within what PostgreSQL's numeric holds).
MAX_NUMBER = Decimal(10) ** 15
UNSCALED_PLACES = 30

T = TypeVar("T")
U = TypeVar("U")

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


class _AsStored(UserDefinedType[Any]):
    """A value as the driver reads and writes it, with no conversion on either side: what
    a keyset reads of its sort columns and binds back, so that both sides of its
    comparison are alike (a `NullType` bind would take the column's conversion)."""

    cache_ok = True


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
        text_fields = {name for name, column in self.filterable.items() if _is_text(column)}
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


def _invalid(param: str, msg: str) -> ValidationFailedError:
    return ValidationFailedError(["query", param], msg)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are neither inside `[...]` nor inside a double-quoted value
    (where a backslash escapes the next character)."""
    parts, depth, start, quoted, escaped = [], 0, 0, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            escaped = char == "\\"
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if quoted:
        raise _invalid("filters", f"unterminated quote in {text!r}")
    parts.append(text[start:])
    return parts


_QUOTED = re.compile(r'"((?:[^"\\]|\\["\\])*)"')
_ESCAPE = re.compile(r"\\([\"\\])")


def _unquote(value: str) -> str:
    """A filter value as given, or the text of a double-quoted one (`\\"` and `\\\\` escaped)."""
    if not value.startswith('"'):
        return value
    match = _QUOTED.fullmatch(value)
    if match is None:
        raise _invalid(
            "filters", f'bad quoting in {value!r}: quote the whole value, escape only \\" and \\\\'
        )
    return _ESCAPE.sub(r"\1", match.group(1))


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
            return _number(column, raw)
        if python_type is dt.datetime:
            moment = dt.datetime.fromisoformat(raw)
            return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        if python_type is dt.date:
            return dt.date.fromisoformat(raw)
        if issubclass(python_type, enum.Enum):
            return python_type(raw)
    except (ValueError, InvalidOperation, OverflowError) as error:
        why = f": {error}" if isinstance(error, _UnfitNumberError) else ""
        raise _invalid("filters", f"{raw!r} is not a valid value for {name!r}{why}") from None
    return raw


class _UnfitNumberError(ValueError):
    """A number that parses, but that its column cannot compare exactly."""


def _number(column: InstrumentedAttribute[Any], raw: str) -> float | Decimal:
    """A finite number below `MAX_NUMBER`, with no more decimal places than the column
    keeps (else `ValueError`): a value the database can bind whatever its exponent, and
    that compares with the column's values exactly."""
    number = Decimal(raw)
    if not number.is_finite() or abs(number) >= MAX_NUMBER:
        raise _UnfitNumberError(f"a finite number below 10^{MAX_NUMBER.adjusted()} is expected")
    if _python_type(column) is float:
        value = float(number)
        if number and not value:  # too small for a float: it would compare as zero
            raise _UnfitNumberError("too small a number")
        return value
    scale = column.type.scale if isinstance(column.type, Numeric) else None
    places = UNSCALED_PLACES if scale is None else scale
    context = Context(prec=MAX_NUMBER.adjusted() + places + 1)
    exact = number.quantize(Decimal(1).scaleb(-places), context=context)
    if exact != number:  # finer than the column: no stored value could equal it
        raise _UnfitNumberError(f"at most {places} decimal places")
    return exact


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
        items = [_unquote(item.strip()) for item in _split_top_level(value[1:-1]) if item.strip()]
        if not items or len(items) > MAX_IN_VALUES:
            raise _invalid("filters", f"'in' on {name!r} takes 1 to {MAX_IN_VALUES} values")
        return Filter(name, op, [_convert(column, name, item) for item in items])
    return Filter(name, op, _convert(column, name, _unquote(value)))


def parse_filters(spec: ListSpec, raw: str | None) -> tuple[Filter, ...]:
    if not raw:
        return ()
    return tuple(_parse_filter(spec, part) for part in _split_top_level(raw) if part.strip())


def list_params(spec: ListSpec) -> Callable[..., Awaitable[ListParams]]:
    """A FastAPI dependency that parses the list query parameters for `spec`.

    (This module does not use postponed annotations: FastAPI must see the
    per-resource descriptions of the nested function's parameters.)
    """

    async def dependency(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
        request: Request,
        page: Annotated[
            int | None, Query(ge=1, le=MAX_PAGE, description="Page number, from 1")
        ] = None,
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
                "separated; ops `eq ne gt gte lt lte in contains`. A value with a comma goes in "
                'double quotes, `\\"` and `\\\\` escaped: `title:contains:"Good, the Bad"`. '
                f"{spec.filters_help}",
            ),
        ] = None,
        cursor: Annotated[
            str | None,
            Query(
                max_length=2000,
                description="The `next_cursor` of the previous page (keyset paging; not "
                "with `page`)",
            ),
        ] = None,
    ) -> ListParams:
        cursors = provided_by(request.app).get(CursorCodec)
        params = ListParams(
            page or 1,
            per_page,
            parse_sort(spec, sort),
            parse_filters(spec, filters),
            cursors=cursors,
        )
        if cursor is None:
            return params
        if page is not None:
            raise _invalid("cursor", "give either cursor or page, not both")
        try:
            state = cursors.decode(cursor, spec.query_of(params))
        except (InvalidCursorError, ValueError, KeyError, TypeError) as error:
            raise BadCursorError(f"invalid cursor: {error}") from None
        if len(state.after) != spec.key_count(params.sort):
            raise BadCursorError("invalid cursor: wrong number of sort values")
        return replace(
            params,
            page=state.page + 1,
            after=state.after,
            total=state.total,
            total_exact=state.total_exact,
        )

    return dependency
