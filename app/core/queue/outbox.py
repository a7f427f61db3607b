"""The transactional outbox: tasks written in the caller's transaction, sent after it.

A row is written by `Queue.enqueue` in the same transaction as the change that
caused it, so a rolled-back request leaves nothing behind and a committed one
cannot lose its tasks. `OutboxRelay` sends due rows to the broker and marks
them sent in one transaction; rows are claimed with `FOR UPDATE SKIP LOCKED`
on PostgreSQL (SQLite serializes writers), so several relays never send a row
twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import structlog
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import JSON, BigInteger, Integer, String, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, delete_older_than, utc_now

logger = structlog.get_logger(__name__)


class OutboxMessage(Base):
    """One task call waiting to be sent, or already sent (until the clean-up removes it)."""

    __tablename__ = "queue_outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    task_name: Mapped[str] = mapped_column(String(300))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON())
    labels: Mapped[dict[str, Any]] = mapped_column(JSON())
    task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # Not sent before this time (a retry's backoff); NULL means at once.
    available_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)


SendMessage = Callable[[OutboxMessage], Awaitable[None]]


class OutboxRelay:
    """Sends pending outbox rows through `send` and marks them sent."""

    def __init__(
        self,
        session_factory: Callable[[], AsyncSession],
        send: SendMessage,
        *,
        batch_size: int,
    ) -> None:
        self._session_factory = session_factory
        self._send = send
        self._batch_size = batch_size
        self.send_failed = False  # whether the last pass left rows it could not send

    async def relay(self, ids: Collection[int] | None = None) -> int:
        """Send the due pending rows (only `ids` when given); return how many went out.

        Rows that fail to send stay pending for the next pass: a broker outage
        never loses a task, it only delays it.
        """
        now = utc_now()
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.sent_at.is_(None),
                or_(OutboxMessage.available_at.is_(None), OutboxMessage.available_at <= now),
            )
            .order_by(OutboxMessage.id)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
        )
        if ids is not None:
            due = due.where(OutboxMessage.id.in_(ids))
        async with self._session_factory() as session, session.begin():
            # Claiming by an UPDATE takes the row locks (or SQLite's write lock) at once;
            # the claim only becomes visible if this transaction commits.
            claimed = (
                await session.scalars(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(due.scalar_subquery()))
                    .values(sent_at=now)
                    .returning(OutboxMessage)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            unsent = await self._send_all(sorted(claimed, key=lambda row: row.id))
            self.send_failed = bool(unsent)
            if unsent:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(unsent))
                    .values(sent_at=None)
                    .execution_options(synchronize_session=False)
                )
        return len(claimed) - len(unsent)

    async def _send_all(self, rows: list[OutboxMessage]) -> list[int]:
        """Send rows in order, stopping at the first failure; return the ids not sent."""
        for index, row in enumerate(rows):
            try:
                await self._send(row)
            except Exception as error:
                logger.warning(
                    "outbox send failed; the tasks stay pending",
                    task=row.task_name,
                    pending=len(rows) - index,
                    error=str(error) or type(error).__name__,
                )
                return [pending.id for pending in rows[index:]]
        return []

    async def backlog_metrics(self) -> list[Metric]:
        """The unsent rows and how late the most overdue is (one query, at scrape time)."""
        due_at = func.coalesce(OutboxMessage.available_at, OutboxMessage.created_at)
        async with self._session_factory() as session:
            pending, earliest = (
                await session.execute(
                    select(func.count(), func.min(due_at, type_=UTCDateTime())).where(
                        OutboxMessage.sent_at.is_(None)
                    )
                )
            ).one()
        late = max(0.0, (utc_now() - earliest).total_seconds()) if earliest else 0.0
        return [
            GaugeMetricFamily(
                "queue_outbox_pending", "Tasks in the outbox not sent to the broker yet", pending
            ),
            GaugeMetricFamily(
                "queue_outbox_oldest_due_seconds",
                "How long the most overdue unsent task has been due (0 when none)",
                late,
            ),
        ]

    async def purge_sent(self, older_than: dt.timedelta) -> int:
        """Delete rows sent more than `older_than` ago; return how many."""
        return await delete_older_than(self._session_factory, OutboxMessage.sent_at, older_than)
