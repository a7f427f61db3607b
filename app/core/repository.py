"""BaseRepository: what every command needs of a table, as ORM objects (the write side;
reads are queries, `app.core.queries`). It flushes, it never commits."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, Update, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from app.core.db import SelectT, SoftDeleteMixin, only_live, utc_now
from app.core.errors import NotFoundError

ModelT = TypeVar("ModelT", bound=DeclarativeBase)


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


class BaseRepository(Generic[ModelT]):
    """Typed CRUD over one model; soft-deleted rows are hidden unless asked for."""

    model: ClassVar[type[DeclarativeBase]]
    not_found_error: ClassVar[type[NotFoundError]] = NotFoundError

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select(self, *, include_deleted: bool = False) -> Select[ModelT]:
        stmt: Select[ModelT] = select(self.model)
        return self._live(stmt) if not include_deleted else stmt

    def _live(self, stmt: SelectT) -> SelectT:
        return only_live(self.model, stmt)

    def _not_found(self, ident: Any) -> NotFoundError:
        return self.not_found_error(f"{self.model.__name__} {ident} not found")

    async def get(self, ident: Any, *, include_deleted: bool = False) -> ModelT | None:
        primary_key = self.model.__mapper__.primary_key[0]
        stmt = self.select(include_deleted=include_deleted).where(primary_key == ident)
        found: ModelT | None = await self.session.scalar(stmt)
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
