"""The event outbox: durable, at-least-once delivery of events to other modules' listeners.

`Events.publish` writes one `EventDelivery` row per listener of another module, in the
publisher's own transaction: the event and the change it describes commit together, or
neither does. Right after the commit the publishing process attempts each delivery at once
(so a request's reactions have run before its response), and a relay (the worker, or the
app itself in embedded mode) takes over what nobody finished:

- a row written by a publisher is leased to it for `QUEUE_UNACKNOWLEDGED_LOCK_TIMEOUT`: if
  the process dies before the listener ran (or before it could record that it ran), the
  relay attempts the delivery once the lease is over;
- a listener that raises is attempted again after a backoff (`QUEUE_RETRY_DELAY`, doubling,
  up to `QUEUE_RETRY_MAX_DELAY`, with jitter), `QUEUE_TASK_RETRIES` times;
- after its last failed attempt the row is dead-lettered (`dead_at`, `last_error`): kept,
  counted in the `events_deliveries_dead_lettered` gauge, never attempted again unless an
  operator makes it pending again (`dead_at` NULL, `attempts` 0, `available_at` now).

Delivery is at least once: a listener may run twice for one event (a lease that ran out
during a slow attempt, a crash between its commit and the row's), so listeners are
idempotent. Rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serializes
writers), so several relays never take one row at once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import structlog
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import JSON, BigInteger, Integer, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.config import Settings
from app.core.db import Base, UTCDateTime, delete_older_than, utc_now
from app.core.logging import current_request_id
from app.core.retries import retry_delay

logger = structlog.get_logger("app.events")

ERROR_LENGTH = 1000


class EventDelivery(Base):
    """One event to deliver to one listener: pending, delivered, or dead-lettered."""

    __tablename__ = "event_deliveries"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # Shared by the deliveries of one published event.
    event_id: Mapped[str] = mapped_column(String(32))
    event_name: Mapped[str] = mapped_column(String(300))
    listener: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON())
    # The request that published the event, for the log lines of a later attempt.
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Attempts started so far, the one running included.
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # When the next attempt is due (while one runs: when another may take over); NULL once
    # delivered or dead-lettered, so the relay's index holds only what is pending.
    available_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime(), default=None, index=True
    )
    dead_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH), default=None)


# Runs the listener a row names on the row's event; raises what the listener raises.
Deliver = Callable[[EventDelivery], Awaitable[None]]


class NoListenerAttachedError(RuntimeError):
    """The relay ran before an event bus attached itself to the deliveries."""


class EventDeliveries:
    """Writes deliveries in a publisher's transaction, attempts them, retries, dead-letters."""

    def __init__(self, session_factory: Callable[[], AsyncSession], settings: Settings) -> None:
        self._session_factory = session_factory
        self._lease = dt.timedelta(seconds=settings.queue_unacknowledged_lock_timeout)
        self._max_attempts = settings.queue_task_retries + 1
        self._first_delay = settings.queue_retry_delay
        self._max_delay = settings.queue_retry_max_delay
        self._batch_size = settings.queue_relay_batch_size
        self._deliver: Deliver | None = None

    def attach(self, deliver: Deliver) -> None:
        """Make `deliver` (the process's event bus) run the deliveries the relay takes."""
        self._deliver = deliver

    def record(
        self,
        session: AsyncSession,
        event_name: str,
        payload: dict[str, Any],
        listeners: Sequence[str],
    ) -> list[EventDelivery]:
        """Add one delivery per listener to the session's transaction, each leased to this
        process (its first attempt), which attempts them once they committed (`deliver_now`)."""
        event_id = uuid.uuid4().hex
        leased_until = utc_now() + self._lease
        rows = [
            EventDelivery(
                event_id=event_id,
                event_name=event_name,
                listener=listener,
                payload=payload,
                request_id=current_request_id(),
                attempts=1,
                available_at=leased_until,
            )
            for listener in listeners
        ]
        session.add_all(rows)
        return rows

    async def deliver_now(self, attempts: Sequence[tuple[EventDelivery, Deliver]]) -> None:
        """The publisher's own attempts, right after its commit (the fast path)."""
        await self._attempt_all(attempts)

    async def relay(self) -> int:
        """Attempt the due deliveries (retries, and those a dead process left); how many."""
        deliver = self._deliver
        if deliver is None:
            raise NoListenerAttachedError("no event bus attached to the event deliveries")
        now = utc_now()
        due = (
            select(EventDelivery.id)
            .where(EventDelivery.available_at <= now)
            .order_by(EventDelivery.available_at, EventDelivery.id)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
        )
        async with self._session_factory() as session, session.begin():
            taken = (
                await session.scalars(
                    update(EventDelivery)
                    .where(EventDelivery.id.in_(due.scalar_subquery()))
                    .values(available_at=now + self._lease, attempts=EventDelivery.attempts + 1)
                    .returning(EventDelivery)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        await self._attempt_all([(row, deliver) for row in sorted(taken, key=lambda row: row.id)])
        return len(taken)

    async def _attempt_all(self, attempts: Sequence[tuple[EventDelivery, Deliver]]) -> None:
        """Attempt each delivery in turn; record the failures one by one (with their retry
        or dead letter), and the successes all at once."""
        delivered: list[int] = []
        for row, deliver in attempts:
            try:
                with structlog.contextvars.bound_contextvars(request_id=row.request_id):
                    await deliver(row)
            except Exception as error:
                await self._failed(row, error)
            else:
                delivered.append(row.id)
        if delivered:
            await self._settle(delivered, delivered_at=utc_now(), available_at=None)

    async def _failed(self, row: EventDelivery, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"[:ERROR_LENGTH]
        log = logger.bind(
            event_name=row.event_name,
            listener=row.listener,
            attempt=row.attempts,
            error=reason,
            exc_info=error,
        )
        if row.attempts >= self._max_attempts:
            log.error("event listener failed for the last time; delivery dead-lettered")
            await self._settle([row.id], dead_at=utc_now(), available_at=None, last_error=reason)
            return
        delay = retry_delay(self._first_delay, self._max_delay, row.attempts)
        log.warning("event listener failed; retry scheduled", retry_in_s=round(delay, 3))
        retry_at = utc_now() + dt.timedelta(seconds=delay)
        await self._settle([row.id], available_at=retry_at, last_error=reason)

    async def _settle(self, ids: Collection[int], **values: Any) -> None:
        """Record how attempts ended, unless another attempt already did."""
        async with self._session_factory() as session, session.begin():
            await session.execute(
                update(EventDelivery)
                .where(
                    EventDelivery.id.in_(ids),
                    EventDelivery.delivered_at.is_(None),
                    EventDelivery.dead_at.is_(None),
                )
                .values(**values)
            )

    async def backlog_metrics(self) -> list[Metric]:
        """Pending and dead-lettered deliveries (one query, at scrape time)."""
        async with self._session_factory() as session:
            pending, dead = (
                await session.execute(
                    select(
                        func.count(EventDelivery.available_at), func.count(EventDelivery.dead_at)
                    )
                )
            ).one()
        return [
            GaugeMetricFamily(
                "events_deliveries_pending",
                "Event deliveries to listeners of other modules not done yet",
                pending,
            ),
            GaugeMetricFamily(
                "events_deliveries_dead_lettered",
                "Event deliveries whose last attempt failed (kept for an operator)",
                dead,
            ),
        ]

    async def purge_delivered(self, older_than: dt.timedelta) -> int:
        """Delete deliveries done more than `older_than` ago (dead letters stay); how many."""
        return await delete_older_than(
            self._session_factory, EventDelivery.delivered_at, older_than
        )
