"""BaseRepository: the queries every table needs. It flushes, it never commits."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import BigInteger, Integer, Row, Select, Update, bindparam, false, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import DeclarativeBase

from app.core.counting import RowCount
from app.core.db import SoftDeleteMixin, utc_now
from app.core.errors import NotFoundError
from app.core.listing import ListParams, ListSpec, Page, SortField

ModelT = TypeVar("ModelT", bound=DeclarativeBase)
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


def bulk_update(model: type[DeclarativeBase], *conditions: Any, **values: Any) -> Update:
    """`UPDATE model SET values WHERE conditions`, for every matching row at once.

    The session's loaded objects are left as they are (no synchronisation): a bulk update
    is for rows the unit of work does not hold, such as revoking a user's sessions.
    """
    return (
        update(model)
        .where(*conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


@functools.cache
def _sqlite_write_lock(model: type[DeclarativeBase]) -> Update:
    """A write to the model's table that changes no row: on SQLite it opens the
    transaction and takes the database's write lock (what `FOR UPDATE` does to a row)."""
    primary_key = model.__mapper__.primary_key[0]
    return bulk_update(model, false(), **{str(primary_key.key): primary_key})


def _only_live(model: type[DeclarativeBase], stmt: SelectT) -> SelectT:
    if issubclass(model, SoftDeleteMixin):
        return stmt.where(model.deleted_at.is_(None))
    return stmt


def _live_rows(model: type[DeclarativeBase]) -> Select[Any]:
    """The columns of the model's live rows: plain rows, without the cost of ORM objects."""
    return _only_live(model, select(*model.__table__.columns))


@functools.cache
def _live_row_by_id(model: type[DeclarativeBase]) -> Select[*tuple[Any, ...]]:
    """The statement of `BaseRepository.get_row`, built once per model."""
    primary_key = model.__mapper__.primary_key[0]
    return _live_rows(model).where(primary_key == bindparam("ident"))


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


async def _all(
    connection: AsyncConnection, statement: Select[Any], values: dict[str, Any]
) -> list[Row[Any]]:
    return list((await connection.execute(statement, values)).all())


@functools.lru_cache(maxsize=256)
def _unfiltered_list(
    model: type[DeclarativeBase], spec: ListSpec, sort: tuple[SortField, ...]
) -> _ListStatements:
    """`_ListStatements` of a model's live rows, built once per sort: building and keying
    the statements cost more than running them, and most list requests carry no filter."""
    return _ListStatements(_live_rows(model), spec, sort)


class BaseRepository(Generic[ModelT]):
    """Typed CRUD over one model; soft-deleted rows are hidden unless asked for."""

    model: ClassVar[type[DeclarativeBase]]
    not_found_error: ClassVar[type[NotFoundError]] = NotFoundError

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select(self, *, include_deleted: bool = False) -> Select[ModelT]:
        stmt: Select[ModelT] = select(self.model)
        return self._live(stmt) if not include_deleted else stmt

    def select_rows(self) -> Select[Any]:
        """The live rows' columns: plain rows, without the cost of ORM objects (lists)."""
        return _live_rows(self.model)

    def _live(self, stmt: SelectT) -> SelectT:
        return _only_live(self.model, stmt)

    def _not_found(self, ident: Any) -> NotFoundError:
        return self.not_found_error(f"{self.model.__name__} {ident} not found")

    async def get(self, ident: Any, *, include_deleted: bool = False) -> ModelT | None:
        primary_key = self.model.__mapper__.primary_key[0]
        stmt = self.select(include_deleted=include_deleted).where(primary_key == ident)
        found: ModelT | None = await self.session.scalar(stmt)
        return found

    async def get_row(self, ident: Any) -> Row[*tuple[Any, ...]] | None:
        """The live row's columns as a plain row, for a read that changes nothing: a
        statement built once per model, run as Core (no ORM object, no identity map)."""
        connection = await self.session.connection()
        statement = _live_row_by_id(self.model)
        return (await connection.execute(statement, {"ident": ident})).one_or_none()

    async def get_row_or_404(self, ident: Any) -> Row[*tuple[Any, ...]]:
        found = await self.get_row(ident)
        if found is None:
            raise self._not_found(ident)
        return found

    async def get_or_404(self, ident: Any) -> ModelT:
        found = await self.get(ident)
        if found is None:
            raise self._not_found(ident)
        return found

    async def lock_or_404(self, ident: Any) -> ModelT:
        """The live row, re-read and locked (`SELECT ... FOR UPDATE`) until the transaction
        ends: what a write checks on it (an `If-Match`) still holds when it commits, and
        a concurrent writer waits, then re-reads the row as this one left it.

        SQLite has no row locks (it renders no `FOR UPDATE`) and its driver begins a
        transaction at the first write only, so the database's write lock is taken first:
        the read is then in the transaction of the write, which no other writer enters.
        """
        if self.session.get_bind().dialect.name == "sqlite":
            await self.session.execute(_sqlite_write_lock(self.model))
        primary_key = self.model.__mapper__.primary_key[0]
        found: ModelT | None = await self.session.scalar(
            self.select()
            .where(primary_key == ident)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if found is None:
            raise self._not_found(ident)
        return found

    async def list(
        self, params: ListParams, spec: ListSpec, stmt: Select[Any] | None = None
    ) -> Page[Row[Any]]:
        """One page of rows matching the filters: by offset, or after a cursor's keyset;
        with their count, exact up to 10,000 rows (see `RowCount`).

        The items are read-only rows (attribute access by column name): a list page is
        converted to DTOs at once, and loading ORM objects would cost more than the query.
        """
        # Plain rows: run as Core on the session's connection, past the ORM's execution.
        connection = await self.session.connection()
        if stmt is None and not params.filters:
            statements = _unfiltered_list(self.model, spec, params.sort)
        else:
            statements = _ListStatements(self._filtered(params, spec, stmt), spec, params.sort)
        bounds = {"limit": params.per_page + 1}
        if params.after is None or params.total is None:
            total, exact = await statements.count.run(connection)
            found: list[Row[Any]] = []
            if not (exact and params.offset >= total):  # a page past the end reads nothing
                offset = bounds | {"offset": params.offset}
                found = await _all(connection, statements.by_offset, offset)
        else:
            total, exact = params.total, params.total_exact
            values = spec.after_values(params)
            found = await _all(connection, statements.after_cursor, bounds | values)
        rows = found[: params.per_page]
        more = len(found) > params.per_page
        return Page(
            items=rows,
            total=total,
            total_exact=exact,
            page=params.page,
            per_page=params.per_page,
            next_cursor=spec.next_cursor(rows[-1], params, total, exact) if more else None,
        )

    def _filtered(
        self, params: ListParams, spec: ListSpec, stmt: Select[Any] | None
    ) -> Select[Any]:
        return spec.apply(stmt if stmt is not None else self.select_rows(), params)

    async def add(self, instance: ModelT) -> ModelT:
        self.session.add(instance)
        await self.session.flush()
        return instance

    async def update(self, instance: ModelT, values: Mapping[str, Any]) -> ModelT:
        for name, value in values.items():
            setattr(instance, name, value)
        await self.session.flush()
        return instance

    async def soft_delete(self, instance: ModelT) -> None:
        if not isinstance(instance, SoftDeleteMixin):
            raise TypeError(f"{type(instance).__name__} has no soft delete")
        instance.deleted_at = utc_now()
        await self.session.flush()
