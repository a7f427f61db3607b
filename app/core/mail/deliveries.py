"""The record of delivered emails, by Message-ID, so that a delivery that runs twice sends once.

Delivery is at least once: a worker that dies, or loses Redis, after the SMTP server took an
email but before it acknowledged the task gets the task again. The record lives in the
database (it outlives a Redis outage) and is written right after the server accepted the
email; only a crash between the two can still send twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, delete_older_than, utc_now


class DeliveredEmail(Base):
    __tablename__ = "mail_deliveries"

    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    delivered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now, index=True)


class DeliveryRecord:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def was_delivered(self, message_id: str) -> bool:
        async with self._session_factory() as session:
            found = await session.scalar(
                select(DeliveredEmail.message_id).where(DeliveredEmail.message_id == message_id)
            )
        return found is not None

    async def record(self, message_id: str) -> None:
        try:
            async with self._session_factory() as session, session.begin():
                session.add(DeliveredEmail(message_id=message_id))
        except IntegrityError:  # a concurrent redelivery recorded it first
            pass

    async def purge(self, older_than: dt.timedelta) -> int:
        """Forget deliveries older than `older_than` (no task is redelivered that late)."""
        return await delete_older_than(
            self._session_factory, DeliveredEmail.delivered_at, older_than
        )
