"""Sending tasks: `Queue` writes them in a transaction, `TaskOutbox` sends them.

Every process has a `TaskOutbox`; none of this imports taskiq. With Redis an outbox row
goes to the task stream through `StreamSender`, so the API process, which only enqueues,
never loads the task runner; in embedded mode it goes to the in-process broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic_core import to_jsonable_python

from app.core.config import Settings
from app.core.db import Database, UnitOfWork
from app.core.logging import current_request_id
from app.core.metrics import Metrics
from app.core.queue.backoff import Backoff
from app.core.queue.outbox import OutboxMessage, OutboxRelay, SendMessage
from app.core.queue.registry import REQUEST_ID_LABEL, task_labels, task_options

logger = structlog.get_logger("app.queue")

# One pass of a relay: how many rows it handled (a full batch: more may be due at once).
RelayPass = Callable[[], Awaitable[int]]


class TaskOutbox:
    """The outbox of one process: rows sent right after their commit, and the relay loop
    that sends whatever that could not (run by the workers, or in the app when embedded).

    Built without connecting anywhere.
    """

    def __init__(
        self,
        settings: Settings,
        database: Database,
        send: SendMessage,
        metrics: Metrics | None = None,
    ) -> None:
        """`send`: where a row goes (the task stream, or the in-process broker);
        `metrics`: where relay passes are counted."""
        self.settings = settings
        self._metrics = metrics or Metrics()
        self.relay = OutboxRelay(
            database.session_factory, send, batch_size=settings.queue_relay_batch_size
        )
        self._other_relays: list[RelayPass] = []
        # Tracing on: the labels that carry the current trace into the tasks enqueued in it.
        self.trace_context: Callable[[], dict[str, str]] | None = None

    def also_relay(self, relay_pass: RelayPass) -> None:
        """Run `relay_pass` too on every pass of the relay (the event deliveries' relay)."""
        self._other_relays.append(relay_pass)

    async def run_relay(self, stop: asyncio.Event) -> None:
        """Send pending outbox rows (and run the other relays) until `stop` is set, full
        batches back to back; after a failed pass wait longer each time, up to
        `QUEUE_RECONNECT_MAX_DELAY`."""
        backoff = Backoff(
            self.settings.queue_poll_interval, self.settings.queue_reconnect_max_delay
        )
        batch_size = self.settings.queue_relay_batch_size
        while not stop.is_set():
            relay = self.relay
            try:
                sent = await relay.relay()
            except Exception:
                logger.exception("outbox relay pass failed")
                sent = -1
            others = await self._run_other_relays()
            failed = sent < 0 or relay.send_failed or others < 0
            self._metrics.relay_pass(failed=failed)
            if failed:
                await wait_for_event(stop, backoff.next_delay())
                continue
            backoff.reset()
            if max(sent, others) < batch_size:
                await wait_for_event(stop, self.settings.queue_poll_interval)

    async def _run_other_relays(self) -> int:
        """One pass of each other relay: the most any of them handled, or -1 if one failed."""
        most = 0
        for relay_pass in self._other_relays:
            try:
                most = max(most, await relay_pass())
            except Exception:
                logger.exception("relay pass failed", relay=getattr(relay_pass, "__qualname__", ""))
                return -1
        return most


async def wait_for_event(event: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `event` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


class Queue:
    """Enqueues tasks inside one unit of work's transaction (the transactional outbox).

    Rows are sent right after the commit; a rolled-back transaction sends
    nothing, and a relay sends whatever the after-commit send could not.
    """

    def __init__(self, uow: UnitOfWork, outbox: TaskOutbox) -> None:
        self._uow = uow
        self._outbox = outbox
        self._unsent: list[int] = []

    async def enqueue(self, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> None:
        """Write a call of the `@task` function `fn` with JSON-able `kwargs` to the outbox."""
        options = task_options(fn)
        labels = task_labels(options)
        request_id = current_request_id()
        if request_id is not None:
            labels[REQUEST_ID_LABEL] = request_id
        if self._outbox.trace_context is not None:
            labels |= self._outbox.trace_context()
        row = OutboxMessage(
            task_name=options.name, kwargs=to_jsonable_python(kwargs), labels=labels
        )
        self._uow.session.add(row)
        await self._uow.session.flush()
        if not self._unsent:
            self._uow.after_commit(self._send_committed)
        self._unsent.append(row.id)

    async def _send_committed(self) -> None:
        ids, self._unsent = self._unsent, []
        await self._outbox.relay.relay(ids)
