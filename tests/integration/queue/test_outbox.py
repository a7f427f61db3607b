"""Sent outbox rows are purged by the periodic task; pending ones are kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.queue import NotATaskError, Queue
from app.core.queue.outbox import OutboxMessage
from app.core.queue.tasks import heartbeat, purge_sent_outbox
from tests.integration.queue import tasks
from tests.integration.queue.conftest import outbox_counts, queue_test_settings, running_services


async def test_purge_removes_sent_rows_and_keeps_pending_ones(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    purging = queue_test_settings(settings, queue_outbox_retention_hours=0)
    async with running_services(purging) as services:
        async with services.database.unit_of_work() as uow:
            await Queue(uow, services.outbox).enqueue(tasks.record, path=str(tmp_path), value="a")
            # A row nobody sent yet (as if the send after the commit had failed).
            uow.session.add(OutboxMessage(task_name=f"{tasks.MODULE}:record", kwargs={}, labels={}))
        assert await outbox_counts(engine, tasks.MODULE) == (1, 1)

        await heartbeat()
        await purge_sent_outbox(services.settings, services.outbox)

        assert await outbox_counts(engine, tasks.MODULE) == (1, 0)


async def test_only_marked_functions_can_be_enqueued(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with running_services(queue_test_settings(settings)) as services:
        with pytest.raises(NotATaskError):
            async with services.database.unit_of_work() as uow:
                await Queue(uow, services.outbox).enqueue(tasks.not_a_task)
