"""A test-only table (own metadata, never migrated) for exercising the database core."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import MetaData, Numeric, String
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.db import SoftDeleteMixin, TimestampMixin, UTCDateTime
from app.core.listing import ListSpec, SortField
from app.core.repository import BaseRepository


class GadgetBase(DeclarativeBase):
    metadata = MetaData()


class Gadget(TimestampMixin, SoftDeleteMixin, GadgetBase):
    __tablename__ = "test_gadgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    price: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    in_stock: Mapped[bool] = mapped_column(default=True)
    launched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class GadgetRepository(BaseRepository[Gadget]):
    model = Gadget


GADGET_LIST = ListSpec(
    sortable={"id": Gadget.id, "name": Gadget.name, "price": Gadget.price},
    filterable={
        "id": Gadget.id,
        "name": Gadget.name,
        "price": Gadget.price,
        "in_stock": Gadget.in_stock,
        "launched_at": Gadget.launched_at,
    },
    default_sort=(SortField("id"),),
    tiebreaker=Gadget.id,
)


async def create_gadget_table(connection: AsyncConnection) -> None:
    """Create the table inside the test's transaction (rolled back with it)."""
    await connection.run_sync(GadgetBase.metadata.create_all)
