"""The read side (CQRS): queries run as Core statements on a read connection from
`Database.reading()` (autocommit: no transaction, no ORM session, no unit of work) and
return rows that the module's queries turn into response DTOs.

Statements are built once (per model, per sort) and their parameters bound at execution:
building and keying a statement costs more than running a short one.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BigInteger, Integer, Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import DeclarativeBase

from app.core.counting import RowCount
from app.core.db import only_live
from app.core.listing import ListParams, ListSpec, Page, SortField


@functools.cache
def live_rows(model: type[DeclarativeBase]) -> Select[Any]:
    """The columns of the model's live rows (soft-deleted ones hidden), as plain rows."""
    return only_live(model, select(*model.__table__.columns))


@functools.cache
def _live_row_by_id(model: type[DeclarativeBase]) -> Select[Any]:
    primary_key = model.__mapper__.primary_key[0]
    return live_rows(model).where(primary_key == bindparam("ident"))


async def live_row(
    connection: AsyncConnection, model: type[DeclarativeBase], ident: Any
) -> Row[Any] | None:
    """The model's live row with this primary key, or None."""
    found: Row[Any] | None = (
        await connection.execute(_live_row_by_id(model), {"ident": ident})
    ).one_or_none()
    return found


class _ListStatements:
    """The statements of one list (rows, filters, sort), each built when first used: the
    count of its rows, a page of them by offset (`limit` and `offset` bound at execution)
    and a page after a cursor (the cursor's values bound at execution). Each page reads
    one row more than asked for, which tells whether another page follows."""

    def __init__(self, rows: Select[Any], spec: ListSpec, sort: tuple[SortField, ...]) -> None:
        self._rows, self._spec, self._sort = rows, spec, sort

    @functools.cached_property
    def count(self) -> RowCount:
        return RowCount(self._rows)

    @functools.cached_property
    def _ordered(self) -> Select[Any]:
        columns = self._spec.key_columns(self._sort)
        return self._rows.add_columns(*columns).order_by(*self._spec.order_by(self._sort))

    @functools.cached_property
    def by_offset(self) -> Select[Any]:
        # BIGINT: an offset deep past the end overflows an INTEGER.
        limit, offset = bindparam("limit", type_=BigInteger), bindparam("offset", type_=BigInteger)
        return self._ordered.limit(limit).offset(offset)

    @functools.cached_property
    def after_cursor(self) -> Select[Any]:
        after = self._spec.after(self._sort)
        return self._ordered.where(after).limit(bindparam("limit", type_=Integer))


@functools.lru_cache(maxsize=256)
def _unfiltered_list(
    rows: Select[Any], spec: ListSpec, sort: tuple[SortField, ...]
) -> _ListStatements:
    """`_ListStatements` of a list without filters, built once per sort (most list
    requests carry no filter). `rows` is a statement built once, such as `live_rows`'."""
    return _ListStatements(rows, spec, sort)


async def _all(
    connection: AsyncConnection, statement: Select[Any], values: dict[str, Any]
) -> list[Row[Any]]:
    return list((await connection.execute(statement, values)).all())


async def fetch_page(
    connection: AsyncConnection, rows: Select[Any], spec: ListSpec, params: ListParams
) -> Page[Row[Any]]:
    """One page of `rows` matching the filters: by offset, or after a cursor's keyset;
    with their count, exact up to 10,000 rows (see `RowCount`).

    The items are read-only rows (attribute access by column name), which the caller
    turns into DTOs (`Page.map`). `rows` must be built once (a module constant): the
    statements of its unfiltered lists are kept per sort.
    """
    if params.filters:
        statements = _ListStatements(spec.apply(rows, params), spec, params.sort)
    else:
        statements = _unfiltered_list(rows, spec, params.sort)
    bounds = {"limit": params.per_page + 1}
    if params.after is None or params.total is None:
        total, exact = await statements.count.run(connection)
        found: list[Row[Any]] = []
        if not (exact and params.offset >= total):  # a page past the end reads nothing
            found = await _all(connection, statements.by_offset, bounds | {"offset": params.offset})
    else:
        total, exact = params.total, params.total_exact
        values = spec.after_values(params)
        found = await _all(connection, statements.after_cursor, bounds | values)
    items = found[: params.per_page]
    more = len(found) > params.per_page
    return Page(
        items=items,
        total=total,
        total_exact=exact,
        page=params.page,
        per_page=params.per_page,
        next_cursor=spec.next_cursor(items[-1], params, total, exact) if more else None,
    )
