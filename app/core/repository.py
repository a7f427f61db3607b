"""BaseRepository: the queries every table needs. It flushes, it never commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from app.core.db import SoftDeleteMixin
from app.core.errors import NotFoundError
from app.core.listing import ListParams, ListSpec, Page

ModelT = TypeVar("ModelT", bound=DeclarativeBase)


class BaseRepository(Generic[ModelT]):
    """Typed CRUD over one model; soft-deleted rows are hidden unless asked for."""

    model: ClassVar[type[DeclarativeBase]]
    not_found_error: ClassVar[type[NotFoundError]] = NotFoundError

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select(self, *, include_deleted: bool = False) -> Select[ModelT]:
        stmt: Select[ModelT] = select(self.model)
        if issubclass(self.model, SoftDeleteMixin) and not include_deleted:
            stmt = stmt.where(self.model.deleted_at.is_(None))
        return stmt

    async def get(self, ident: Any, *, include_deleted: bool = False) -> ModelT | None:
        primary_key = self.model.__mapper__.primary_key[0]
        stmt = self.select(include_deleted=include_deleted).where(primary_key == ident)
        found: ModelT | None = await self.session.scalar(stmt)
        return found

    async def get_or_404(self, ident: Any) -> ModelT:
        found = await self.get(ident)
        if found is None:
            raise self.not_found_error(f"{self.model.__name__} {ident} not found")
        return found

    async def list(
        self, params: ListParams, spec: ListSpec, stmt: Select[ModelT] | None = None
    ) -> Page[ModelT]:
        """One page of rows matching the filters: by offset, or after a cursor's keyset."""
        filtered = spec.apply(stmt if stmt is not None else self.select(), params)
        ordered = filtered.order_by(*spec.order_by(params))
        if params.after is None or params.total is None:
            total_stmt = select(func.count()).select_from(filtered.order_by(None).subquery())
            total = (await self.session.execute(total_stmt)).scalar_one()
            rows = (
                await self.session.scalars(ordered.offset(params.offset).limit(params.per_page))
            ).all()
            more = params.offset + len(rows) < total
        else:
            total = params.total
            after = ordered.where(spec.after(params)).limit(params.per_page + 1)
            rows = (await self.session.scalars(after)).all()
            more, rows = len(rows) > params.per_page, rows[: params.per_page]
        return Page(
            items=list(rows),
            total=total,
            page=params.page,
            per_page=params.per_page,
            next_cursor=spec.next_cursor(rows[-1], params, total) if more and rows else None,
        )

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
        instance.deleted_at = dt.datetime.now(dt.UTC)
        await self.session.flush()
